from __future__ import annotations

from django.db import models


class Transport(models.TextChoices):
    STREAMABLE_HTTP = "streamable-http"
    SSE = "sse"
    STDIO = "stdio"


class McpSession(models.Model):
    """An agent's connection: a Streamable HTTP or SSE session, a stdio process, or for session-less
    (stateless) clients their run of requests. Open while `closed_at` is empty; an agent with an open
    session is connected."""

    id = models.CharField(primary_key=True, max_length=100)
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="mcp_sessions")
    transport = models.CharField(max_length=20, choices=Transport.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True, default="")
    process = models.CharField(
        max_length=100, blank=True, default="", help_text="host:pid holding the session's state, if any"
    )
    opened_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["-opened_at"]
        indexes = [
            models.Index(fields=["closed_at", "agent"], name="mcp_session_open"),
            models.Index(fields=["closed_at", "last_activity_at"], name="mcp_session_idle"),
        ]

    def __str__(self) -> str:
        return f"{self.transport} session of {self.agent_id}"
