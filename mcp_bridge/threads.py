"""The threads on which MCP requests run Django code (the ORM is synchronous).

One pool for the life of the process, so that each thread keeps its database connection between calls.
The SDK would run sync tools on anyio worker threads, which end with the task that started them; under
daphne that is the request, so every call paid for a new thread and a new database connection. A call
runs in a copy of the caller's context (the SDK's access token, the current agent). Code on these threads
does not call `async_to_sync` (console events go to the server's loop without waiting; wpublisher.events),
so asgiref's `sync_to_async`, which costs more per call, is not needed."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections

_T = TypeVar("_T")
_pool = ThreadPoolExecutor(max_workers=settings.MCP_WORKER_THREADS, thread_name_prefix="mcp-django")


# How often a thread looks at its persistent connection when calls succeed. Each look makes the next query
# check the connection first (CONN_HEALTH_CHECKS: a round trip to PostgreSQL), which per call would cost as
# much as a status read. With psycopg's pool, every call hands its connection back to the pool instead.
CONNECTION_CHECK_INTERVAL = 0.0 if "pool" in settings.DATABASES["default"].get("OPTIONS", {}) else 1.0
_checked = threading.local()


def _with_connections(fn: Callable[..., _T], args: tuple, kwargs: dict) -> _T:
    failed = True
    try:
        result = fn(*args, **kwargs)
        failed = False
        return result
    finally:
        now = time.monotonic()
        if failed or now - getattr(_checked, "at", 0.0) >= CONNECTION_CHECK_INTERVAL:
            _checked.at = now
            close_old_connections()  # drops a connection that broke or outlived CONN_MAX_AGE


async def run_sync(fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """Run `fn` on the pool, in a copy of the caller's context."""
    call = functools.partial(contextvars.copy_context().run, _with_connections, fn, args, kwargs)
    return await asyncio.get_running_loop().run_in_executor(_pool, call)
