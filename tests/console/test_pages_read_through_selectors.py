"""The console's pages read through the selectors of the apps that own the data: as many queries for one site
as for many, and a missing article is a 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import console
from sites.models import HealthStatus, SiteHealthSample
from tests.factories import ArticleFactory, SiteFactory, UserFactory

pytestmark = pytest.mark.django_db

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def reviewer(client):
    client.force_login(UserFactory(username="alice", is_staff=True))
    return client


def _site_with_history(**fields):
    site = SiteFactory(**fields)
    for n in range(70):
        status = HealthStatus.ERROR if n % 10 == 0 else HealthStatus.HEALTHY
        SiteHealthSample.objects.create(
            site=site, checked_at=START + timedelta(minutes=n), status=status, latency_ms=float(n)
        )
    return site


def _queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


@pytest.mark.parametrize("path", ["/sites/", "/monitoring/"])
def test_the_latency_history_costs_the_same_for_one_site_or_many(reviewer, path):
    _site_with_history(id="blog")
    one = _queries(reviewer, path)
    _site_with_history(id="news", health_status=HealthStatus.ERROR)
    _site_with_history(id="shop", is_active=False)
    assert _queries(reviewer, path) == one


def test_the_sites_page_charts_the_last_40_checks(reviewer):
    _site_with_history(id="blog")
    assert "latency of the last 40 checks" in reviewer.get("/sites/").content.decode()


def test_the_monitoring_page_counts_the_failed_checks_of_the_last_60(reviewer):
    _site_with_history(id="blog")  # errors at minutes 0, 10, ..., 60: the last 60 checks hold 6 of them
    assert "6 failed checks in this window" in reviewer.get("/monitoring/").content.decode()


def test_a_missing_article_is_not_found(reviewer):
    article = ArticleFactory()
    assert reviewer.get(f"/articles/{article.pk}/").status_code == 200
    assert reviewer.get(f"/articles/{article.pk + 1}/").status_code == 404


def test_console_views_do_not_query_models_directly():
    views = Path(console.__file__).parent / "views"
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(views.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "objects." in line
    ]
    assert offenders == [], "read through a selector of the app that owns the model"
