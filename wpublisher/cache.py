"""Read-through caching of values many requests read and few writes change (seed section 9.2): agent
stats and site health. Django's cache is Redis when configured (shared by every process), else local
memory. Writers invalidate after their transaction commits, so a reader never re-caches data that a
rolled-back or not-yet-committed write would change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import transaction

# Long enough to matter under load; short enough that a missed invalidation heals by itself.
TIMEOUT = 300


def agent_stats_key(agent_id: str) -> str:
    return f"wpub:agent-stats:{agent_id}"


def site_health_key(site_id: str) -> str:
    return f"wpub:site-health:{site_id}"


def cached(key: str, compute: Callable[[], Any]) -> Any:
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, TIMEOUT)
    return value


def invalidate(*keys: str) -> None:
    """Forget `keys` once the current transaction commits (at once outside one)."""
    keys = tuple(k for k in keys if k)
    if keys:
        transaction.on_commit(lambda: cache.delete_many(keys))
