"""Agent stats and site health are cached and forgotten when a committed write changes them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from articles import services
from articles.selectors import agent_stats
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


def test_agent_config_is_read_once_then_served_from_the_cache_until_the_config_changes(
    loaded_config, config_files, django_capture_on_commit_callbacks
):
    from agents.selectors import agent_config_get
    from tests.conftest import agent_entry, site_entry

    loaded_config(agents=[agent_entry("writer", scopes=["article:submit"])], sites=[site_entry("blog")])
    assert agent_config_get(agent_id="writer").scopes == ["article:submit"]
    assert queries(lambda: agent_config_get(agent_id="writer")) == 0
    config_files.write(agents=[agent_entry("writer", scopes=["article:submit", "article:read"])])
    with django_capture_on_commit_callbacks(execute=True):
        from configuration.reload import config_reload

        assert config_reload().ok
    assert agent_config_get(agent_id="writer").scopes == ["article:submit", "article:read"]


def test_the_active_sites_are_cached_until_the_sites_change(
    loaded_config, config_files, django_capture_on_commit_callbacks
):
    from configuration.reload import config_reload
    from sites.selectors import site_active_ids
    from tests.conftest import agent_entry, site_entry

    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog"), site_entry("news")])
    assert site_active_ids() == ["blog", "news"]
    assert queries(site_active_ids) == 0
    config_files.write(sites=[site_entry("blog"), site_entry("news", default=True)])
    with django_capture_on_commit_callbacks(execute=True):
        assert config_reload().ok
    assert site_active_ids() == ["news", "blog"]


@pytest.mark.django_db(transaction=True)
def test_a_value_read_before_a_key_was_revoked_is_not_cached_after_the_revocation():
    """The race the tombstones close: a reader reads the key, the revocation commits, then the reader
    fills the cache. The fill must not happen, or the revoked key would work until the entry expired."""
    from core.cache import api_key_key, cached, invalidate

    def read_racing_a_revocation() -> str:
        invalidate(api_key_key("k"))  # outside a transaction: at once, as at commit
        return "read before the revocation"

    assert cached(api_key_key("k"), read_racing_a_revocation) == "read before the revocation"
    assert cached(api_key_key("k"), lambda: "read after the revocation") == "read after the revocation"


def test_every_thread_shares_one_cache_backend():
    import threading

    from core.cache import process_cache

    seen = []
    thread = threading.Thread(target=lambda: seen.append(process_cache()))
    thread.start()
    thread.join()
    assert seen == [process_cache()]
