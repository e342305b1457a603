"""The monitoring page: alerts in words with plurals right, charts with axes, units and times in the
reviewer's zone, and a sentence where there is no data yet."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from articles.models import ArticleStatus
from audit.models import EventType
from audit.services import audit_record
from sites.models import HealthStatus, SiteHealthSample
from tests.factories import ArticleFactory, SiteFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer(client):
    client.force_login(UserFactory(username="alice", is_staff=True))
    return client


def _page(client, **headers) -> str:
    response = client.get("/monitoring/", headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _alerts(html: str) -> str:
    return _text(re.search(r'<section class="card alerts".*?</section>', html, re.S).group(0))


def _figure(html: str, title: str) -> str:
    match = re.search(
        rf'<figure class="chart-figure"><figcaption class="chart-title">{title}</figcaption>.*?</figure>', html, re.S
    )
    assert match, f"no chart {title}"
    return match.group(0)


def test_a_failing_site_is_an_alert_in_words(reviewer):
    SiteFactory(id="tech-blog", health_status=HealthStatus.ERROR, health_message="unreachable: connection refused")
    alerts = _alerts(_page(reviewer))
    assert "1 site needs attention." in alerts
    assert "Failing Site tech-blog is failing: unreachable: connection refused" in alerts
    assert "is error" not in alerts


def test_alerts_count_sites_and_articles_with_plurals(reviewer):
    SiteFactory(id="down", health_status=HealthStatus.ERROR, health_message="timed out")
    SiteFactory(id="slow", health_status=HealthStatus.WARNING, health_message="slow: authenticated as p in 2300 ms")
    ArticleFactory(title="Broken", status=ArticleStatus.PUBLISH_FAILED, publish_error_message="HTTP 500")
    alerts = _alerts(_page(reviewer))
    assert "2 sites need attention; 1 article failed to publish." in alerts
    assert "Site slow is slow: authenticated as p in 2300 ms" in alerts
    assert "Publishing #" in alerts and "Broken failed: HTTP 500" in alerts


def test_no_alerts_says_all_is_well(reviewer):
    SiteFactory(id="ok", health_status=HealthStatus.HEALTHY)
    alerts = _alerts(_page(reviewer))
    assert "No alerts: every site answered its last check" in alerts


def test_charts_without_data_say_when_data_will_appear(reviewer):
    SiteFactory(id="blog", health_check_interval=90)
    html = _page(reviewer)
    assert "No submissions in the last 24 hours: each article an agent submits is counted here" in html
    assert "No publishes yet: each publish&#x27;s duration appears here once it is done." in html
    assert "No health checks yet: the first runs within 90 s of start." in _figure(html, "Latency of blog")
    assert "<svg" not in html


def test_hourly_charts_have_a_unit_ticks_and_hours_in_the_reviewers_zone(reviewer):
    for _ in range(3):
        audit_record(event_type=EventType.ARTICLE_SUBMITTED, message="submitted")
    reviewer.cookies["wpub_tz"] = "Asia/Kolkata"  # UTC+05:30: hour buckets start at half past
    figure = _figure(_page(reviewer), "Submissions per hour")
    assert '<text class="unit" x="4" y="13">articles</text>' in figure
    assert re.findall(r'<text class="tick tick-y"[^>]*>([^<]+)</text>', figure) == ["0", "1", "2", "3"]
    hours = re.findall(r'<text class="tick tick-x"[^>]*>([^<]+)</text>', figure)
    assert 3 <= len(hours) <= 6 and all(re.fullmatch(r"\d\d:\d\d|[A-Z][a-z]{2} \d{1,2}", h) for h in hours)
    assert "3 articles" in figure and 'role="img"' in figure
    assert 'aria-label="Submissions per hour, last 24 hours: 3 articles in total, 3 articles at most"' in figure


def test_failed_checks_are_counted_in_words(reviewer):
    now = timezone.now()
    for site_id, statuses in {"one": ["error", "healthy"], "many": ["error"] * 3, "none": ["healthy"]}.items():
        site = SiteFactory(id=site_id)
        for n, status in enumerate(statuses):
            SiteHealthSample.objects.create(
                site=site, checked_at=now - timedelta(minutes=n), status=status, latency_ms=50
            )
    text = _text(_page(reviewer))
    assert "1 failed check in this window (the last 2 checks)" in text
    assert "3 failed checks in this window (the last 3 checks)" in text
    assert "No failed checks in this window (the last 1 check)" in text


def test_site_latency_charts_mark_failed_checks(reviewer):
    site = SiteFactory(id="blog")
    now = timezone.now()
    for n, status in enumerate(["healthy", "error", "healthy"]):
        SiteHealthSample.objects.create(site=site, checked_at=now - timedelta(minutes=n), status=status, latency_ms=100)
    figure = _figure(_page(reviewer), "Latency of blog")
    assert figure.count('<g class="failed">') == 1
    assert 'aria-label="Latency of blog, last 3 checks: 100 ms, 1 failed"' in figure


def test_the_live_refresh_carries_its_own_target_select_and_swap(reviewer):
    html = _page(reviewer)
    [element] = re.findall(r"<[a-z]+[^>]*\shx-get=[^>]*>", html)
    assert 'hx-target="this"' in element and 'hx-select="#monitoring"' in element and 'hx-swap="outerHTML"' in element
    assert "<h1>Monitoring</h1>" in _page(reviewer, **{"HX-Request": "true"})


def test_no_codes_are_shown(reviewer):
    SiteFactory(id="down", health_status=HealthStatus.ERROR, health_message="timed out")
    assert "_ERROR:" not in _page(reviewer)
