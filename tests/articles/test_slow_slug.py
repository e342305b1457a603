"""Clean public URLs on a real WordPress (issue 16): a post goes public under WordPress's own slug of its
title (a Chinese title percent-encoded, as WordPress writes it) or the agent's slug, with no article id or
hash, and exactly once: a worker that dies at any point, a duplicate task and a late draft still leave one
public post."""

from __future__ import annotations

import html
import uuid
from datetime import timedelta
from urllib.parse import quote, unquote

import pytest
import requests
from django.utils import timezone

from agents.models import Agent
from articles import services
from articles.models import Article, ArticleStatus
from articles.services import publishing
from sites.wordpress import WordPressClient
from tests.conftest import agent_entry
from tests.support.publishing import approved, publish

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

S = ArticleStatus


@pytest.fixture
def writer(loaded_config, real_wordpress, eager) -> Agent:
    loaded_config(
        agents=[agent_entry("writer")],
        sites=[real_wordpress.site_entry("wp1")],
        publishing={"retry_attempts": 2, "retry_delay": 1, "timeout": 10},
    )
    return Agent.objects.get(pk="writer")


@pytest.fixture
def marker() -> str:
    return uuid.uuid4().hex[:8]


def posts(real_wordpress, marker: str) -> dict[int, tuple[str, str]]:
    """Every post on wp1 whose title has `marker` (the trash excluded): id -> (status, slug)."""
    found = real_wordpress.get("wp1", "/posts", search=marker, status="any", context="edit", per_page=100)
    return {post["id"]: (post["status"], post["slug"]) for post in found}


def live(real_wordpress, article: Article, *, slug: str, title: str) -> dict:
    """The article's post, public at `site root/slug/`, whose page answers 200 with its title."""
    article.refresh_from_db()
    assert article.status == S.PUBLISHED, article.publish_error_message
    post = real_wordpress.get("wp1", f"/posts/{article.wordpress_post_id}", context="edit")
    root = real_wordpress.sites["wp1"]["api_url"].removesuffix("wp-json/wp/v2")
    assert (post["status"], post["slug"]) == ("publish", slug)
    assert post["link"] == article.wordpress_permalink == f"{root}{slug}/"
    page = requests.get(post["link"], timeout=30)
    assert page.status_code == 200 and unquote(page.url) == unquote(post["link"])  # not redirected
    assert title in html.unescape(page.text)
    return post


def test_english_and_chinese_titles_publish_to_clean_urls(writer, real_wordpress, marker):
    english = f"Building a Webhook Consumer {marker}"
    chinese = f"构建网络钩子消费者 {marker}"
    first, second = approved(writer, english), approved(writer, chinese)
    assert publish(first) == S.PUBLISHED and publish(second) == S.PUBLISHED
    live(real_wordpress, first, slug=f"building-a-webhook-consumer-{marker}", title=english)
    # WordPress's own slug of a Chinese title: its UTF-8 percent-encoded, in lowercase.
    slug = quote(f"构建网络钩子消费者-{marker}").lower()
    post = live(real_wordpress, second, slug=slug, title=chinese)
    assert unquote(post["slug"]) == f"构建网络钩子消费者-{marker}"
    assert len(posts(real_wordpress, marker)) == 2


def test_the_agents_slug_wins_and_a_taken_slug_gets_a_suffix(writer, real_wordpress, marker):
    own = approved(writer, f"Any Title {marker}", slug=f"agent-slug-{marker}")
    chinese = approved(writer, f"Other {marker}", slug=f"中文-{marker}")
    same_title = [approved(writer, f"Same Title {marker}") for _ in range(2)]
    for article in (own, chinese, *same_title):
        assert publish(article) == S.PUBLISHED
    live(real_wordpress, own, slug=f"agent-slug-{marker}", title=f"Any Title {marker}")
    live(real_wordpress, chinese, slug=quote(f"中文-{marker}").lower(), title=f"Other {marker}")
    live(real_wordpress, same_title[0], slug=f"same-title-{marker}", title=f"Same Title {marker}")
    live(real_wordpress, same_title[1], slug=f"same-title-{marker}-2", title=f"Same Title {marker}")


@pytest.mark.parametrize(
    ("moment", "owner", "name"),
    [
        ("after create", publishing, "article_publish_post_record"),  # before the record
        ("after record", WordPressClient, "post_update"),  # before public + rename
        ("after rename", publishing, "article_publish_succeed"),  # before success
    ],
)
def test_a_worker_that_dies_at_any_point_leaves_one_public_post_under_the_clean_slug(
    writer, real_wordpress, marker, monkeypatch, moment, owner, name
):
    title = f"Died {moment} {marker}"
    article = approved(writer, title)
    real = getattr(owner, name)

    def die(*args, **kwargs):
        raise SystemExit(f"worker killed at {name}")

    with monkeypatch.context() as patch:
        patch.setattr(owner, name, die)
        with pytest.raises(SystemExit):
            publish(article)
    assert getattr(owner, name) is real
    (left,) = posts(real_wordpress, marker).values()
    if moment == "after rename":
        assert left[0] == "publish"  # renamed already: found again by its recorded id only
    else:
        assert left == ("draft", services.post_slug(article))  # never public with the delivery slug
    Article.objects.filter(pk=article.pk).update(publish_claimed_at=timezone.now() - timedelta(minutes=5))
    assert publish(article) == S.PUBLISHED
    clean = f"died-{moment.replace(' ', '-')}-{marker}"
    post = live(real_wordpress, article, slug=clean, title=title)
    assert posts(real_wordpress, marker) == {post["id"]: ("publish", clean)}


def test_a_duplicate_task_and_a_late_draft_still_leave_one_post(writer, real_wordpress, marker):
    title = f"Exactly Once {marker}"
    article = approved(writer, title)
    assert publish(article) == S.PUBLISHED
    assert publish(article) == "skipped"
    post = live(real_wordpress, article, slug=f"exactly-once-{marker}", title=title)
    # A create whose answer was lost lands after the publish: a draft with the delivery slug.
    late = real_wordpress.post(
        "wp1", "/posts", {"title": title, "content": "x", "status": "draft", "slug": services.post_slug(article)}
    )
    assert services.article_post_reconcile(article_id=article.pk) == [late["id"]]
    assert posts(real_wordpress, marker) == {post["id"]: ("publish", f"exactly-once-{marker}")}
    live(real_wordpress, article, slug=f"exactly-once-{marker}", title=title)
