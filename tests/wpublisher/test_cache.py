"""Agent stats and site health are cached and forgotten when a committed write changes them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.selectors import agent_stats
from articles import services
from sites.selectors import site_health
from sites.services import _site_health_record
from tests.factories import AgentFactory, SiteFactory

pytestmark = pytest.mark.django_db


def queries(fn) -> int:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured)


def test_agent_stats_are_cached_until_a_write_commits(django_capture_on_commit_callbacks):
    SiteFactory(id="blog")
    writer = AgentFactory(id="writer")
    assert agent_stats(agent_id="writer")["total_articles_submitted"] == 0
    assert queries(lambda: agent_stats(agent_id="writer")) == 0  # served from the cache
    with django_capture_on_commit_callbacks(execute=True):
        services.article_submit(agent=writer, title="t", content_markdown="x")
    stats = agent_stats(agent_id="writer")
    assert stats["total_articles_submitted"] == 1 and stats["articles_by_status"] == {"pending_review": 1}


def test_site_health_is_cached_until_a_check_records_a_new_one(django_capture_on_commit_callbacks):
    site = SiteFactory(id="blog")
    assert site_health(site_id="blog")["status"] == "unknown"
    assert queries(lambda: site_health(site_id="blog")) == 0
    with django_capture_on_commit_callbacks(execute=True):
        _site_health_record(site=site, status="error", message="down", latency_ms=3.0)
    assert site_health(site_id="blog")["status"] == "error"


def test_an_unknown_agent_is_not_cached():
    from agents.exceptions import AgentNotFound

    for _ in range(2):
        with pytest.raises(AgentNotFound):
            agent_stats(agent_id="ghost")
