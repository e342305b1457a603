from __future__ import annotations

from django.db.models import QuerySet

from audit.models import AuditLog


def audit_log_list(
    *,
    event_type: str | None = None,
    agent_id: str | None = None,
    article_id: int | None = None,
    site_id: str | None = None,
    severity: str | None = None,
) -> QuerySet[AuditLog]:
    rows = AuditLog.objects.all()
    if event_type:
        rows = rows.filter(event_type=event_type)
    if agent_id:
        rows = rows.filter(agent_id=agent_id)
    if article_id:
        rows = rows.filter(article_id=article_id)
    if site_id:
        rows = rows.filter(site_id=site_id)
    if severity:
        rows = rows.filter(severity=severity)
    return rows.order_by("-timestamp", "-id")
