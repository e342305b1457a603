"""Brute-force blocking per client IP and request rate limits per agent.

Counters live in Django's "counters" cache: Redis when configured (shared by every web process), else the
process's local memory (the embedded default runs one web process). Windows are fixed, starting at the first event.
A block, once set, lives in the shared cache beside the auth generation, so that every MCP request reads both
in one round trip. An authentication attempt is counted before its key is verified (one atomic increment that
a good key gives back), so that concurrent guesses cannot all be verified before the block applies.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache.backends.redis import RedisCache

from agents.exceptions import RateLimited
from audit.models import EventType, Severity
from audit.services import audit_record
from core.cache import cached_with_auth_generation, process_cache
from core.config.state import system_limits


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


# A place given back (a good key, or a refused attempt) when its window has already ended must not leave a
# negative count behind, nor a counter without expiry.
_UNCOUNT_LUA = "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return 0"


@functools.cache
def _uncount_script(client: Any) -> Any:
    return client.register_script(_UNCOUNT_LUA)


def _uncount(key: str) -> None:
    """Take back one event counted under `key` (nothing when its window has ended)."""
    counters = _counters()
    if isinstance(counters, RedisCache):
        name = counters.make_and_validate_key(key)
        _uncount_script(counters._cache.get_client(name, write=True))(keys=[name], args=[])
        return
    with contextlib.suppress(ValueError):  # the window ended meanwhile
        counters.decr(key)


def _block_key(ip_address: str) -> str:
    return f"wpub:ipblock:{ip_address}"


def _attempts_key(ip_address: str) -> str:
    return f"wpub:authtry:{ip_address}"


def _token_key(ip_address: str, token: str) -> str:
    """Where the outcome of a token presented from an address is remembered: under a keyed hash, so that the
    cache holds nothing a key could be guessed from offline."""
    mac = hmac.new(settings.SECRET_KEY.encode(), token.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return f"wpub:authtoken:{ip_address}:{mac.hexdigest()[:32]}"


def client_ip_check(*, ip_address: str) -> tuple[int, str]:
    """Seconds this IP stays blocked (0 when it is not), and the auth generation for the authentication
    that follows (`agent_authenticate_cached`): both in one cache round trip, on every MCP request."""
    until, generation = cached_with_auth_generation(_block_key(ip_address))
    return (max(0, int(until - time.time())) if until else 0), generation


def client_ip_blocked_error(*, ip_address: str, blocked_for: int) -> RateLimited:
    """What a request from a blocked address is told: when the block ends, in UTC, and in seconds."""
    until = datetime.now(UTC) + timedelta(seconds=blocked_for)
    return RateLimited(
        f"too many failed authentications from {ip_address}; blocked until {until:%Y-%m-%d %H:%M:%S} UTC "
        f"(another {blocked_for}s)",
        retry_after=blocked_for,
    )


# Token states remembered per address (besides the auth generation under which it failed as a guess).
_PENDING = "pending"  # being verified
_MATCHED = "matched"  # a stored key that no longer works (revoked, expired, agent inactive): not a guess
# What a refused attempt is told to wait when the address is not blocked (yet): by then the attempts being
# verified have ended, and either blocked it or given their places back.
ATTEMPTS_BUSY_RETRY_SECONDS = 10


class AttemptOutcome(enum.Enum):
    VERIFY = "verify"  # verify the key
    FAILED = "failed"  # this token failed as a guess from this address under the same keys: it fails again
    REFUSED = "refused"  # too many attempts from this address: refused without verifying


class AttemptEnd(enum.Enum):
    AUTHENTICATED = "authenticated"
    KEY_FAILED = "key failed"  # a stored key that no longer works
    NOT_VERIFIED = "not verified"  # no place to verify it came free, or the client went away


@dataclass(frozen=True)
class AuthAttempt:
    """One attempt to authenticate from an address, counted before its key is verified."""

    ip_address: str
    outcome: AttemptOutcome
    generation: str
    token_key: str
    counted: bool = False  # holds a place among the address's attempts (given back unless it fails as a guess)
    first: bool = False  # the first of its token from this address within the window: audited if it fails
    refusal: RateLimited | None = None


def client_ip_auth_attempt_begin(*, ip_address: str, token: str, generation: str, known: bool = False) -> AuthAttempt:
    """Count an authentication attempt from `ip_address` before its key is verified, with one atomic
    increment: within `security.auth_failure_window`, attempts that failed as guesses plus those being
    verified never exceed `security.auth_failure_limit`, however many arrive at once; the others are REFUSED
    without verifying (`refusal` says until when). An attempt is a token, not a request: the same token again
    from the same address is not counted again once it failed, and one that failed as a guess under the
    same keys (`generation`, the auth generation) FAILED again without being verified. A `known` token (a key
    this process has verified: no guess) is never counted nor refused."""
    limits = system_limits()
    counters = _counters()
    token_key = _token_key(ip_address, token)
    seen = counters.get(token_key)
    if known or (seen is not None and seen not in (_PENDING, generation)):
        # A real key, or a token that failed before under other keys (or not as a guess): verified, not counted.
        first = seen is None and counters.add(token_key, _PENDING, timeout=limits.auth_failure_window)
        return AuthAttempt(ip_address, AttemptOutcome.VERIFY, generation, token_key, first=first)
    if seen == generation:
        return AuthAttempt(ip_address, AttemptOutcome.FAILED, generation, token_key)
    first = seen is None and counters.add(token_key, _PENDING, timeout=limits.auth_failure_window)
    within_limit = _count(_attempts_key(ip_address), limits.auth_failure_window) <= limits.auth_failure_limit
    # The failure that blocks the address clears its counters after setting the block: an attempt counted
    # after that clearing (its request checked the block just before it was set) finds the block here.
    blocked_for, _ = client_ip_check(ip_address=ip_address)
    if within_limit and not blocked_for:
        return AuthAttempt(ip_address, AttemptOutcome.VERIFY, generation, token_key, counted=True, first=first)
    _uncount(_attempts_key(ip_address))
    if first:
        counters.delete(token_key)
    refusal = (
        client_ip_blocked_error(ip_address=ip_address, blocked_for=blocked_for)
        if blocked_for
        else RateLimited(
            f"more than {limits.auth_failure_limit} authentication attempts from {ip_address} within "
            f"{limits.auth_failure_window}s (security.auth_failure_limit) failed or are being verified; "
            f"retry in {ATTEMPTS_BUSY_RETRY_SECONDS}s",
            retry_after=ATTEMPTS_BUSY_RETRY_SECONDS,
        )
    )
    return AuthAttempt(ip_address, AttemptOutcome.REFUSED, generation, token_key, refusal=refusal)


def client_ip_auth_attempt_release(*, attempt: AuthAttempt, end: AttemptEnd) -> None:
    """End an attempt that was no guess, giving its place back: the key was good (AUTHENTICATED); or it is a
    stored key that no longer works (KEY_FAILED), which does not count toward blocking the address either,
    and whose repeats are told again without being audited again; or it was NOT_VERIFIED after all."""
    if attempt.counted:
        _uncount(_attempts_key(attempt.ip_address))
    if end is AttemptEnd.KEY_FAILED:
        _counters().set(attempt.token_key, _MATCHED, timeout=system_limits().auth_failure_window)
    elif end is AttemptEnd.AUTHENTICATED or attempt.first:
        _counters().delete(attempt.token_key)


def client_ip_auth_failure_record(*, ip_address: str, user_agent: str = "", attempt: AuthAttempt | None = None) -> bool:
    """Count a failed authentication (a guess) from `ip_address`; block the IP when it reaches the limit within
    the window (audited). True when this failure blocked it. With the `attempt` that failed, the token is
    remembered as failing under its auth generation, and counted only if the attempt was."""
    limits = system_limits()
    if attempt is not None:
        _counters().set(attempt.token_key, attempt.generation, timeout=limits.auth_failure_window)
        if not attempt.counted:
            return False
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
        _counters().delete_many([f"wpub:authfail:{ip_address}", _attempts_key(ip_address)])
        return True
    return False


# What an agent's MCP requests are counted as: one budget, `rate_limits.tool_calls_per_minute`, for them all.
REQUEST_KINDS = "tool calls, resource reads, prompts and new sessions"


def agent_request_allow(*, agent_id: str) -> None:
    """Count one MCP request of the agent (a tool call, a resource read, a prompt, a new session: one
    counter); RateLimited past `rate_limits.tool_calls_per_minute` within the minute."""
    limit = system_limits().tool_calls_per_minute
    window_start = int(time.time() // 60) * 60
    calls = _count(f"wpub:calls:{agent_id}:{window_start}", 61)
    if calls <= limit:
        return
    retry_after = max(1, window_start + 60 - int(time.time()))
    if calls == limit + 1:
        audit_record(
            event_type=EventType.RATE_LIMITED,
            severity=Severity.WARNING,
            message=f"agent {agent_id} exceeded {limit} requests per minute ({REQUEST_KINDS})",
            agent_id=agent_id,
            metadata={"limit": limit},
        )
    raise RateLimited(
        f"agent {agent_id} made more than {limit} requests this minute ({REQUEST_KINDS} count alike; "
        f"rate_limits.tool_calls_per_minute = {limit}); retry in {retry_after}s",
        retry_after=retry_after,
    )
