"""Writing the audit log. Every part of wpublisher records what happened through `audit_record`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import AuditLog, EventType, Severity, event_type_spec
from core.redaction import redact, redact_data

logger = logging.getLogger("wpublisher.audit")

_LOG_LEVELS = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING, Severity.ERROR: logging.ERROR}


def audit_record(
    *,
    event_type: EventType | str,
    message: str,
    severity: Severity | str = Severity.INFO,
    agent_id: str | None = None,
    article_id: int | None = None,
    site_id: str | None = None,
    username: str | None = None,
    metadata: dict[str, Any] | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> AuditLog:
    """Write one audit row (inside the caller's transaction, if any) and log it.

    Message and metadata pass through the secret redactor: a secret that slipped into them is masked.
    An event type that is not in the registry (EVENT_TYPES) is a programming error: ValueError, nothing written."""
    spec = event_type_spec(event_type)
    if spec is None:
        raise ValueError(f"unknown audit event type {event_type!r}: add it to EventType and EVENT_TYPES")
    entry = AuditLog.objects.create(
        event_type=str(event_type),
        category=str(spec.category),
        severity=str(severity),
        agent_id=agent_id or "",
        article_id=article_id,
        site_id=site_id or "",
        username=username or "",
        message=redact(message)[:1000],
        metadata=redact_data(metadata or {}),
        ip_address=ip_address or None,
        user_agent=redact(user_agent or "")[:500],
        timestamp=timezone.now(),
    )
    logger.log(
        _LOG_LEVELS.get(Severity(entry.severity), logging.INFO),
        "%s agent=%s article=%s site=%s %s",
        entry.event_type,
        entry.agent_id or "-",
        entry.article_id or "-",
        entry.site_id or "-",
        entry.message,
        extra={"event": entry.event_type, "agent": entry.agent_id, "article": entry.article_id, "site": entry.site_id},
    )
    return entry


def audit_retention_apply(*, days: int, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete audit rows older than `days`, in batches so no long lock is held. Returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(AuditLog.objects.filter(timestamp__lt=cutoff).values_list("id", flat=True)[:batch_size])
        if not ids:
            break
        with transaction.atomic():
            deleted += AuditLog.objects.filter(id__in=ids).delete()[0]
    if deleted:
        audit_record(
            event_type=EventType.AUDIT_RETENTION_APPLIED,
            message=f"deleted {deleted} audit rows older than {days} days",
            metadata={"deleted": deleted, "days": days, "cutoff": cutoff.isoformat()},
        )
    return deleted
