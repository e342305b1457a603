"""The post's own fields on a real WordPress (issue 16): an article with an excerpt, two categories and a
publish_at tomorrow on a site whose time zone is not UTC becomes one future post at the right date_gmt, its
excerpt and categories read back, even when the worker dies before the post is scheduled; the zone the health
check read is the one the console shows; a draft status stays a draft; a status the site does not allow is
refused before anything reaches WordPress."""

from __future__ import annotations

import html
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from agents.models import Agent
from articles.models import Article, ArticleStatus
from core.exceptions import ValidationFailed
from sites.services import site_health_check
from sites.wordpress import WordPressClient
from tests.conftest import agent_entry
from tests.support.publishing import approved, publish

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

S = ArticleStatus
ZONE = "Asia/Kolkata"  # +5:30 all year: a date in it is never a whole number of hours from UTC


@pytest.fixture
def site_in_india(real_wordpress):
    """wp3 with its time zone set to Asia/Kolkata (Settings > General), by a must-use plugin that only that
    site's home URL enables; removed afterwards."""
    home = real_wordpress.sites["wp3"]["api_url"].removesuffix("/wp-json/wp/v2")
    plugin = real_wordpress.directory / "htdocs" / "wp-content" / "mu-plugins" / "wpl-test-time-zone.php"
    plugin.write_text(
        "<?php\nif (defined('WP_HOME') && WP_HOME === " + repr(home) + ") {\n"
        f"    add_filter('pre_option_timezone_string', function () {{ return '{ZONE}'; }});\n}}\n"
    )
    yield real_wordpress
    plugin.unlink()


@pytest.fixture
def writer(loaded_config, site_in_india, eager) -> Agent:
    loaded_config(
        agents=[agent_entry("writer")],
        sites=[site_in_india.site_entry("wp3", allowed_statuses=["publish", "draft", "pending"])],
        publishing={"retry_attempts": 2, "retry_delay": 1, "timeout": 10},
    )
    return Agent.objects.get(pk="writer")


@pytest.fixture
def marker() -> str:
    return uuid.uuid4().hex[:8]


def posts(real_wordpress, marker: str) -> dict[int, str]:
    """Every post on wp3 whose title has `marker` (the trash excluded): id -> status."""
    found = real_wordpress.get("wp3", "/posts", search=marker, status="any", context="edit", per_page=100)
    return {post["id"]: post["status"] for post in found}


def tomorrow_at_nine() -> datetime:
    """09:00 tomorrow on the site's clock."""
    today = timezone.now().astimezone(ZoneInfo(ZONE)).date()
    return datetime.combine(today + timedelta(days=1), time(9, 0), tzinfo=ZoneInfo(ZONE))


def test_excerpt_two_categories_and_a_schedule_tomorrow_make_one_future_post(
    writer, site_in_india, marker, monkeypatch
):
    site = site_health_check(site_id="wp3")
    assert (site.health_status, site.time_zone) == ("healthy", ZONE)
    when = tomorrow_at_nine()
    categories = [f"Guides {marker}", f"Python & Go {marker}"]
    article = approved(
        writer,
        f"Scheduled {marker}",
        excerpt="Tips & <b>tricks</b>, plainly",
        categories=categories,
        publish_at=when.isoformat(),
    )

    def die(*args, **kwargs):
        raise SystemExit("worker killed before the post was scheduled")

    with monkeypatch.context() as patch:
        patch.setattr(WordPressClient, "post_update", die)
        with pytest.raises(SystemExit):
            publish(article)
    (draft_id,) = posts(site_in_india, marker)
    Article.objects.filter(pk=article.pk).update(publish_claimed_at=timezone.now() - timedelta(minutes=5))
    assert publish(article) == S.PUBLISHED
    article.refresh_from_db()
    assert article.wordpress_post_id == draft_id
    assert posts(site_in_india, marker) == {draft_id: "future"}

    post = site_in_india.get("wp3", f"/posts/{draft_id}", context="edit")
    assert post["date_gmt"] == when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert post["date"] == when.strftime("%Y-%m-%dT09:00:00")  # 09:00 on the site's clock
    assert html.unescape(post["excerpt"]["raw"]) == "Tips & <b>tricks</b>, plainly"
    assert "<b>" not in post["excerpt"]["rendered"]  # shown as written, not as markup
    terms = site_in_india.get("wp3", "/categories", include=",".join(map(str, post["categories"])), context="edit")
    assert sorted(html.unescape(term["name"]) for term in terms) == sorted(categories)
    assert post["slug"] == f"scheduled-{marker}"

    assert publish(article) == "skipped"  # a duplicate task changes nothing
    assert site_in_india.get("wp3", f"/posts/{draft_id}", context="edit")["modified_gmt"] == post["modified_gmt"]


def test_a_draft_status_leaves_a_draft(writer, site_in_india, marker):
    article = approved(writer, f"Draft {marker}", status="draft", excerpt="Later")
    assert publish(article) == S.PUBLISHED
    post = site_in_india.get("wp3", f"/posts/{Article.objects.get(pk=article.pk).wordpress_post_id}", context="edit")
    assert (post["status"], post["excerpt"]["raw"]) == ("draft", "Later")
    assert posts(site_in_india, marker) == {post["id"]: "draft"}


def test_a_status_the_site_does_not_allow_is_refused_and_nothing_reaches_wordpress(writer, site_in_india, marker):
    with pytest.raises(ValidationFailed) as refused:
        approved(writer, f"Private {marker}", status="private")
    assert refused.value.message == (
        "status 'private' is not allowed on site wp3 (allowed_statuses: publish, draft, pending)"
    )
    assert not Article.objects.exists() and posts(site_in_india, marker) == {}
