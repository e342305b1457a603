from __future__ import annotations

import pytest
from django.db import connection

from tests.conftest import agent_entry, site_entry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    """/health gives its details to logged-in staff only (anonymous: status and check names)."""
    client.force_login(UserFactory())
    return client


def test_health_reports_database_broker_and_config(staff, loaded_config):
    loaded_config(agents=[agent_entry("a")], sites=[site_entry("s")])
    response = staff.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok" and body["database"]["vendor"] == connection.vendor
    assert body["broker"]["status"] == "ok"
    assert body["config"]["status"] == "ok" and body["config"]["agents"] == 1


def test_health_is_503_when_the_database_does_not_answer(staff, monkeypatch):
    def broken():
        raise ConnectionError("database is down")

    monkeypatch.setattr("wpublisher.views._database", broken)
    response = staff.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == {
        "status": "error",
        "latency_ms": response.json()["database"]["latency_ms"],
        "error": "ConnectionError: database is down",
    }


def test_health_without_config_says_so(client, settings, tmp_path):
    settings.CONFIG_DIR = tmp_path
    body = client.get("/health").json()
    assert body["status"] == "degraded"
    assert body["config"]["status"] == "error"


def test_health_reports_the_channel_layer_and_each_sites_health(staff, loaded_config):
    from sites.models import Site

    loaded_config(agents=[agent_entry("a")], sites=[site_entry("s1"), site_entry("s2")])
    Site.objects.filter(pk="s1").update(health_status="error", health_latency_ms=12.5)
    body = staff.get("/health").json()
    assert body["channel_layer"]["status"] == "ok" and body["channel_layer"]["backend"]
    assert [(s["id"], s["status"], s["latency_ms"]) for s in body["sites"]] == [
        ("s1", "error", 12.5),
        ("s2", "unknown", None),
    ]


def test_metrics_expose_the_systems_state(client, loaded_config):
    from agents.models import Agent
    from articles.services import article_submit
    from sites.models import Site

    loaded_config(agents=[agent_entry("a")], sites=[site_entry("s1")])
    article_submit(agent=Agent.objects.get(pk="a"), title="t", content_markdown="x")
    Site.objects.filter(pk="s1").update(health_status="healthy", total_posts_published=3, total_publish_failures=1)
    text = client.get("/metrics").content.decode()
    assert 'wpublisher_articles{status="pending_review"} 1.0' in text
    assert 'wpublisher_publishes_total{outcome="success",site="s1"} 3.0' in text
    assert 'wpublisher_publishes_total{outcome="failure",site="s1"} 1.0' in text
    assert 'wpublisher_site_health{site="s1"} 1.0' in text
    assert "wpublisher_agents_active 1.0" in text
    assert "# TYPE wpublisher_mcp_tool_calls_total counter" in text
