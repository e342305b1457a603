"""Monitoring: activity per hour, publish durations, site latency, what is failing, in words."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.safestring import SafeString

from articles.selectors import article_publish_failed_list
from audit.models import EventType
from audit.monitoring import hourly_counts, publish_durations
from console.charts import Unit, bar_chart, time_bar_chart
from console.pages import render_page, reviewer_required
from console.views.sites import site_health_sentence, site_latency_chart
from sites.models import HealthStatus
from sites.selectors import site_failing_list, site_health_history, site_list

HISTORY_POINTS = 60
FAILED_ARTICLES = 20
HOURS = 24
ARTICLES = Unit("articles", one="article")
FAILURES = Unit("failures", one="failure")
SECONDS = Unit("s")


def _hourly_charts() -> dict:
    now = timezone.now()
    counts = hourly_counts(
        event_types=[EventType.ARTICLE_SUBMITTED, EventType.PUBLISH_SUCCEEDED, EventType.PUBLISH_FAILED],
        hours=HOURS,
        now=now,
    )
    # hourly_counts' buckets: the last HOURS whole hours, the current one last.
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    period = f"last {HOURS} hours"

    def chart(event_type: str, title: str, unit: Unit, empty: str) -> SafeString:
        return time_bar_chart(
            counts[event_type],
            start=first_hour,
            step=timedelta(hours=1),
            title=title,
            unit=unit,
            period=period,
            empty=empty,
        )

    return {
        "submissions": chart(
            EventType.ARTICLE_SUBMITTED,
            "Submissions per hour",
            ARTICLES,
            f"No submissions in the {period}: each article an agent submits is counted here in its hour.",
        ),
        "publishes": chart(
            EventType.PUBLISH_SUCCEEDED,
            "Publishes per hour",
            ARTICLES,
            f"No publishes in the {period}: an article appears here once it is approved and published.",
        ),
        "failures": chart(
            EventType.PUBLISH_FAILED,
            "Failed publishes per hour",
            FAILURES,
            f"No failed publishes in the {period}.",
        ),
    }


@reviewer_required
def monitoring(request: HttpRequest) -> HttpResponse:
    durations = publish_durations()
    health_charts = []
    sites = list(site_list())
    history = site_health_history(site_ids=[site.id for site in sites], points=HISTORY_POINTS)
    for site in sites:
        samples = history[site.id]
        health_charts.append(
            {
                "site": site,
                "chart": site_latency_chart(site, samples, title=f"Latency of {site.id}"),
                "errors": sum(s.status == HealthStatus.ERROR for s in samples),
                "samples": len(samples),
            }
        )
    return render_page(
        request,
        "console/monitoring.html",
        "console/partials/monitoring.html",
        {
            **_hourly_charts(),
            "durations": bar_chart(
                [seconds for _, seconds in durations],
                labels=[f"#{article_id}" for article_id, _ in durations],
                title="Publish duration",
                unit=SECONDS,
                what="publishes",
                empty="No publishes yet: each publish's duration appears here once it is done.",
            ),
            "health_charts": health_charts,
            "site_alerts": [(site, site_health_sentence(site)) for site in site_failing_list()],
            "failed_articles": article_publish_failed_list(limit=FAILED_ARTICLES),
        },
    )
