"""The console's websocket: logged-in reviewers receive every live event as htmx out-of-band swaps (a
toast, and a signal element that tells the page's regions to refresh themselves)."""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from wpublisher.events import CONSOLE_GROUP, console_event_relay

TOASTS = {
    "article_submitted": "Article {article_id} submitted by {agent_id}",
    "article_revised": "Article {article_id} revised",
    "article_approved": "Article {article_id} approved",
    "article_rejected": "Article {article_id} rejected",
    "publish_retry_requested": "Article {article_id} queued for publishing again",
    "publish_started": "Publishing article {article_id} to {site_id}",
    "publish_retry_scheduled": "Publishing article {article_id} will be retried",
    "publish_succeeded": "Article {article_id} published on {site_id}",
    "publish_failed": "Publishing article {article_id} failed",
    "site_health_changed": "Site {site_id} is {status}",
    "agent_connected": "Agent {agent_id} connected",
    "agent_disconnected": "Agent {agent_id} disconnected",
}
ALERTS = {"publish_failed", "publish_retry_scheduled"}


def toast_text(event: dict) -> str:
    template = TOASTS.get(event.get("event", ""), "{event}")
    return template.format_map({"article_id": "", "agent_id": "", "site_id": "", "status": "", **event})


class ConsoleConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_staff:
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(CONSOLE_GROUP, self.channel_name)
        await self.accept()
        console_event_relay()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(CONSOLE_GROUP, self.channel_name)

    async def console_event(self, event: dict) -> None:
        alert = event.get("event") in ALERTS or event.get("status") in {"error", "warning"}
        html = render_to_string(
            "console/partials/live_event.html", {"event": event, "toast": toast_text(event), "alert": alert}
        )
        await self.send(text_data=html)
