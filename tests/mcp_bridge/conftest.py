"""MCP servers for tests, and SDK clients connected to them: in this process (`mcp_world` and
`connect_in_process`, for what the tools, resources and prompts do), or a live wpublisher (daphne, its own
database; `world` and `connect`) for what only a real transport shows (the HTTP gateway, sessions, SSE, stdio)."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from asgiref.sync import sync_to_async
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from agents.models import Transport
from agents.selectors import agent_get
from core.keys import key_generate
from mcp_bridge.identity import stdio_identity
from mcp_bridge.server import build_server
from mcp_bridge.services import mcp_session_close, mcp_session_open
from tests.support.deployment import ROOT, Deployment

SCOPES_ALL = ["article:submit", "article:read", "article:revise", "article:review"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class World:
    """A running server with its agents' keys."""

    deployment: Deployment
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.deployment.url

    def run(self, code: str):
        return self.deployment.run(code)


def fake_sites(*site_ids: str) -> list[dict]:
    return [
        {
            "id": site_id,
            "name": f"Site {site_id}",
            "api_url": f"http://127.0.0.1:9/{site_id}/wp-json/wp/v2",
            "username": "publisher",
            "app_password": f"pw-{site_id} abcd efgh ijkl mnop",
            "default_category": f"{site_id} news",
        }
        for site_id in site_ids
    ]


def agent_entries(agents: dict[str, dict]) -> tuple[dict[str, str], list[dict]]:
    """New keys for `agents` (id -> role and other fields of agents.yml), and their agents.yml entries."""
    keys = {agent_id: key_generate()[1] for agent_id in agents}
    entries = [
        {
            "id": agent_id,
            "name": f"Agent {agent_id}",
            "role": spec.get("role", "content-creator"),
            "api_key": keys[agent_id],
            **{k: v for k, v in spec.items() if k != "role"},
        }
        for agent_id, spec in agents.items()
    ]
    return keys, entries


def make_world(
    directory, agents: dict[str, dict], server: str = "daphne", web_env: dict | None = None, **config
) -> World:
    keys, entries = agent_entries(agents)
    deployment = Deployment(directory, agents=entries, sites=fake_sites("site-a", "site-b", "site-c"), **config)
    deployment.start_web(server=server, env=web_env)
    return World(deployment=deployment, keys=keys)


MAIN_AGENTS = {
    "writer": {"role": "content-creator"},
    "seo": {"role": "seo-optimizer", "scopes": ["article:submit", "article:read", "article:revise"]},
    "editor": {"role": "editor", "scopes": SCOPES_ALL},
    "blind": {"role": "content-creator", "scopes": ["article:submit"]},
    "narrow": {"role": "translator", "allowed_sites": ["site-b"]},
    "revokee": {"role": "content-creator"},
    "stdio-revokee": {"role": "content-creator"},
    **{f"load-{n:02d}": {"role": "content-creator"} for n in range(1, 11)},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    """The main server: 15 agents with different rights, three (unreachable) sites."""
    created = make_world(
        tmp_path_factory.mktemp("mcp"),
        MAIN_AGENTS,
        global_settings={"max_concurrent_agents": 50},
        system={"rate_limits": {"tool_calls_per_minute": 10000, "sessions_per_agent": 1000}},
    )
    yield created
    created.deployment.close()


@contextlib.asynccontextmanager
async def connect(
    world: World, agent_id: str, transport: str = "http", mode: str = "legacy", env: dict | None = None
) -> AsyncIterator[Client]:
    """An SDK client for `agent_id` over "http" (Streamable HTTP), "sse" or "stdio" (`env` overrides the
    stdio server's environment)."""
    key = world.keys[agent_id]
    if transport == "http":
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
            Client(streamable_http_client(f"{world.url}/mcp", http_client=http), mode=mode) as client,
        ):
            yield client
    elif transport == "sse":
        headers = {"Authorization": f"Bearer {key}"}
        async with Client(sse_client(f"{world.url}/sse", headers=headers), mode="legacy") as client:
            yield client
    elif transport == "stdio":
        params = StdioServerParameters(
            command=sys.executable,
            args=["manage.py", "mcp_stdio"],
            cwd=str(ROOT),
            env={**world.deployment.env, "WPUBLISHER_API_KEY": key, "PATH": os.environ.get("PATH", ""), **(env or {})},
        )
        async with Client(stdio_client(params), mode="legacy") as client:
            yield client
    else:
        raise ValueError(transport)


