"""Unit tests of the gateway's pieces: client IP, sessions, admission, throttling."""

from __future__ import annotations

import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.exceptions import RateLimited
from agents.models import McpSession
from agents.selectors import connected_agent_ids
from agents.throttling import agent_request_allow, client_ip_auth_failure_record, client_ip_check
from audit.models import AuditLog
from mcp_bridge.asgi import client_ip, is_mcp_path
from mcp_bridge.exceptions import TooManyAgents
from mcp_bridge.services import (
    mcp_session_admit,
    mcp_session_close,
    mcp_session_open,
    mcp_sessions_close_orphaned,
    mcp_sessions_expire,
)
from tests.conftest import agent_entry, site_entry
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    from django.core.cache import caches

    caches["counters"].clear()
    yield
    caches["counters"].clear()


def scope(peer: str, forwarded: str | None = None) -> dict:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"client": (peer, 5555), "headers": headers}


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        (0, None, "127.0.0.1"),
        (0, "203.0.113.9", "127.0.0.1"),  # forged: no proxy is trusted
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the client wrote the first part itself
        (2, "198.51.100.1, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "203.0.113.9"),
        (1, None, "127.0.0.1"),
    ],
)
def test_client_ip_trusts_x_forwarded_for_only_behind_configured_proxies(trusted, forwarded, expected):
    assert client_ip(scope("127.0.0.1", forwarded), trusted) == expected


@pytest.mark.parametrize(
    ("path", "mcp"),
    [
        ("/mcp", True),
        ("/mcp/", True),
        ("/sse", True),
        ("/messages/", True),
        ("/mcpx", False),
        ("/admin/", False),
        ("/health", False),
    ],
)
def test_mcp_paths(path, mcp):
    assert is_mcp_path(path) is mcp


def test_sessions_open_close_and_audit_connections():
    agent = AgentFactory(id="a")
    mcp_session_open(session_id="s1", agent=agent, transport="sse", ip_address="127.0.0.1")
    mcp_session_open(session_id="s2", agent=agent, transport="streamable-http")
    assert connected_agent_ids() == {"a"}
    assert mcp_session_close(session_id="s1", reason="disconnected")
    assert connected_agent_ids() == {"a"}  # still one session open
    assert mcp_session_close(session_id="s2", reason="closed by client")
    assert not mcp_session_close(session_id="s2", reason="again")
    assert connected_agent_ids() == set()
    events = list(AuditLog.objects.order_by("id").values_list("event_type", "message"))
    assert events == [
        ("agent_connected", "agent a connected over sse"),
        ("agent_disconnected", "agent a disconnected (closed by client)"),
    ]


def test_idle_sessions_expire():
    agent = AgentFactory(id="a")
    mcp_session_open(session_id="idle", agent=agent, transport="streamable-http")
    mcp_session_open(session_id="busy", agent=AgentFactory(id="b"), transport="streamable-http")
    McpSession.objects.filter(pk="idle").update(last_activity_at=timezone.now() - timedelta(seconds=1801))
    assert mcp_sessions_expire(idle_seconds=1800) == 1
    assert McpSession.objects.get(pk="idle").close_reason == "idle timeout"
    assert connected_agent_ids() == {"b"}


def test_sessions_of_a_dead_process_are_closed():
    import socket

    dead = subprocess.Popen(["true"])
    dead.wait()
    mcp_session_open(session_id="orphan", agent=AgentFactory(id="a"), transport="streamable-http")
    mcp_session_open(session_id="mine", agent=AgentFactory(id="b"), transport="streamable-http")
    mcp_session_open(
        session_id="stateless:c", agent=AgentFactory(id="c"), transport="streamable-http", in_process=False
    )
    McpSession.objects.filter(pk="orphan").update(process=f"{socket.gethostname()}:{dead.pid}")
    assert mcp_sessions_close_orphaned(reason="server restarted") == 1
    assert connected_agent_ids() == {"b", "c"}
    assert mcp_sessions_close_orphaned(reason="server stopped", current_process=True) == 1
    assert connected_agent_ids() == {"c"}


def test_admission_counts_agents_not_sessions():
    a, b, c = AgentFactory(id="a"), AgentFactory(id="b"), AgentFactory(id="c")
    mcp_session_open(session_id="1", agent=a, transport="sse")
    mcp_session_open(session_id="2", agent=b, transport="sse")
    mcp_session_admit(agent=a, max_concurrent_agents=2)
    with pytest.raises(TooManyAgents, match=r"2 agents are connected.*max_concurrent_agents = 2"):
        mcp_session_admit(agent=c, max_concurrent_agents=2)


def test_an_ip_is_blocked_at_the_failure_limit_and_audited_once(loaded_config):
    loaded_config(agents=[agent_entry("a")], sites=[site_entry("s")], system={"security": {"auth_failure_limit": 3}})
    assert [client_ip_auth_failure_record(ip_address="198.51.100.4") for _ in range(3)] == [False, False, True]
    assert 3590 <= client_ip_check(ip_address="198.51.100.4")[0] <= 3600
    assert client_ip_check(ip_address="198.51.100.5")[0] == 0
    assert AuditLog.objects.filter(event_type="ip_blocked").count() == 1


def test_failures_counted_in_a_window_are_forgotten_when_it_ends(loaded_config):
    loaded_config(
        agents=[agent_entry("a")],
        sites=[site_entry("s")],
        system={"security": {"auth_failure_limit": 3, "auth_failure_window": 1}},
    )
    assert [client_ip_auth_failure_record(ip_address="198.51.100.6") for _ in range(2)] == [False, False]
    time.sleep(1.2)
    assert [client_ip_auth_failure_record(ip_address="198.51.100.6") for _ in range(2)] == [False, False]
    assert client_ip_check(ip_address="198.51.100.6")[0] == 0
    assert client_ip_auth_failure_record(ip_address="198.51.100.6") is True


def test_tool_calls_are_limited_per_agent_and_audited_once(loaded_config):
    loaded_config(
        agents=[agent_entry("a")], sites=[site_entry("s")], system={"rate_limits": {"tool_calls_per_minute": 2}}
    )
    errors = 0
    for _ in range(7):
        try:
            agent_request_allow(agent_id="a")
        except RateLimited as error:
            errors += 1
            assert error.code == "RATE_LIMITED" and 1 <= error.retry_after <= 60
    assert errors >= 3  # 2 a minute: at most 4 of 7 pass even across a minute boundary
    agent_request_allow(agent_id="other")  # another agent has its own budget
    assert 1 <= AuditLog.objects.filter(event_type="rate_limited").count() <= 2


def test_the_hourly_task_expires_idle_sessions_with_the_configured_timeout(loaded_config):
    from mcp_bridge.tasks import expire_sessions

    loaded_config(agents=[agent_entry("a")], sites=[site_entry("s")], global_settings={"session_timeout": 600})
    from agents.models import Agent

    mcp_session_open(session_id="old", agent=Agent.objects.get(pk="a"), transport="sse")
    McpSession.objects.filter(pk="old").update(last_activity_at=timezone.now() - timedelta(seconds=601))
    assert expire_sessions() == 1
