"""Brute-force blocking per client IP and tool-call rate limits per agent.

Counters live in Django's "counters" cache: Redis when configured (shared by every web process), else the
process's local memory (the embedded default runs one web process). Windows are fixed, starting at the first event.
A block, once set, lives in the shared cache beside the auth generation, so that every MCP request reads both
in one round trip.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from django.core.cache.backends.redis import RedisCache

from agents.exceptions import RateLimited
from audit.models import EventType, Severity
from audit.services import audit_record
from wpublisher.cache import cached_with_auth_generation, process_cache


def _limits():
    from wpublisher.config.schema import SystemSettings
    from wpublisher.config.services import config_current_or_none

    config = config_current_or_none()
    return config.system if config else SystemSettings()


def _counters():
    return process_cache("counters")


# The window starts at the first event: the increment that creates the counter sets its expiry, atomically.
_COUNT_LUA = "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return n"


@functools.cache
def _count_script(client: Any) -> Any:
    return client.register_script(_COUNT_LUA)


def _count(key: str, window: int) -> int:
    """Count one event under `key`, whose window starts at its first event; the count so far."""
    counters = _counters()
    if isinstance(counters, RedisCache):
        # One round trip, one command (Django's add then incr take three: SET NX, EXISTS, INCRBY). Django
        # stores integers in Redis as plain numbers, so INCR works on the value and `get` reads it back.
        name = counters.make_and_validate_key(key)
        return _count_script(counters._cache.get_client(name, write=True))(keys=[name], args=[window])
    counters.add(key, 0, timeout=window)
    try:
        return counters.incr(key)
    except ValueError:  # expired between add and incr
        counters.add(key, 1, timeout=window)
        return 1


def _block_key(ip_address: str) -> str:
    return f"wpub:ipblock:{ip_address}"


def client_ip_check(*, ip_address: str) -> tuple[int, str]:
    """Seconds this IP stays blocked (0 when it is not), and the auth generation for the authentication
    that follows (`agent_authenticate_cached`): both in one cache round trip, on every MCP request."""
    until, generation = cached_with_auth_generation(_block_key(ip_address))
    return (max(0, int(until - time.time())) if until else 0), generation


def client_ip_auth_failure_record(*, ip_address: str, user_agent: str = "") -> bool:
    """Count a failed authentication from `ip_address`; block the IP when it reaches the limit within the
    window (audited). True when this failure blocked it."""
    limits = _limits()
    failures = _count(f"wpub:authfail:{ip_address}", limits.auth_failure_window)
    if failures < limits.auth_failure_limit:
        return False
    if process_cache().add(
        _block_key(ip_address), time.time() + limits.auth_block_duration, timeout=limits.auth_block_duration
    ):
        audit_record(
            event_type=EventType.IP_BLOCKED,
            severity=Severity.WARNING,
            message=f"{ip_address} blocked for {limits.auth_block_duration}s after {failures} failed "
            f"authentications within {limits.auth_failure_window}s",
            ip_address=ip_address,
            user_agent=user_agent,
            metadata={"failures": failures, "block_seconds": limits.auth_block_duration},
        )
        _counters().delete(f"wpub:authfail:{ip_address}")
        return True
    return False


def agent_tool_call_allow(*, agent_id: str) -> None:
    """Count one tool call of the agent; RateLimited past `rate_limits.tool_calls_per_minute`."""
    limit = _limits().tool_calls_per_minute
    window_start = int(time.time() // 60) * 60
    calls = _count(f"wpub:calls:{agent_id}:{window_start}", 61)
    if calls <= limit:
        return
    retry_after = max(1, window_start + 60 - int(time.time()))
    if calls == limit + 1:
        audit_record(
            event_type=EventType.RATE_LIMITED,
            severity=Severity.WARNING,
            message=f"agent {agent_id} exceeded {limit} tool calls per minute",
            agent_id=agent_id,
            metadata={"limit": limit},
        )
    raise RateLimited(
        f"agent {agent_id} made more than {limit} tool calls this minute (rate_limits.tool_calls_per_minute); "
        f"retry in {retry_after}s",
        retry_after=retry_after,
    )
