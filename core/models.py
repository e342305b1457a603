"""The one table the bottom layer owns: the outbox of live console events (see core.events)."""

from __future__ import annotations

from django.db import models


class ConsoleEvent(models.Model):
    """Outbox of live console events for processes that cannot reach the web server's channel layer
    (the embedded in-memory layer): the web server relays them to the open consoles and deletes them."""

    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.payload.get('event', 'event')} #{self.pk}"
