"""Each agent's week in numbers (AgentWeeklyReport), counted from the audit log and the articles."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day

from django.db.models import Q
from django.utils import timezone

from agents.models import Agent, AgentWeeklyReport
from articles.models import Article
from audit.models import AuditLog

WEEKLY_COUNTED_EVENTS = {
    "article_submitted": "submitted",
    "article_revised": "revised",
    "article_approved": "approved",
    "article_rejected": "rejected",
    "publish_succeeded": "published",
    "publish_failed": "publish_failed",
}


def agent_weekly_reports_write(*, week_start: date | None = None) -> list[AgentWeeklyReport]:
    """Count each agent's week from the audit log (submissions, revisions, reviews, publishes, each for
    the agent that wrote the article) and the average time from submission to review. Defaults to the
    last complete week (Monday to Monday, UTC); running it again rewrites the same reports."""
    today = timezone.now().date()
    week_start = week_start or today - timedelta(days=today.weekday() + 7)
    start = datetime.combine(week_start, time_of_day.min, tzinfo=UTC)
    end = start + timedelta(days=7)
    events = list(
        AuditLog.objects.filter(timestamp__gte=start, timestamp__lt=end, event_type__in=list(WEEKLY_COUNTED_EVENTS))
        .exclude(article_id=None)
        .values_list("event_type", "article_id")
    )
    authors = dict(Article.objects.filter(pk__in={a for _, a in events}).values_list("pk", "submitting_agent_id"))
    totals: dict[str, dict[str, int]] = {}
    for event_type, article_id in events:
        if article_id is not None and (agent_id := authors.get(article_id)) is not None:
            counts = totals.setdefault(agent_id, {})
            field = WEEKLY_COUNTED_EVENTS[event_type]
            counts[field] = counts.get(field, 0) + 1
    review_seconds: dict[str, list[float]] = {}
    reviewed = Article.objects.filter(reviewed_at__gte=start, reviewed_at__lt=end)
    for agent_id, created_at, reviewed_at in reviewed.values_list("submitting_agent_id", "created_at", "reviewed_at"):
        if reviewed_at is None:  # excluded by the filter; for the type checker
            continue
        review_seconds.setdefault(agent_id, []).append((reviewed_at - created_at).total_seconds())
    reports = []
    for agent in Agent.objects.filter(Q(is_active=True) | Q(pk__in=set(totals))):
        seconds = review_seconds.get(agent.id)
        report, _ = AgentWeeklyReport.objects.update_or_create(
            agent=agent,
            week_start=week_start,
            defaults={
                **dict.fromkeys(WEEKLY_COUNTED_EVENTS.values(), 0),
                **totals.get(agent.id, {}),
                "average_review_seconds": sum(seconds) / len(seconds) if seconds else None,
            },
        )
        reports.append(report)
    return reports
