"""Agent connection events for the live console."""

from __future__ import annotations

from core.events import console_event_send


def agent_connection_event_send(*, agent_id: str, connected: bool, transport: str) -> None:
    console_event_send(
        {
            "event": "agent_connected" if connected else "agent_disconnected",
            "agent_id": agent_id,
            "transport": transport,
        }
    )
