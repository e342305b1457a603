"""The site admin: read-only config, a health check on demand (the service's), never a password."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sites.models import Site
from tests.conftest import agent_entry
from tests.factories import SiteFactory
from tests.sites.fake_wordpress import Failure

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:sites_site_changelist")


@pytest.fixture
def blog(loaded_config, fake_wp) -> Site:
    loaded_config(
        agents=[agent_entry("a")],
        sites=[
            {
                "id": "blog",
                "name": "Blog",
                "api_url": fake_wp.api_url,
                "username": "publisher",
                "app_password": fake_wp.password,
            }
        ],
        publishing={"timeout": 3},
    )
    return Site.objects.get(pk="blog")


def run_action(client, action: str, *sites: Site):
    payload = {"action": action, "_selected_action": [s.pk for s in sites], "index": 0}
    return client.post(CHANGELIST, payload, follow=True)


def shown(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def test_pages_render_read_only_and_never_show_the_password(admin_client, blog, fake_wp):
    listing = admin_client.get(CHANGELIST, {"health_status__exact": "unknown"})
    assert listing.status_code == 200 and "blog" in listing.text
    page = admin_client.get(reverse("admin:sites_site_change", args=["blog"]))
    assert page.status_code == 200
    assert fake_wp.api_url in page.text and "sites.yml" in page.text
    assert 'name="_save"' not in page.text
    for text in (listing.text, page.text):
        assert fake_wp.password not in text
    assert not any("password" in field.name for field in Site._meta.get_fields())


def test_sites_cannot_be_added_edited_or_deleted(admin_client, blog):
    change = reverse("admin:sites_site_change", args=["blog"])
    assert admin_client.get(reverse("admin:sites_site_add")).status_code == 403
    assert admin_client.post(change, {"name": "Edited"}).status_code == 403
    assert admin_client.post(reverse("admin:sites_site_delete", args=["blog"])).status_code == 403
    assert Site.objects.get(pk="blog").name == "Blog"


def test_check_health_now_runs_the_check_and_reports_it(admin_client, blog):
    response = run_action(admin_client, "check_health", blog)
    blog.refresh_from_db()
    assert blog.health_status == "healthy" and blog.last_health_check is not None
    [(level, text)] = shown(response)
    assert level == "success"
    assert text.startswith("Site blog is healthy (") and text.endswith(" ms): authenticated as publisher")


def test_check_health_reports_a_failing_site_and_an_unconfigured_one(admin_client, blog, fake_wp):
    fake_wp.fail("GET", "/users/me", Failure(status=503))
    ghost = SiteFactory(id="ghost")  # in the database, not in sites.yml
    response = run_action(admin_client, "check_health", blog, ghost)
    [(level, text), unconfigured] = shown(response)
    assert level == "warning" and text.startswith("Site blog has a warning (") and "503" in text
    assert unconfigured == ("error", "Site ghost: site 'ghost' not configured or inactive")
    assert Site.objects.get(pk="blog").health_status == "warning"
