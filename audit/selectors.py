from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from django.db.models import QuerySet

from audit.models import AuditLog, event_type_list, event_type_spec


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


def audit_log_recent(*, limit: int) -> list[AuditLog]:
    """The newest `limit` entries, newest first: the dashboard's activity feed."""
    return list(AuditLog.objects.order_by("-id")[:limit])


def audit_log_for_article(*, article_id: int, limit: int) -> list[AuditLog]:
    """The newest `limit` entries about one article, newest first: the history on its console page."""
    return list(AuditLog.objects.filter(article_id=article_id).order_by("-id")[:limit])


def audit_log_page(
    *,
    event_type: str | None = None,
    agent_id: str | None = None,
    site_id: str | None = None,
    severity: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    page_size: int,
) -> tuple[list[AuditLog], int | None]:
    """A page of the filtered log, newest first, and the id to continue before (None on the last page).
    Keyset paging: page 1,000 costs what page 1 does, and rows are never counted."""
    rows = _audit_log_filtered(
        event_type=event_type, agent_id=agent_id, site_id=site_id, severity=severity, since=since, until=until
    )
    if before_id:
        rows = rows.filter(id__lt=before_id)
    page = list(rows.order_by("-id")[: page_size + 1])
    return page[:page_size], (page[page_size - 1].id if len(page) > page_size else None)


def audit_log_export_rows(
    *,
    event_type: str | None = None,
    agent_id: str | None = None,
    site_id: str | None = None,
    severity: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    columns: Sequence[str],
    chunk_size: int = 2000,
) -> Iterator[tuple]:
    """The filtered log's `columns`, newest first, read `chunk_size` rows at a time: a CSV export of
    millions of rows starts at once and never holds them all in memory."""
    rows = _audit_log_filtered(
        event_type=event_type, agent_id=agent_id, site_id=site_id, severity=severity, since=since, until=until
    )
    return rows.order_by("-id").values_list(*columns).iterator(chunk_size=chunk_size)


def _audit_log_filtered(
    *,
    event_type: str | None,
    agent_id: str | None,
    site_id: str | None,
    severity: str | None,
    since: datetime | None,
    until: datetime | None,
) -> QuerySet[AuditLog]:
    rows = audit_log_list(event_type=event_type, agent_id=agent_id, site_id=site_id, severity=severity)
    if since:
        rows = rows.filter(timestamp__gte=since)
    if until:
        rows = rows.filter(timestamp__lte=until)
    return rows


# Words of event type names written in capitals when they stand for their letters.
_ACRONYMS = {"ip": "IP", "api": "API", "mcp": "MCP"}


def audit_event_type_label(*, name: str) -> str:
    """An event type as people read it: its registry entry's label when it has one, else its name in words
    ("article_approved" reads "Article approved"); a name outside the registry (an old row) reads the same way."""
    label = getattr(event_type_spec(name), "label", None)
    if label:
        return str(label)
    words = " ".join(_ACRONYMS.get(word, word) for word in name.split("_") if word)
    return words[:1].upper() + words[1:]


def audit_event_type_choices() -> list[tuple[str, str]]:
    """Every event type of the registry as (name, label), sorted by label: the audit log's event filter."""
    return sorted(((name, audit_event_type_label(name=name)) for name in event_type_list()), key=lambda c: c[1])
