"""The reviewers' JSON API for sites (/api/sites): sites with their health, and a check on demand
(against the fake WordPress of tests/sites, or a port nothing listens on)."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditLog
from sites.models import Site
from tests.conftest import agent_entry, site_entry
from tests.factories import SiteFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(UserFactory())
    return client


@pytest.fixture
def sites(loaded_config, fake_wp):
    """Two configured sites: `blog` answers (the fake WordPress), `down` listens nowhere."""
    blog = site_entry("blog", api_url=fake_wp.api_url, app_password=fake_wp.password)
    loaded_config(agents=[agent_entry("a")], sites=[blog, site_entry("down")], publishing={"timeout": 3})


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/api/sites"), ("get", "/api/sites/s/health"), ("post", "/api/sites/s/check")]
)
def test_anonymous_and_non_staff_users_are_refused(client, method, path):
    SiteFactory(id="s")
    assert getattr(client, method)(path).status_code == 401
    client.force_login(UserFactory(is_staff=False))
    response = getattr(client, method)(path)
    assert (response.status_code, response.json()) == (401, {"detail": "Unauthorized"})


def test_a_check_without_the_csrf_token_is_refused(sites):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(UserFactory())
    response = browser.post("/api/sites/down/check")
    assert (response.status_code, response.json()) == (403, {"detail": "CSRF check Failed"})
    assert Site.objects.get(pk="down").last_health_check is None


def test_list_has_each_site_with_its_health(staff):
    SiteFactory(id="blog", health_status="healthy", health_message="authenticated as publisher", health_latency_ms=12)
    SiteFactory(id="old", is_active=False)
    [blog] = staff.get("/api/sites").json()
    assert (blog["id"], blog["api_url"], blog["is_active"]) == ("blog", "http://127.0.0.1:9/blog/wp-json/wp/v2", True)
    assert blog["health"] == {
        "status": "healthy",
        "message": "authenticated as publisher",
        "detail": "",
        "latency_ms": 12.0,
        "last_check": None,
    }
    assert "username" not in blog and "app_password" not in blog
    everything = staff.get("/api/sites", {"include_inactive": "true"}).json()
    assert [s["id"] for s in everything] == ["blog", "old"]


def test_health_is_the_last_recorded_one(staff):
    SiteFactory(id="blog", health_status="warning", health_message="slow", total_publish_failures=2)
    body = staff.get("/api/sites/blog/health").json()
    assert (body["site_id"], body["status"], body["message"], body["total_publish_failures"]) == (
        "blog",
        "warning",
        "slow",
        2,
    )


def test_an_unknown_site_is_404(staff):
    response = staff.get("/api/sites/nowhere/health")
    assert response.status_code == 404
    assert response.json() == {
        "code": "SITE_NOT_FOUND",
        "message": "site 'nowhere' not configured or inactive",
        "field": "site_id",
    }


def test_an_id_that_cannot_name_a_site_is_422(staff):
    response = staff.get("/api/sites/Not.A.Site/health")
    assert (response.status_code, response.json()["field"]) == (422, "site_id")


def test_check_records_a_healthy_site(staff, sites):
    response = staff.post("/api/sites/blog/check")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["message"]) == ("healthy", "authenticated as publisher")
    assert body["last_check"] is not None and body["latency_ms"] > 0


def test_check_of_an_unreachable_site_records_error_and_answers_200(staff, sites):
    response = staff.post("/api/sites/down/check")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "error" and "unreachable" in body["message"]
    site = Site.objects.get(pk="down")
    assert (site.health_status, site.health_message) == ("error", body["message"])
    assert AuditLog.objects.filter(event_type="site_health_changed", site_id="down").count() == 1
    assert staff.get("/api/sites/down/health").json()["status"] == "error"


def test_check_of_an_unknown_or_inactive_site_is_404(staff, sites):
    SiteFactory(id="old", is_active=False)
    for site_id in ("nowhere", "old"):
        response = staff.post(f"/api/sites/{site_id}/check")
        assert (response.status_code, response.json()["code"]) == (404, "SITE_NOT_FOUND")
