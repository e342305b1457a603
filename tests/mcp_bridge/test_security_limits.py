"""Per-agent limits and scopes (issue 13): open sessions per agent, one rate limit for tool calls, resource
reads, prompts and new sessions, the scopes of system://events and audit://logs, and a session_timeout
lowered at runtime ending the sessions already idle longer."""

from __future__ import annotations

import asyncio
import json
import time

import anyio
import pytest
import yaml
from mcp.shared.exceptions import MCPError

from agents.exceptions import RateLimited
from mcp_bridge.services import mcp_session_admission_end, mcp_session_admit, mcp_session_open
from tests.factories import AgentFactory
from tests.mcp_bridge.conftest import connect, make_world
from tests.mcp_bridge.test_transports import INITIALIZE, raw

ALL = ["article:submit", "article:read", "article:revise", "article:review"]
RATE_LIMIT = 10
SESSIONS = 3
PROTOCOL = {"MCP-Protocol-Version": INITIALIZE["params"]["protocolVersion"]}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
PING = {"jsonrpc": "2.0", "id": 2, "method": "ping"}


# --- admission (the service) -------------------------------------------------------------------------


@pytest.fixture
def _empty_counters():
    from django.core.cache import caches

    caches["counters"].clear()
    yield
    caches["counters"].clear()


@pytest.mark.django_db
def test_an_agent_at_sessions_per_agent_is_refused_one_more(_empty_counters):
    agent = AgentFactory(id="a")
    for n in range(2):
        mcp_session_open(session_id=f"s{n}", agent=agent, transport="streamable-http")
    with pytest.raises(RateLimited) as refused:
        mcp_session_admit(agent=agent, max_concurrent_agents=10, sessions_per_agent=2)
    assert refused.value.message.startswith(
        "agent a has 2 MCP sessions open, the most rate_limits.sessions_per_agent allows (2)"
    )
    assert refused.value.retry_after > 0
    mcp_session_admit(agent=AgentFactory(id="b"), max_concurrent_agents=10, sessions_per_agent=2)  # its own count


@pytest.mark.django_db
def test_an_admission_under_way_holds_its_place_until_its_session_is_recorded(_empty_counters):
    agent = AgentFactory(id="a")
    mcp_session_open(session_id="s0", agent=agent, transport="streamable-http")
    mcp_session_admit(agent=agent, max_concurrent_agents=10, sessions_per_agent=2)  # its session not recorded yet
    with pytest.raises(RateLimited):
        mcp_session_admit(agent=agent, max_concurrent_agents=10, sessions_per_agent=2)
    mcp_session_admission_end(agent_id="a")  # the first one's initialize failed: no session
    mcp_session_admit(agent=agent, max_concurrent_agents=10, sessions_per_agent=2)


# --- a live server --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limits_world(tmp_path_factory):
    agents = {
        "cap": {"scopes": ALL},
        "crowd": {"scopes": ALL},
        "reader": {"scopes": ALL},
        "prompter": {"scopes": ALL},
        "opener": {"scopes": ALL},
        "writer": {"scopes": ["article:submit"]},
        "blind": {"scopes": ["article:submit"]},
        "reviewer-noread": {"role": "editor", "scopes": ["article:submit", "article:review"]},
        "editor": {"role": "editor", "scopes": ALL},
    }
    world = make_world(
        tmp_path_factory.mktemp("limits"),
        agents,
        global_settings={"max_concurrent_agents": 50},
        system={"rate_limits": {"tool_calls_per_minute": RATE_LIMIT, "sessions_per_agent": SESSIONS}},
    )
    yield world
    world.deployment.close()


async def initialize(world, agent_id: str):
    return await raw(world, "POST", "/mcp", key=world.keys[agent_id], json=INITIALIZE)


@pytest.mark.anyio
@pytest.mark.slow
async def test_sessions_past_sessions_per_agent_get_429_until_one_ends(limits_world):
    world = limits_world
    opened = [await initialize(world, "cap") for _ in range(SESSIONS)]
    assert [r.status_code for r in opened] == [200] * SESSIONS
    refused = await initialize(world, "cap")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["error_description"].startswith(
        f"RATE_LIMITED: agent cap has {SESSIONS} MCP sessions open, the most rate_limits.sessions_per_agent "
        f"allows ({SESSIONS})"
    )
    # Closing one makes room again.
    session_id = opened[0].headers["mcp-session-id"]
    closed = await raw(
        world, "DELETE", "/mcp", key=world.keys["cap"], headers={"Mcp-Session-Id": session_id, **PROTOCOL}
    )
    assert closed.status_code < 400
    assert (await initialize(world, "cap")).status_code == 200