# --- In process: the same MCP server, no process, no transport ---------------------------------------------------


@dataclass
class InProcessWorld:
    """The configuration loaded in this process: its agents' keys (an in-process client needs none, but a
    test may look for them where they must not appear) and the publish tasks queued."""

    keys: dict[str, str]
    queued: list[int]


@pytest.fixture
def load_world(loaded_config, queued) -> Callable[..., InProcessWorld]:
    """Load agents (as for `make_world`) and the three unreachable sites into this process, as the web
    process loads them (validated, synced to the database); publish tasks are recorded, not sent. Tests using
    it are marked `django_db(transaction=True)`: the MCP tools run on other threads (mcp_bridge.threads)."""

    def load(agents: dict[str, dict], **config: Any) -> InProcessWorld:
        keys, entries = agent_entries(agents)
        loaded_config(agents=entries, sites=fake_sites("site-a", "site-b", "site-c"), **config)
        return InProcessWorld(keys=keys, queued=queued)

    return load


IN_PROCESS_AGENTS = {agent_id: MAIN_AGENTS[agent_id] for agent_id in ("writer", "seo", "editor", "blind", "narrow")}


@pytest.fixture
def mcp_world(load_world) -> InProcessWorld:
    """The main server's agents with different rights (writer, seo, editor, blind, narrow) and its three
    sites, in this process, for `connect_in_process`."""
    return load_world(IN_PROCESS_AGENTS, system={"rate_limits": {"tool_calls_per_minute": 10000}})


class AgentClient:
    """A connected in-process `Client` whose every request runs as `agent_id`. The server reads its caller
    from `mcp_bridge.identity.stdio_identity`, one for the process (as in `manage.py mcp_stdio --agent`): it is
    set for each request and emptied after, so clients of several agents take turns; two agents' requests
    at the same time are refused rather than run as the wrong agent."""

    _in_flight = 0

    def __init__(self, client: Client, agent_id: str):
        self.client = client
        self.agent_id = agent_id

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        @functools.wraps(attribute)
        async def as_agent(*args: Any, **kwargs: Any) -> Any:
            if AgentClient._in_flight and stdio_identity.agent_id != self.agent_id:
                raise AssertionError(
                    f"in process, a request of {self.agent_id} cannot run beside one of {stdio_identity.agent_id}"
                )
            stdio_identity.agent_id = self.agent_id
            AgentClient._in_flight += 1
            try:
                return await attribute(*args, **kwargs)
            finally:
                AgentClient._in_flight -= 1
                if not AgentClient._in_flight:
                    stdio_identity.agent_id = None

        return as_agent


@contextlib.asynccontextmanager
async def connect_in_process(agent_id: str, mode: str = "legacy") -> AsyncIterator[AgentClient]:
    """An SDK client connected in process to `build_server(with_auth=False)`, acting as `agent_id` as
    `manage.py mcp_stdio --agent` does: the agent is connected (a stdio session is recorded) until the client
    closes. `mode` as for `connect`."""
    session_id = f"stdio:in-process:{agent_id}:{uuid.uuid4().hex[:12]}"
    agent = await sync_to_async(agent_get)(agent_id=agent_id, include_inactive=False)
    await sync_to_async(mcp_session_open)(
        session_id=session_id, agent=agent, transport=Transport.STDIO, user_agent="in-process test client"
    )
    try:
        async with Client(build_server(with_auth=False), mode=mode) as client:
            yield AgentClient(client, agent_id)
    finally:
        await sync_to_async(mcp_session_close)(session_id=session_id, reason="stdio closed")
