"""Loading the config files into the running process and the database, and hot reload."""

from __future__ import annotations

import time

import pytest

from agents.models import Agent
from audit.models import AuditLog
from configuration.reload import config_reload
from core.config.state import config_current, config_status
from sites.models import Site
from tests.conftest import agent_entry, site_entry

pytestmark = pytest.mark.django_db


def test_sync_creates_agents_and_sites_with_their_settings(loaded_config):
    loaded_config(
        agents=[agent_entry("writer", scopes=["article:submit"], allowed_sites=["b"]), agent_entry("seo")],
        sites=[site_entry("a", default_tags=["x"]), site_entry("b", default=True)],
    )
    writer = Agent.objects.get(pk="writer")
    assert (writer.scopes, writer.allowed_sites, writer.is_active) == (["article:submit"], ["b"], True)
    assert Agent.objects.get(pk="seo").allowed_sites is None
    assert list(Site.objects.values_list("id", "is_default", "default_tags")) == [
        ("a", False, ["x"]),
        ("b", True, []),
    ]
    reload = AuditLog.objects.get(event_type="config_reloaded")
    assert reload.metadata["agents_added"] == ["writer", "seo"]


def test_an_invalid_file_keeps_the_last_good_config_and_audits_the_exact_messages(loaded_config, config_files):
    good = loaded_config(agents=[agent_entry("writer")], sites=[site_entry("a")])
    config_files.write_text("sites.yml", "sites:\n  - id: a\n    name: A\n    api_url: ftp://x\n")
    result = config_reload()
    assert not result.ok
    assert result.messages == [
        "sites.yml: sites[0].api_url: not an http(s) URL",
        "sites.yml: sites[0].username: required",
        "sites.yml: sites[0].app_password: required",
    ]
    assert config_current() is good
    assert Site.objects.get(pk="a").api_url == good.site("a").api_url
    error = AuditLog.objects.get(event_type="config_error")
    assert error.severity == "error"
    assert error.metadata["messages"] == result.messages
    assert "keeping the last good configuration" in error.message
    status = config_status()
    assert status["status"] == "warning" and status["last_error"] == result.messages
    # The same broken file seen again is not audited twice; fixing it clears the error.
    config_reload()
    assert AuditLog.objects.filter(event_type="config_error").count() == 1
    config_files.write(sites=[site_entry("a"), site_entry("c")])
    assert config_reload().ok
    assert config_status()["status"] == "ok"
    assert Site.objects.filter(is_active=True).count() == 2


def test_unchanged_files_do_not_resync_or_audit(loaded_config):
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("a")])
    result = config_reload()
    assert result.ok and not result.changed
    assert AuditLog.objects.filter(event_type="config_reloaded").count() == 1


def test_removed_agents_and_sites_become_inactive_and_keep_their_history(loaded_config, config_files):
    from articles.services import article_submit

    loaded_config(agents=[agent_entry("writer"), agent_entry("seo")], sites=[site_entry("a"), site_entry("b")])
    article = article_submit(agent=Agent.objects.get(pk="writer"), title="t", content_markdown="x", target_site="b")
    config_files.write(agents=[agent_entry("seo")], sites=[site_entry("a")])
    assert config_reload().ok
    assert not Agent.objects.get(pk="writer").is_active
    assert not Site.objects.get(pk="b").is_active
    article.refresh_from_db()
    assert (article.submitting_agent_id, article.target_site_id) == ("writer", "b")
    # Coming back reactivates them.
    config_files.write(agents=[agent_entry("seo"), agent_entry("writer")], sites=[site_entry("a"), site_entry("b")])
    assert config_reload().ok
    assert Agent.objects.get(pk="writer").is_active and Site.objects.get(pk="b").is_active


def test_watchdog_reloads_a_changed_file(loaded_config, config_files, settings, transactional_db):
    from configuration.watcher import config_watch_start, config_watch_stop

    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("a")])
    config_watch_start(settings.CONFIG_DIR)
    try:
        config_files.write(sites=[site_entry("a"), site_entry("fresh")])
        assert _eventually(lambda: config_current().site("fresh") is not None)
        assert _eventually(lambda: Site.objects.filter(pk="fresh", is_active=True).exists())
        good = config_current()
        config_files.write_text("agents.yml", "agents: [")
        assert _eventually(lambda: config_status()["last_error"] is not None)
        assert config_current() is good
        assert config_status()["last_error"][0].startswith("agents.yml: line 1, column")
    finally:
        config_watch_stop()


def _eventually(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False
