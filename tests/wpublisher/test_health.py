from __future__ import annotations

import pytest
from django.db import connection

from tests.conftest import agent_entry, site_entry

pytestmark = pytest.mark.django_db


def test_health_reports_database_broker_and_config(client, loaded_config):
    loaded_config(agents=[agent_entry("a")], sites=[site_entry("s")])
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok" and body["database"]["vendor"] == connection.vendor
    assert body["broker"]["status"] == "ok"
    assert body["config"]["status"] == "ok" and body["config"]["agents"] == 1


def test_health_is_503_when_the_database_does_not_answer(client, monkeypatch):
    def broken():
        raise ConnectionError("database is down")

    monkeypatch.setattr("wpublisher.views._database", broken)
    response = client.get("/health")
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
