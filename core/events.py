"""Live console events: sent after the transaction that caused them commits (a rolled-back change is
never announced), to the channel-layer group that every open console listens to.

With Redis the channel layer reaches every process. The embedded in-memory layer reaches only the
process that owns it, so a process other than the web server (the Celery worker) writes its events to
an outbox table, and the web server relays them (`console_event_relay`).

Sending does not wait: the web server hands events to its own event loop, and other processes (the
worker, commands) to one background loop of theirs, which keeps the channel layer's Redis connections
open from one event to the next (a loop per event, as `async_to_sync` makes, opened new ones each time
and cost milliseconds per event, on the publishing path)."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import threading
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import close_old_connections, transaction
from django.db.models import Max
from django.utils import timezone

from core.models import ConsoleEvent

logger = logging.getLogger(__name__)

CONSOLE_GROUP = "console"
RELAY_INTERVAL = 0.5
OUTBOX_KEEP = timedelta(minutes=2)

_served_here = False
_server_loop: asyncio.AbstractEventLoop | None = None


def console_events_served_here() -> None:
    """Called by the web server: consoles connect to this process, its layer reaches them."""
    global _served_here
    _served_here = True


def console_events_loop_set(loop: asyncio.AbstractEventLoop) -> None:
    """The web server's event loop: threads outside Django's own hand their events to it without waiting."""
    global _server_loop
    _server_loop = loop


async def _group_send(layer, payload: dict[str, Any]) -> None:
    try:
        await layer.group_send(CONSOLE_GROUP, {"type": "console.event", **payload})
    except Exception:
        logger.warning("could not send console event %s", payload.get("event"), exc_info=True)


class _SenderLoop:
    """This process's background event loop for console events, started on first use (and again in a
    forked child, which does not inherit the thread). At exit, events still in flight get a moment."""

    EXIT_WAIT_SECONDS = 2.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._pending: set[concurrent.futures.Future] = set()
        atexit.register(self._drain)

    def submit(self, coroutine: Coroutine) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop, self._pid, self._pending = asyncio.new_event_loop(), os.getpid(), set()
                threading.Thread(target=self._loop.run_forever, name="console-events", daemon=True).start()
            return self._loop

    def _drain(self) -> None:
        concurrent.futures.wait(list(self._pending), timeout=self.EXIT_WAIT_SECONDS)


_sender = _SenderLoop()


def _deliver(payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if _server_loop is not None and _server_loop.is_running() and _served_here:
            asyncio.run_coroutine_threadsafe(_group_send(layer, payload), _server_loop)
        elif not isinstance(layer, InMemoryChannelLayer):
            _sender.submit(_group_send(layer, payload))
        elif _served_here:
            async_to_sync(_group_send)(layer, payload)
        else:
            ConsoleEvent.objects.create(payload=payload)
    except Exception:
        # The console is a view on the data; losing a live update must never fail the write it reports.
        logger.warning("could not send console event %s", payload.get("event"), exc_info=True)


def console_event_send(payload: dict[str, Any]) -> None:
    """Send `payload` (JSON-serializable, with an "event" name) to the consoles after commit."""
    transaction.on_commit(lambda: _deliver(payload))


def _outbox_take(after_id: int) -> tuple[int, list[dict]]:
    close_old_connections()
    try:
        rows = list(ConsoleEvent.objects.filter(id__gt=after_id).order_by("id").values_list("id", "payload")[:500])
        ConsoleEvent.objects.filter(created_at__lt=timezone.now() - OUTBOX_KEEP).delete()
        return (rows[-1][0] if rows else after_id), [payload for _, payload in rows]
    finally:
        close_old_connections()


def _outbox_last_id() -> int:
    close_old_connections()
    return ConsoleEvent.objects.aggregate(last=Max("id"))["last"] or 0


_relay_task: asyncio.Task | None = None


async def _relay() -> None:
    layer = get_channel_layer()
    last = await sync_to_async(_outbox_last_id, thread_sensitive=False)()
    while True:
        await asyncio.sleep(RELAY_INTERVAL)
        try:
            last, payloads = await sync_to_async(_outbox_take, thread_sensitive=False)(last)
            for payload in payloads:
                await layer.group_send(CONSOLE_GROUP, {"type": "console.event", **payload})
        except Exception:
            logger.warning("console event relay failed", exc_info=True)


def console_event_relay() -> None:
    """In the web server, with the in-memory layer: start relaying the outbox (once, lazily)."""
    global _relay_task
    if not isinstance(get_channel_layer(), InMemoryChannelLayer):
        return
    loop = asyncio.get_running_loop()
    if _relay_task is None or _relay_task.done() or _relay_task.get_loop() is not loop:
        _relay_task = loop.create_task(_relay())
