"""Site health checks against a fake WordPress (the real one is in test_real_wordpress.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditLog
from sites import services
from sites.models import Site
from sites.selectors import site_health
from tests.conftest import agent_entry
from tests.sites.fake_wordpress import Failure

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(loaded_config, fake_wp):
    def load(**fields):
        entry = {
            "id": "blog",
            "name": "Blog",
            "api_url": fake_wp.api_url,
            "username": "publisher",
            "app_password": fake_wp.password,
        }
        loaded_config(agents=[agent_entry("a")], sites=[{**entry, **fields}], publishing={"timeout": 3})
        return "blog"

    return load


def test_a_site_that_authenticates_quickly_is_healthy(site):
    result = services.site_health_check(site_id=site())
    assert (result.health_status, result.health_message) == ("healthy", "authenticated as publisher")
    assert result.health_latency_ms > 0 and result.last_health_check is not None
    assert site_health(site_id="blog")["status"] == "healthy"


def test_a_refused_password_is_an_error(site):
    result = services.site_health_check(site_id=site(app_password="nope nope nope nope nope nope"))
    assert result.health_status == "error"
    assert result.health_message == "authentication refused (check username/app_password)"
    assert result.health_detail == "authentication failed for site blog (check username/app_password)"


def test_an_unreachable_site_is_an_error(site, fake_wp):
    site_id = site()
    fake_wp.stop()
    result = services.site_health_check(site_id=site_id)
    assert result.health_status == "error" and "unreachable" in result.health_message


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (Failure(status=503), "answered HTTP 503"),
        (Failure(status=429), "answered HTTP 429"),
    ],
)
def test_server_trouble_is_a_warning(site, fake_wp, failure, message):
    site_id = site()
    fake_wp.fail("GET", "/users/me", failure)
    result = services.site_health_check(site_id=site_id)
    assert result.health_status == "warning" and message in result.health_message


def test_a_slow_answer_is_a_warning(site, fake_wp, monkeypatch):
    site_id = site()
    monkeypatch.setattr(services, "SLOW_ANSWER_MS", 100.0)
    fake_wp.fail("GET", "/users/me", Failure(status=200, body={"id": 1, "slug": "publisher"}, delay=0.3))
    result = services.site_health_check(site_id=site_id)
    assert result.health_status == "warning" and result.health_message.startswith("slow: authenticated as publisher in")


def test_changes_are_audited_once(site, fake_wp):
    site_id = site()
    services.site_health_check(site_id=site_id)
    services.site_health_check(site_id=site_id)
    fake_wp.fail("GET", "/users/me", Failure(status=503))
    services.site_health_check(site_id=site_id)
    changes = list(
        AuditLog.objects.filter(event_type="site_health_changed").order_by("id").values_list("message", "severity")
    )
    assert [c[1] for c in changes] == ["info", "warning"]
    assert changes[0][0] == "site blog is healthy (was not checked yet): authenticated as publisher"


def test_checks_are_due_at_each_sites_interval_and_claimed_once(site):
    site_id = site(health_check_interval=60)
    assert services.site_health_checks_due() == [site_id]
    assert services.site_health_checks_due() == []  # queued, not yet run
    services.site_health_check(site_id=site_id)
    assert services.site_health_checks_due() == []
    later = timezone.now() + timedelta(seconds=61)
    assert services.site_health_checks_due(now=later) == [site_id]


def test_inactive_sites_are_not_checked(site):
    site_id = site()
    Site.objects.filter(pk=site_id).update(is_active=False)
    assert services.site_health_checks_due() == []
