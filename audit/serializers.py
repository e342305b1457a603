"""Audit entries as plain JSON-ready dicts (MCP results and the JSON API)."""

from __future__ import annotations

from typing import Any

from audit.models import AuditLog
from core.serialization import time_iso


def audit_entry(entry: AuditLog) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "timestamp": time_iso(entry.timestamp),
        "event_type": entry.event_type,
        "category": entry.category,
        "severity": entry.severity,
        "agent_id": entry.agent_id or None,
        "article_id": entry.article_id,
        "site_id": entry.site_id or None,
        "username": entry.username or None,
        "message": entry.message,
        "metadata": entry.metadata,
    }
