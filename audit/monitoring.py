"""Series for the monitoring page, read from the audit log and the health samples."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncHour
from django.utils import timezone

from audit.models import AuditLog


def hourly_counts(*, event_types: list[str], hours: int = 24, now: datetime | None = None) -> dict[str, list[int]]:
    """Per event type, how many happened in each of the last `hours` hours (oldest first)."""
    now = (now or timezone.now()).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = now - timedelta(hours=hours)
    series = {event_type: [0] * hours for event_type in event_types}
    rows = (
        AuditLog.objects.filter(timestamp__gte=start, event_type__in=event_types)
        .annotate(hour=TruncHour("timestamp"))
        .values_list("event_type", "hour")
        .annotate(n=Count("id"))
    )
    for event_type, hour, n in rows.values_list("event_type", "hour", "n"):
        index = int((hour - start).total_seconds() // 3600)
        if 0 <= index < hours:
            series[event_type][index] = n
    return series


def publish_durations(*, limit: int = 50) -> list[tuple[int, float]]:
    """(article id, seconds) of the latest successful publishes, oldest first."""
    rows = (
        AuditLog.objects.filter(event_type="publish_succeeded")
        .order_by("-id")
        .values_list("article_id", "metadata")[:limit]
    )
    return [
        (article_id, metadata["duration_ms"] / 1000)
        for article_id, metadata in reversed(list(rows))
        if metadata.get("duration_ms") is not None
    ]
