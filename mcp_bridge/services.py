"""MCP sessions: who is connected, admission against max_concurrent_agents and sessions_per_agent, idle
expiry."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from agents.exceptions import RateLimited
from agents.models import Agent, McpSession
from agents.selectors import connected_agent_ids
from audit.models import EventType
from audit.services import audit_record
from core.cache import process_cache
from core.processes import process_is_dead, process_label
from mcp_bridge.events import agent_connection_event_send
from mcp_bridge.exceptions import TooManyAgents

# A session's last activity is written at most this often.
TOUCH_INTERVAL = timedelta(seconds=30)
# An admission holds a place among its agent's sessions until its session is recorded (or its request ends),
# at most this long (a process that died meanwhile gives nothing back).
ADMISSION_HOLD_SECONDS = 60
# What an agent refused one more session is told to wait: sessions end when closed or idle.
SESSIONS_FULL_RETRY_SECONDS = 60


def _admissions_key(agent_id: str) -> str:
    return f"wpub:admitting:{agent_id}"


def mcp_session_admit(*, agent: Agent, max_concurrent_agents: int, sessions_per_agent: int | None = None) -> None:
    """Admit a new session: refused (TooManyAgents) when `max_concurrent_agents` other agents are connected,
    an agent that is connected already may open more; and (RateLimited) when the agent holds
    `sessions_per_agent` open sessions, counted in the database, so across every web process, together with
    the admissions under way (in the shared "counters" cache): concurrent requests cannot overshoot. An
    admission with a limit holds its place until `mcp_session_admission_end`."""
    connected = connected_agent_ids()
    if agent.id not in connected and len(connected) >= max_concurrent_agents:
        raise TooManyAgents(
            f"{len(connected)} agents are connected, the most this server allows "
            f"(global_settings.max_concurrent_agents = {max_concurrent_agents}); try again later"
        )
    if sessions_per_agent is None:
        return
    counters, key = process_cache("counters"), _admissions_key(agent.id)
    counters.add(key, 0, timeout=ADMISSION_HOLD_SECONDS)
    try:
        admitting = counters.incr(key)
    except ValueError:  # the hold ended between add and incr
        counters.add(key, 1, timeout=ADMISSION_HOLD_SECONDS)
        admitting = 1
    open_sessions = McpSession.objects.filter(agent=agent, closed_at__isnull=True).count()
    if open_sessions + max(admitting, 1) <= sessions_per_agent:
        return
    mcp_session_admission_end(agent_id=agent.id)
    raise RateLimited(
        f"agent {agent.id} has {open_sessions} MCP sessions open, the most rate_limits.sessions_per_agent "
        f"allows ({sessions_per_agent}); reuse one, end one (DELETE /mcp with its Mcp-Session-Id) or retry in "
        f"{SESSIONS_FULL_RETRY_SECONDS}s (idle sessions end after global_settings.session_timeout)",
        retry_after=SESSIONS_FULL_RETRY_SECONDS,
    )


def mcp_session_admission_end(*, agent_id: str) -> None:
    """Give back the place an admission held (`mcp_session_admit` with a limit): its session is recorded
    now, or was never opened."""
    counters, key = process_cache("counters"), _admissions_key(agent_id)
    try:
        if counters.decr(key) < 0:  # the hold ended and another began meanwhile
            counters.incr(key)
    except ValueError:  # the hold ended meanwhile
        pass


def mcp_session_open(
    *,
    session_id: str,
    agent: Agent,
    transport: str,
    ip_address: str | None = None,
    user_agent: str = "",
    in_process: bool = True,
) -> McpSession:
    """Record a new session. `in_process`: its state lives in this process (it ends when the process
    does); False for session-less clients, whose "session" is only their run of requests."""
    now = timezone.now()
    with transaction.atomic():
        was_connected = agent.id in connected_agent_ids()
        session, _ = McpSession.objects.update_or_create(
            id=session_id,
            defaults={
                "agent": agent,
                "transport": transport,
                "ip_address": ip_address,
                "user_agent": user_agent[:500],
                "process": process_label() if in_process else "",
                "opened_at": now,
                "last_activity_at": now,
                "closed_at": None,
                "close_reason": "",
            },
        )
        if not was_connected:
            audit_record(
                event_type=EventType.AGENT_CONNECTED,
                message=f"agent {agent.id} connected over {transport}",
                agent_id=agent.id,
                ip_address=ip_address,
                user_agent=user_agent,
                metadata={"transport": transport},
            )
            agent_connection_event_send(agent_id=agent.id, connected=True, transport=transport)
    return session


def mcp_session_touch(*, session_id: str) -> None:
    """Record activity on an open session (at most every TOUCH_INTERVAL)."""
    now = timezone.now()
    McpSession.objects.filter(pk=session_id, closed_at__isnull=True, last_activity_at__lt=now - TOUCH_INTERVAL).update(
        last_activity_at=now
    )


def mcp_session_close(*, session_id: str, reason: str) -> bool:
    """Close a session; when it was the agent's last, the agent is disconnected (audited)."""
    now = timezone.now()
    with transaction.atomic():
        session = McpSession.objects.select_related("agent").filter(pk=session_id, closed_at__isnull=True).first()
        if session is None or not McpSession.objects.filter(pk=session_id, closed_at__isnull=True).update(
            closed_at=now, close_reason=reason[:100]
        ):
            return False
        if session.agent_id not in connected_agent_ids():
            audit_record(
                event_type=EventType.AGENT_DISCONNECTED,
                message=f"agent {session.agent_id} disconnected ({reason})",
                agent_id=session.agent_id,
                ip_address=session.ip_address,
                metadata={"transport": session.transport, "reason": reason},
            )
            agent_connection_event_send(agent_id=session.agent_id, connected=False, transport=session.transport)
    return True


def mcp_sessions_expire(*, idle_seconds: int) -> int:
    """Close the sessions idle longer than `idle_seconds`. Returns how many."""
    cutoff = timezone.now() - timedelta(seconds=idle_seconds)
    idle = McpSession.objects.filter(closed_at__isnull=True, last_activity_at__lt=cutoff).values_list("pk", flat=True)
    return sum(mcp_session_close(session_id=pk, reason="idle timeout") for pk in list(idle))


def mcp_sessions_close_orphaned(*, reason: str, current_process: bool = False) -> int:
    """Close the sessions whose process died (their state died with it), or with `current_process`
    those of this process (at its shutdown)."""
    this = process_label()
    open_sessions = McpSession.objects.filter(closed_at__isnull=True).exclude(process="")
    orphaned = [
        pk
        for pk, owner in open_sessions.values_list("pk", "process")
        if (current_process and owner == this) or process_is_dead(owner)
    ]
    return sum(mcp_session_close(session_id=pk, reason=reason) for pk in orphaned)
