"""The console's sites page: "Check now" keeps the page whole (htmx swaps just that site's card and the
messages, and can be clicked again), health in words, plurals right, times as people read them."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from sites.models import HealthStatus, SiteHealthSample
from tests.conftest import agent_entry, site_entry
from tests.factories import SiteFactory, UserFactory
from tests.sites.fake_wordpress import FakeWordPress

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def reviewer(client):
    client.force_login(UserFactory(username="alice", is_staff=True))
    return client


@pytest.fixture
def fake_wp():
    server = FakeWordPress().start()
    yield server
    server.stop()


@pytest.fixture
def sites(loaded_config, fake_wp):
    """`blog` answers (the fake WordPress); `down` listens nowhere."""
    blog = site_entry("blog", api_url=fake_wp.api_url, app_password=fake_wp.password)
    loaded_config(agents=[agent_entry("a")], sites=[blog, site_entry("down")], publishing={"timeout": 3})


def _card(html: str, site_id: str) -> str:
    match = re.search(rf'<section class="card site[^"]*" id="site-{site_id}".*?</section>', html, re.S)
    assert match, f"no card for {site_id}"
    return match.group(0)


def _messages(html: str) -> str:
    return re.search(r'<div id="messages" class="messages">(.*?)</div>', html, re.S).group(1)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_check_now_swaps_its_own_card_and_the_messages_and_keeps_its_own_attributes(reviewer, sites):
    html = reviewer.get("/sites/").content.decode()
    form = re.search(r'<form[^>]*hx-post="/sites/down/check"[^>]*>', _card(html, "down")).group(0)
    for attribute in (
        'hx-target="#site-down"',
        'hx-select="#site-down"',
        'hx-swap="outerHTML"',
        'hx-select-oob="#messages"',
    ):
        assert attribute in form
    assert 'aria-label="Check now: down"' in _card(html, "down")  # the visible words first (WCAG 2.5.3)


def test_every_element_that_makes_a_request_carries_its_own_target_select_and_swap(reviewer, sites):
    html = reviewer.get("/sites/").content.decode()
    requesting = re.findall(r"<[a-z]+[^>]*\shx-(?:get|post)=[^>]*>", html)
    assert len(requesting) == 3  # the live refresh and two "Check now" forms
    for element in requesting:
        assert all(f" {name}=" in element for name in ("hx-target", "hx-select", "hx-swap")), element


def test_check_now_on_a_failing_site_keeps_the_page_and_says_it_is_failing(reviewer, sites):
    response = reviewer.post("/sites/down/check", headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Sites</h1>" in html
    messages = _messages(html)
    assert 'role="alert"' in messages and "message error" in messages
    assert "Site down is failing: unreachable" in messages
    card = _card(html, "down")
    assert '<span class="pill health-error">Failing</span>' in card
    assert "Site down is failing: unreachable" in card
    assert "just now" in card  # the last check, in words
    assert "Check now</button>" in card  # it can be clicked again
    assert "Check now</button>" in _card(html, "blog")  # the other site is still there
    assert "is error" not in html and "_ERROR:" not in html and "SITE_NOT_FOUND" not in html


def test_check_now_can_be_clicked_again(reviewer, sites):
    for _ in range(2):
        html = reviewer.post("/sites/down/check", headers=HTMX).content.decode()
        assert "Site down is failing" in _messages(html)
    assert SiteHealthSample.objects.filter(site_id="down").count() == 2
    assert "2 of the last 2" in _card(html, "down")  # the failed checks


def test_check_now_on_a_healthy_site_is_a_success_in_words(reviewer, sites):
    html = reviewer.post("/sites/blog/check", headers=HTMX).content.decode()
    messages = _messages(html)
    assert "message success" in messages and 'role="status"' in messages
    assert "Site blog is healthy: authenticated as publisher" in messages
    card = _card(html, "blog")
    assert '<span class="pill health-healthy">Healthy</span>' in card
    assert re.search(r"<dt>Latency</dt><dd>\d+ ms</dd>", card)
    assert '<svg class="chart"' in card and 'aria-label="Latency of blog, last 1 check: ' in card


def test_check_now_without_htmx_answers_the_whole_page(reviewer, sites):
    html = reviewer.post("/sites/down/check").content.decode()
    assert "<nav" in html and "<h1>Sites</h1>" in html
    assert "Site down is failing" in _messages(html)


def test_a_refused_check_is_a_message_in_words(reviewer, sites):
    SiteFactory(id="gone", is_active=False)
    html = reviewer.post("/sites/gone/check", headers=HTMX).content.decode()
    assert "<h1>Sites</h1>" in html
    assert "Site &#x27;gone&#x27; not configured or inactive" in _messages(html)
    assert "SITE_NOT_FOUND" not in html and "_ERROR:" not in html


def test_an_inactive_site_offers_no_check_and_says_why(reviewer):
    SiteFactory(id="gone", is_active=False)
    card = _card(reviewer.get("/sites/").content.decode(), "gone")
    assert "Check now" not in card
    assert "inactive: no longer in sites.yml" in card
    assert "No health checks: the site is no longer in sites.yml." in card


@pytest.mark.parametrize(
    ("status", "message", "badge", "words"),
    [
        (
            HealthStatus.HEALTHY,
            "authenticated as publisher",
            "Healthy",
            "Site tech-blog is healthy: authenticated as publisher",
        ),
        (HealthStatus.ERROR, "authentication refused", "Failing", "Site tech-blog is failing: authentication refused"),
        (
            HealthStatus.WARNING,
            "slow: authenticated as publisher in 2300 ms",
            "Warning",
            "Site tech-blog is slow: authenticated as publisher in 2300 ms",
        ),
        (HealthStatus.WARNING, "answered HTTP 503", "Warning", "Site tech-blog is having trouble: answered HTTP 503"),
        (HealthStatus.UNKNOWN, "", "Not checked yet", "Site tech-blog has not been checked yet"),
    ],
)
def test_health_is_in_words(reviewer, status, message, badge, words):
    SiteFactory(id="tech-blog", health_status=status, health_message=message)
    card = _card(reviewer.get("/sites/").content.decode(), "tech-blog")
    assert f'<span class="pill health-{status}">{badge}</span>' in card
    assert words in card
    assert f"is {status}" not in card.replace("is healthy", "")


@pytest.mark.parametrize(
    ("failures", "samples", "posts", "checks"),
    [
        (0, 0, "0 (no failures)", "none yet"),
        (1, 1, "0 (1 failure)", "1 of the last 1"),
        (3, 4, "0 (3 failures)", "3 of the last 4"),
    ],
)
def test_counts_are_plural_correct(reviewer, failures, samples, posts, checks):
    site = SiteFactory(id="blog", total_publish_failures=failures)
    now = timezone.now()
    for n in range(samples):
        status = HealthStatus.ERROR if n < failures else HealthStatus.HEALTHY
        SiteHealthSample.objects.create(site=site, checked_at=now - timedelta(minutes=n), status=status, latency_ms=90)
    card = _text(_card(reviewer.get("/sites/").content.decode(), "blog"))
    assert f"Posts published {posts}" in card
    assert f"Failed checks {checks}" in card


def test_healthy_checks_are_none_failed(reviewer):
    site = SiteFactory(id="blog")
    SiteHealthSample.objects.create(site=site, checked_at=timezone.now(), status=HealthStatus.HEALTHY, latency_ms=9)
    card = _text(_card(reviewer.get("/sites/").content.decode(), "blog"))
    assert "Failed checks none in the last 1" in card
    assert "latency of the last 1 check." in card


def test_the_last_check_is_relative_with_the_exact_time_on_hover(reviewer):
    checked = timezone.now() - timedelta(minutes=3)
    SiteFactory(id="blog", last_health_check=checked, health_check_interval=120)
    reviewer.cookies["wpub_tz"] = "Asia/Tokyo"
    card = _card(reviewer.get("/sites/").content.decode(), "blog")
    exact = timezone.localtime(checked, timezone=ZoneInfo("Asia/Tokyo"))
    assert re.search(
        rf'<time datetime="[^"]+" title="{exact:%Y-%m-%d %H:%M:%S} \(JST, UTC\+0900\)"[^>]*>3 min ago</time>', card
    )
    assert "(every 120 s)" in card


def test_a_site_never_checked_says_when_its_first_check_runs(reviewer):
    SiteFactory(id="blog", health_check_interval=300)
    card = _text(_card(reviewer.get("/sites/").content.decode(), "blog"))
    assert "Last check not checked yet" in card
    assert "No health checks yet: the first runs within 300 s of start." in card


def test_the_latency_chart_has_axes_in_ms_and_times(reviewer):
    site = SiteFactory(id="blog")
    now = timezone.now().replace(second=0, microsecond=0)
    for n in range(30):
        SiteHealthSample.objects.create(
            site=site, checked_at=now - timedelta(minutes=n), status=HealthStatus.HEALTHY, latency_ms=100 + n
        )
    card = _card(reviewer.get("/sites/").content.decode(), "blog")
    assert '<text class="unit" x="4" y="13">ms</text>' in card
    assert len(re.findall(r'<text class="tick tick-x"[^>]*>\d\d:\d\d</text>', card)) >= 2
    assert 'aria-label="Latency of blog, last 30 checks: 100\u2013129 ms"' in card


def test_a_long_api_url_can_wrap(reviewer):
    SiteFactory(id="blog", api_url="https://" + "very-long-name." * 8 + "example/wp-json/wp/v2")
    assert '<code class="url">https://very-long-name.' in reviewer.get("/sites/").content.decode()


def test_a_site_id_with_a_dot_is_selected_by_an_escaped_selector(reviewer):
    SiteFactory(id="my.blog")
    html = reviewer.get("/sites/").content.decode()
    card = _card(html, r"my\.blog")
    assert 'hx-target="#site-my\\.blog" hx-select="#site-my\\.blog"' in card
