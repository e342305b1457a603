"""A live wpublisher (daphne, its own database) for MCP tests, and SDK clients connected to it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from core.keys import key_generate
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


def make_world(
    directory, agents: dict[str, dict], server: str = "daphne", web_env: dict | None = None, **config
) -> World:
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
