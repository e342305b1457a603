"""The channel that carries live events to the console (a Channels group), used by each app's events.py.

Events leave after the transaction that caused them commits: a rolled-back change is never announced."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

CONSOLE_GROUP = "console"


def _send(payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(CONSOLE_GROUP, {"type": "console.event", **payload})
    except Exception:
        # The console is a view on the data; losing a live update must never fail the write it reports.
        logger.warning("could not send console event %s", payload.get("event"), exc_info=True)


def console_event_send(payload: dict[str, Any]) -> None:
    """Send `payload` (JSON-serializable, with an "event" name) to the console after commit."""
    transaction.on_commit(lambda: _send(payload))
