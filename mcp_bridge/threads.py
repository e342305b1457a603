"""The threads on which MCP requests run Django code (the ORM is synchronous).

One pool for the life of the process, so that each thread keeps its database connection between calls.
The SDK would run sync tools on anyio worker threads, which end with the task that started them; under
daphne that is the request, so every call paid for a new thread and a new database connection. A call
runs in a copy of the caller's context (the SDK's access token, the current agent). Code on these threads
does not call `async_to_sync` (console events go to the server's loop without waiting; core.events),
so asgiref's `sync_to_async`, which costs more per call, is not needed.

The tools that render Markdown (submit_article, revise_article) take a place in a smaller lane before they
take a thread (`run_sync_content`): a flood of submissions, however heavy, then holds at most
`MCP_CONTENT_WRITE_THREADS` threads, and every other tool (get_article_status...) still finds one. Calls
waiting for a place hold no thread."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import queue
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections

_T = TypeVar("_T")


class DaemonThreadPool(Executor):
    """Up to `max_workers` daemon threads taking calls from one queue, started as calls need them and kept
    for the process's life. Unlike ThreadPoolExecutor's threads they are not joined when the interpreter
    exits: a tool call still running after the shutdown's drain deadline (its caller gone by then) cannot
    hold the process past `manage.py serve`'s stop timeout."""

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        self._max_workers = max_workers
        self._prefix = thread_name_prefix
        self._calls: queue.SimpleQueue[tuple[Future, Callable[[], Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        future: Future[_T] = Future()
        with self._lock:
            if self._idle:
                self._idle -= 1
            elif self._threads < self._max_workers:
                self._threads += 1
                name = f"{self._prefix}_{self._threads}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
        self._calls.put((future, functools.partial(fn, *args, **kwargs)))
        return future

    def _work(self) -> None:
        while True:
            future, call = self._calls.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as error:  # handed to the caller, as ThreadPoolExecutor does
                    future.set_exception(error)
            del future, call
            with self._lock:
                self._idle += 1


_pool = DaemonThreadPool(max_workers=settings.MCP_WORKER_THREADS, thread_name_prefix="mcp-django")
# Always leaves one thread to the other tools, unless there is only one.
CONTENT_WRITE_THREADS = max(1, min(settings.MCP_CONTENT_WRITE_THREADS, settings.MCP_WORKER_THREADS - 1))
_content_lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


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


def _content_lane() -> asyncio.Semaphore:
    """The lane of the running event loop (one per loop: an asyncio semaphore belongs to one)."""
    loop = asyncio.get_running_loop()
    lane = _content_lanes.get(loop)
    if lane is None:
        lane = _content_lanes[loop] = asyncio.Semaphore(CONTENT_WRITE_THREADS)
    return lane


async def run_sync_content(fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """`run_sync` within the content lane: waits, without a thread, until fewer than CONTENT_WRITE_THREADS
    such calls run. The place is given back when the call ends on its thread, not when the caller stops
    waiting: a client that disconnects mid-call cannot free a place while the thread still works."""
    loop = asyncio.get_running_loop()
    lane = _content_lane()
    await lane.acquire()

    def release(_: Future) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits for the place any more
            loop.call_soon_threadsafe(lane.release)

    try:
        call = functools.partial(contextvars.copy_context().run, _with_connections, fn, args, kwargs)
        future = _pool.submit(call)
    except BaseException:
        lane.release()
        raise
    future.add_done_callback(release)
    return await asyncio.wrap_future(future)
