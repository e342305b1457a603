"""Site events for the live console."""

from __future__ import annotations

from core.events import console_event_send
from sites.models import HEALTH_WORDS


def site_health_event_send(*, site_id: str, status: str, previous: str, message: str) -> None:
    console_event_send(
        {
            "event": "site_health_changed",
            "site_id": site_id,
            "status": status,
            "health": HEALTH_WORDS.get(status, status),
            "previous": previous,
            "message": message,
        }
    )
