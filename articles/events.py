"""Events for the live console, sent after the transaction that caused them commits."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

CONSOLE_GROUP = "console"


def _send(event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(CONSOLE_GROUP, {"type": "console.event", **event})
    except Exception:
        # The console is a view on the data; losing a live update must never fail the write it reports.
        logger.warning("could not send console event %s", event.get("event"), exc_info=True)


def article_event_send(
    *, article_id: int, event: str, status: str, agent_id: str = "", site_id: str = ""
) -> None:
    """Tell the console an article changed, once the current transaction commits."""
    payload = {
        "event": event,
        "article_id": article_id,
        "status": status,
        "agent_id": agent_id,
        "site_id": site_id,
    }
    transaction.on_commit(lambda: _send(payload))
