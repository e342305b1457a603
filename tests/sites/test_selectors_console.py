"""The site selectors behind the console: the latency history of every site in one query, the queue's site
filter, the failing sites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sites.models import HealthStatus, SiteHealthSample
from sites.selectors import site_failing_list, site_health_history, site_id_list
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _samples(site, count: int) -> list[SiteHealthSample]:
    return [
        SiteHealthSample.objects.create(
            site=site, checked_at=START + timedelta(minutes=n), status=HealthStatus.HEALTHY, latency_ms=float(n)
        )
        for n in range(count)
    ]


def test_the_history_of_many_sites_is_one_query(django_assert_num_queries):
    sites = [SiteFactory() for _ in range(4)]
    for n, site in enumerate(sites):
        _samples(site, 3 + n)
    with django_assert_num_queries(1):
        history = site_health_history(site_ids=[s.id for s in sites], points=4)
    assert [len(history[s.id]) for s in sites] == [3, 4, 4, 4]


def test_the_history_is_each_sites_newest_points_oldest_first():
    blog, news = SiteFactory(), SiteFactory()
    blog_samples = _samples(blog, 6)
    news_samples = _samples(news, 2)
    history = site_health_history(site_ids=[blog.id, news.id], points=4)
    assert history == {blog.id: blog_samples[2:], news.id: news_samples}


def test_the_history_leaves_out_sites_not_asked_and_lists_sites_without_checks():
    blog, news, quiet = SiteFactory(), SiteFactory(), SiteFactory()
    _samples(blog, 2)
    _samples(news, 2)
    history = site_health_history(site_ids=[blog.id, quiet.id], points=10)
    assert set(history) == {blog.id, quiet.id} and history[quiet.id] == []


def test_the_history_of_every_site_when_none_is_named(django_assert_num_queries):
    blog, news, quiet = SiteFactory(), SiteFactory(is_active=False), SiteFactory()
    _samples(blog, 3)
    _samples(news, 1)
    with django_assert_num_queries(2):  # the site ids, then their samples
        history = site_health_history(site_ids=None, points=2)
    assert {site_id: len(samples) for site_id, samples in history.items()} == {blog.id: 2, news.id: 1, quiet.id: 0}


def test_no_query_for_no_site_or_no_point(django_assert_num_queries):
    _samples(SiteFactory(id="blog"), 2)
    with django_assert_num_queries(0):
        assert site_health_history(site_ids=[], points=10) == {}
        assert site_health_history(site_ids=["blog"], points=0) == {"blog": []}


def test_the_queue_filter_offers_every_site_in_the_order_of_sites_yml():
    SiteFactory(id="zeta", position=0)
    SiteFactory(id="alpha", position=2)
    SiteFactory(id="gone", position=1, is_active=False)
    assert site_id_list() == ["zeta", "gone", "alpha"]


def test_failing_sites_are_the_active_ones_in_error_or_warning():
    SiteFactory(id="ok", health_status=HealthStatus.HEALTHY)
    SiteFactory(id="down", health_status=HealthStatus.ERROR)
    SiteFactory(id="slow", health_status=HealthStatus.WARNING)
    SiteFactory(id="new", health_status=HealthStatus.UNKNOWN)
    SiteFactory(id="off", health_status=HealthStatus.ERROR, is_active=False)
    assert [s.id for s in site_failing_list()] == ["down", "slow"]


def test_very_many_sites_take_one_query_a_batch(monkeypatch, django_assert_num_queries):
    monkeypatch.setattr("sites.selectors.HISTORY_SITES_PER_QUERY", 2)
    sites = [SiteFactory() for _ in range(5)]
    for site in sites:
        _samples(site, 2)
    with django_assert_num_queries(3):
        history = site_health_history(site_ids=[s.id for s in sites], points=1)
    assert [[sample.latency_ms for sample in history[s.id]] for s in sites] == [[1.0]] * 5
