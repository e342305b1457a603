"""Brute-force blocking and max_concurrent_agents, which the HTTP gateway enforces, on live servers of their
own; the tool-call rate limit, which every call meets (mcp_bridge.calls), in process. (The AUTH_FAILED and
CONFIG_ERROR codes over stdio are in test_transports.)"""

from __future__ import annotations

import pytest

from tests.mcp_bridge.conftest import connect, connect_in_process, make_world
from tests.mcp_bridge.test_transports import INITIALIZE, raw

pytestmark = pytest.mark.anyio


@pytest.fixture
def limited_world(tmp_path):
    """A live server of its own: 2 agents at most, 5 requests a minute each, behind one trusted proxy."""
    world = make_world(
        tmp_path,
        {"a": {}, "b": {}, "c": {}},
        global_settings={"max_concurrent_agents": 2},
        system={"security": {"trusted_proxy_count": 1}, "rate_limits": {"tool_calls_per_minute": 5}},
    )
    yield world
    world.deployment.close()


@pytest.mark.slow
async def test_ten_failures_block_an_ip_for_an_hour_and_no_other(limited_world):
    world = limited_world
    attacker, bystander = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "203.0.113.8"}
    for n in range(10):  # ten different guesses (the same one again is one attempt)
        failed = await raw(
            world, "POST", "/mcp", key=f"wpk_aaaaaaaaaaaa_{n:02d}" + "B" * 41, headers=attacker, json=INITIALIZE
        )
        assert failed.status_code == 401
    blocked = await raw(world, "POST", "/mcp", key=world.keys["a"], headers=attacker, json=INITIALIZE)
    assert blocked.status_code == 429
    assert 3590 <= int(blocked.headers["retry-after"]) <= 3600
    assert "too many failed authentications from 203.0.113.7" in blocked.json()["error_description"]
    allowed = await raw(world, "POST", "/mcp", key=world.keys["a"], headers=bystander, json=INITIALIZE)
    assert allowed.status_code == 200
    audit = world.run(
        "from audit.models import AuditLog\n"
        "result = list(AuditLog.objects.filter(event_type='ip_blocked').values_list('ip_address', 'message'))"
    )
    assert [row[0] for row in audit] == ["203.0.113.7"]
    assert "blocked for 3600s after 10 failed authentications" in audit[0][1]


@pytest.mark.slow
async def test_the_agent_over_max_concurrent_agents_gets_a_clear_error(limited_world):
    world = limited_world
    async with connect(world, "a") as first, connect(world, "b") as second:
        assert not (await first.call_tool("list_sites", {})).is_error
        assert not (await second.call_tool("list_sites", {})).is_error
        refused = await raw(world, "POST", "/mcp", key=world.keys["c"], json=INITIALIZE)
        assert refused.status_code == 503
        assert refused.json()["error_description"] == (
            "2 agents are connected, the most this server allows (global_settings.max_concurrent_agents = 2); "
            "try again later"
        )
        # A connected agent may open another session.
        async with connect(world, "a") as again:
            assert not (await again.call_tool("list_sites", {})).is_error
    # Both left (their clients closed their sessions): the newcomer gets in.
    async with connect(world, "c") as third:
        assert not (await third.call_tool("list_sites", {})).is_error
    events = world.run(
        "from audit.models import AuditLog\n"
        "result = list(AuditLog.objects.filter(event_type__in=['agent_connected', 'agent_disconnected'])"
        ".order_by('id').values_list('event_type', 'agent_id'))"
    )
    assert ["agent_connected", "a"] in events and ["agent_disconnected", "a"] in events


@pytest.fixture
def limited_in_process(load_world):
    """The same agents and rate limit, in this process."""
    return load_world({"a": {}, "b": {}, "c": {}}, system={"rate_limits": {"tool_calls_per_minute": 5}})


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("limited_in_process")
async def test_tool_calls_over_the_rate_limit_get_a_clear_error():
    async with connect_in_process("b") as client:
        results = [await client.call_tool("list_sites", {}) for _ in range(11)]
    errors = [r for r in results if r.is_error]
    # 5 calls a minute: at most two windows fit in 11 calls, so an error must come.
    assert errors, "no call was rate limited"
    text = errors[0].content[0].text
    assert "RATE_LIMITED: agent b made more than 5 requests this minute" in text
    assert "rate_limits.tool_calls_per_minute = 5" in text
    assert not results[0].is_error