@pytest.mark.anyio
@pytest.mark.slow
async def test_concurrent_initializes_cannot_overshoot_sessions_per_agent(limits_world):
    world = limits_world
    responses = await asyncio.gather(*(initialize(world, "crowd") for _ in range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * SESSIONS + [429] * (8 - SESSIONS)
    open_sessions = world.run(
        "from agents.models import McpSession\n"
        "result = McpSession.objects.filter(agent_id='crowd', closed_at__isnull=True).count()"
    )
    assert open_sessions == SESSIONS


# More than two windows' worth of requests: whichever minute boundary falls among them, one window overflows.
MANY = 2 * RATE_LIMIT + 5


@pytest.mark.anyio
@pytest.mark.slow
async def test_resource_reads_count_against_the_rate_limit(limits_world):
    errors = []
    async with connect(limits_world, "reader") as client:
        for _ in range(MANY):
            try:
                await client.read_resource("site://list")
            except MCPError as error:
                errors.append(str(error))
    assert errors, "no resource read was rate limited"
    assert f"RATE_LIMITED: agent reader made more than {RATE_LIMIT} requests this minute" in errors[0]
    assert f"rate_limits.tool_calls_per_minute = {RATE_LIMIT}" in errors[0]


@pytest.mark.anyio
@pytest.mark.slow
async def test_prompts_count_against_the_rate_limit(limits_world):
    errors = []
    async with connect(limits_world, "prompter") as client:
        for _ in range(MANY):
            try:
                await client.get_prompt("agent_specialization_guide", {"agent_role": "editor"})
            except MCPError as error:
                errors.append(str(error))
    assert errors, "no prompt was rate limited"
    assert f"RATE_LIMITED: agent prompter made more than {RATE_LIMIT} requests this minute" in errors[0]


@pytest.mark.anyio
@pytest.mark.slow
async def test_initialize_counts_against_the_rate_limit(limits_world):
    world = limits_world
    responses = [await initialize(world, "opener") for _ in range(MANY)]
    limited = [
        r.json()["error_description"]
        for r in responses
        if r.status_code == 429 and "requests this minute" in r.json()["error_description"]
    ]
    assert limited, "no initialize was rate limited"
    assert limited[0].startswith(f"RATE_LIMITED: agent opener made more than {RATE_LIMIT} requests this minute")


async def read(client, uri: str):
    return json.loads((await client.read_resource(uri)).contents[0].text)


@pytest.mark.anyio
@pytest.mark.slow
async def test_system_events_show_an_agent_only_what_it_may_read(limits_world):
    world = limits_world
    async with connect(world, "writer") as writer, connect(world, "blind") as blind:
        others = (
            await writer.call_tool("submit_article", {"title": "Theirs", "content_markdown": "x"})
        ).structured_content
        own = (await blind.call_tool("submit_article", {"title": "Mine", "content_markdown": "x"})).structured_content
        world.run(
            "from audit.services import audit_record\n"
            f"audit_record(event_type='publish_failed', message='publishing article {others['id']} failed: "
            f"http://wp.example/theirs-permalink', agent_id='writer', article_id={others['id']}, site_id='site-a')\n"
            f"audit_record(event_type='publish_failed', message='publishing article {own['id']} failed', "
            f"agent_id='blind', article_id={own['id']}, site_id='site-a')\n"
        )
        seen = await read(blind, "system://events")
    assert own["id"] in {e["article_id"] for e in seen}
    assert others["id"] not in {e["article_id"] for e in seen}
    assert "theirs-permalink" not in json.dumps(seen)
    assert {e["agent_id"] for e in seen} <= {None, "blind"}
    async with connect(world, "editor") as editor:  # article:read: every event
        assert {own["id"], others["id"]} <= {e["article_id"] for e in await read(editor, "system://events")}


@pytest.mark.anyio
@pytest.mark.slow
async def test_the_audit_log_needs_article_read_as_well_as_article_review(limits_world):
    async with connect(limits_world, "reviewer-noread") as reviewer:
        with pytest.raises(MCPError, match="FORBIDDEN: agent reviewer-noread lacks the scope article:read"):
            await reviewer.read_resource("audit://logs")
    async with connect(limits_world, "editor") as editor:
        assert (await read(editor, "audit://logs"))["page"] == 1


# --- session_timeout changed at runtime ----------------------------------------------------------------


@pytest.fixture
def timeout_world(tmp_path):
    world = make_world(tmp_path, {"idler": {}, "busy": {}}, global_settings={"session_timeout": 3600})
    yield world
    world.deployment.close()


def set_session_timeout(world, seconds: int) -> None:
    path = world.deployment.config_dir / "agents.yml"
    document = yaml.safe_load(path.read_text())
    document["global_settings"]["session_timeout"] = seconds
    path.write_text(yaml.safe_dump(document))


async def open_session(world, agent_id: str) -> str:
    opened = await initialize(world, agent_id)
    assert opened.status_code == 200
    session_id = opened.headers["mcp-session-id"]
    headers = {"Mcp-Session-Id": session_id, **PROTOCOL}
    assert (
        await raw(world, "POST", "/mcp", key=world.keys[agent_id], headers=headers, json=INITIALIZED)
    ).status_code < 400
    return session_id


async def ping(world, agent_id: str, session_id: str):
    headers = {"Mcp-Session-Id": session_id, **PROTOCOL}
    return await raw(world, "POST", "/mcp", key=world.keys[agent_id], headers=headers, json=PING)


@pytest.mark.anyio
@pytest.mark.slow
async def test_a_session_timeout_lowered_at_runtime_ends_sessions_idle_longer(timeout_world):
    world = timeout_world
    idle = await open_session(world, "idler")
    assert (await ping(world, "idler", idle)).status_code == 200
    started = time.monotonic()
    await anyio.sleep(55)
    busy = await open_session(world, "busy")  # active a few seconds before the change
    await anyio.sleep(max(0.0, 62 - (time.monotonic() - started)))
    set_session_timeout(world, 60)  # the minimum; the config watcher reloads it
    await anyio.sleep(3)

    ended = await ping(world, "idler", idle)  # idle 62 s + 3 s, under a 60 s timeout now
    assert ended.status_code == 404
    assert "idle longer than 60s (global_settings.session_timeout)" in ended.json()["error_description"]
    again = await ping(world, "idler", idle)
    assert again.status_code == 404  # the SDK's session is gone too
    assert (await ping(world, "busy", busy)).status_code == 200
    closed = world.run(
        f"from agents.models import McpSession\nresult = McpSession.objects.get(pk='{idle}').close_reason"
    )
    assert closed == "idle timeout"
