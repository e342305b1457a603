"""Read-through caching of values many requests read and few writes change (seed section 9.2): agent
configuration and API keys, agent stats and site health. Django's cache is Redis when configured, else
files in DATA_DIR; either way every process (web, worker, commands) shares it, so a write anywhere
invalidates it everywhere.

Writers invalidate after their transaction commits. For API keys and agents, invalidation leaves a
short-lived tombstone rather than deleting the entry, and readers fill with `add`, which a tombstone blocks:
a reader that read the database before the write committed cannot put its stale value back (the race that
would let a revoked key keep working). Stats and health are simply deleted: in that rare race they stay
stale until TIMEOUT, which is not worth a file write on every submission."""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.cache.backends import redis as django_redis
from django.db import transaction


@functools.cache
def process_cache(alias: str = "default") -> BaseCache:
    """One cache backend object for the whole process. `django.core.cache.cache` makes one per thread and
    per async context, which under ASGI means per request: a Redis connection pool, or the file cache's
    set-up, every time. The Redis, file and local-memory backends are safe to share between threads."""
    return caches.create_connection(alias)


class _SharedClientRedisCacheClient(django_redis.RedisCacheClient):
    """Django's client builds a `redis.Redis` for every operation, which costs more Python than sending the
    command does. One per connection pool serves every thread (redis-py clients are thread-safe)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's RedisCacheClient has these private members; its stubs do not declare them.
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(django_redis.RedisCache):
    """Django's Redis cache backend with one client per connection pool."""

    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = _SharedClientRedisCacheClient


# Long enough to matter under load; short enough that a missed invalidation heals by itself.
TIMEOUT = 300
# Longer than any single read of the database takes, so no reader that started before a write fills after it.
TOMBSTONE_SECONDS = 10
_TOMBSTONE = "wpub:invalidated"
# Changes whenever an API key or an agent's configuration does (see `AuthMemo`).
AUTH_GENERATION_KEY = "wpub:auth-generation"
_AUTH_PREFIXES = ("wpub:api-key:", "wpub:agent:")


ACTIVE_SITES_KEY = "wpub:sites-active"


def agent_stats_key(agent_id: str) -> str:
    return f"wpub:agent-stats:{agent_id}"


def agent_config_key(agent_id: str) -> str:
    return f"wpub:agent:{agent_id}"


def api_key_key(key_id: str) -> str:
    return f"wpub:api-key:{key_id}"


def site_health_key(site_id: str) -> str:
    return f"wpub:site-health:{site_id}"


def cached(key: str, compute: Callable[[], Any]) -> Any:
    """The cached value of `key`, else `compute()` (cached unless None or the key was just invalidated)."""
    value = process_cache().get(key)
    if value is None or value == _TOMBSTONE:
        fresh = compute()
        if fresh is not None and value is None:
            fill(key, fresh)
        return fresh
    return value


def cached_many(keys: Iterable[str]) -> dict[str, Any]:
    """The cached values among `keys` (invalidated ones left out)."""
    return {k: v for k, v in process_cache().get_many(list(keys)).items() if v != _TOMBSTONE}


def fill(key: str, value: Any) -> None:
    """Cache a value read from the database, unless the key was invalidated meanwhile."""
    process_cache().add(key, value, TIMEOUT)


def invalidate(*keys: str) -> None:
    """Forget `keys` once the current transaction commits (at once outside one). Until then readers see
    the data from before the write, which the database also still shows them."""
    auth = {k: _TOMBSTONE for k in keys if k.startswith(_AUTH_PREFIXES)}
    others = [k for k in keys if k and k not in auth]

    def forget() -> None:
        if auth:
            process_cache().set_many(auth, TOMBSTONE_SECONDS)
            process_cache().set(AUTH_GENERATION_KEY, uuid.uuid4().hex, None)
        if others:
            process_cache().delete_many(others)

    if auth or others:
        transaction.on_commit(forget)


def cached_with_auth_generation(key: str) -> tuple[Any, str]:
    """The cached value of `key` (None when absent) and the current auth generation, in one round trip."""
    found = process_cache().get_many([key, AUTH_GENERATION_KEY])
    return found.get(key), found.get(AUTH_GENERATION_KEY) or auth_generation()


def auth_generation() -> str:
    """The current auth generation, started afresh if the cache lost it."""
    generation = process_cache().get(AUTH_GENERATION_KEY)
    if generation is None:
        process_cache().add(AUTH_GENERATION_KEY, uuid.uuid4().hex, None)
        generation = process_cache().get(AUTH_GENERATION_KEY)
    return generation


class AuthMemo:
    """Values derived from API keys and agents, kept in this process for as long as the shared auth
    generation stays the same: one small cache read then answers for them all. A value computed while a
    change was being made is stored under the generation read before computing, which the change has
    already replaced or will replace at commit, so it is never served after the change."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, generation: str) -> Any:
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] == generation else None

    def put(self, key: Hashable, generation: str, value: Any) -> None:
        with self._lock:
            self._entries[key] = (generation, value)
