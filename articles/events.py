"""Article events for the live console."""

from __future__ import annotations

from core.events import console_event_send


def article_event_send(
    *, article_id: int, event: str, status: str, agent_id: str = "", site_id: str = "", username: str = ""
) -> None:
    """Tell the console an article changed, once the current transaction commits. `username` is the reviewer
    who changed it, when a person did: their own consoles refresh without a toast (they were told already)."""
    console_event_send(
        {
            "event": event,
            "article_id": article_id,
            "status": status,
            "agent_id": agent_id,
            "site_id": site_id,
            "username": username,
        }
    )
