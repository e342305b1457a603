"""The threads on which MCP requests run Django code (the ORM is synchronous).

One pool for the life of the process, so that each thread keeps its database connection between calls.
The SDK would run sync tools on anyio worker threads, which end with the task that started them; under
daphne that is the request, so every call paid for a new thread and a new database connection. Calls go
through asgiref's `sync_to_async`, which carries the caller's context (the SDK's access token, the current
agent) and lets `async_to_sync` inside them (console events) use the server's event loop."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

_T = TypeVar("_T")
_pool = ThreadPoolExecutor(max_workers=settings.MCP_WORKER_THREADS, thread_name_prefix="mcp-django")


def _with_connections(fn: Callable[..., _T], args: tuple, kwargs: dict) -> _T:
    close_old_connections()  # drops a connection that broke or outlived CONN_MAX_AGE
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


async def run_sync(fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """Run `fn` on the pool, in the caller's context."""
    return await sync_to_async(_with_connections, thread_sensitive=False, executor=_pool)(fn, args, kwargs)
