"""Monitoring: activity per hour, publish durations, site latency, what is failing."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from articles.selectors import article_publish_failed_list
from audit.models import EventType
from audit.monitoring import hourly_counts, publish_durations
from console.charts import bar_chart, line_chart
from console.pages import render_page, reviewer_required
from sites.models import HealthStatus
from sites.selectors import site_failing_list, site_health_history, site_list

HISTORY_POINTS = 60
FAILED_ARTICLES = 20


@reviewer_required
def monitoring(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    hours = hourly_counts(
        event_types=[EventType.ARTICLE_SUBMITTED, EventType.PUBLISH_SUCCEEDED, EventType.PUBLISH_FAILED], now=now
    )
    labels = [(now - timedelta(hours=23 - i)).strftime("%H:00") for i in range(24)]
    durations = publish_durations()
    health_charts = []
    sites = list(site_list())
    history = site_health_history(site_ids=[site.id for site in sites], points=HISTORY_POINTS)
    for site in sites:
        samples = history[site.id]
        points = [(s.checked_at.strftime("%H:%M"), s.latency_ms) for s in samples]
        health_charts.append(
            {
                "site": site,
                "chart": line_chart(points, title=f"{site.id} latency", unit=" ms"),
                "errors": sum(s.status == HealthStatus.ERROR for s in samples),
            }
        )
    return render_page(
        request,
        "console/monitoring.html",
        "console/partials/monitoring.html",
        {
            "submissions": bar_chart(hours[EventType.ARTICLE_SUBMITTED], labels=labels, title="Submissions per hour"),
            "publishes": bar_chart(hours[EventType.PUBLISH_SUCCEEDED], labels=labels, title="Publishes per hour"),
            "failures": bar_chart(hours[EventType.PUBLISH_FAILED], labels=labels, title="Failed publishes per hour"),
            "durations": bar_chart(
                [d for _, d in durations],
                labels=[f"article {a}" for a, _ in durations],
                title="Publish duration",
                unit=" s",
            ),
            "health_charts": health_charts,
            "failing_sites": site_failing_list(),
            "failed_articles": article_publish_failed_list(limit=FAILED_ARTICLES),
        },
    )
