"""Publishing and health checks against three real WordPress sites (scripts/wordpress-local.sh)."""

from __future__ import annotations

import re
import uuid

import pytest

from agents.actors import Actor
from agents.models import Agent
from articles import services
from articles.models import Article, ArticleStatus
from audit.models import AuditLog
from sites.services import site_health_check
from tests.conftest import agent_entry
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

S = ArticleStatus
XSS = (
    "Intro **bold**\n\n<script>alert(1)</script><img src=x onerror=alert(2)> [click](javascript:alert(3)) "
    '<div hx-get="/admin/" hx-trigger="load">x</div><svg onload=alert(4)></svg>'
)


@pytest.fixture
def wordpress(loaded_config, real_wordpress, eager):
    def load(*, publishing=None, **site_overrides):
        sites = [
            real_wordpress.site_entry(site_id, **site_overrides.get(site_id, {})) for site_id in ("wp1", "wp2", "wp3")
        ]
        loaded_config(
            agents=[agent_entry("writer")],
            sites=sites,
            publishing={"retry_attempts": 2, "retry_delay": 1, "timeout": 10, **(publishing or {})},
        )
        return Agent.objects.get(pk="writer")

    return load


def unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"


def approve(article_id: int, capture) -> object:
    with capture(execute=True):
        services.article_approve(actor=Actor(user=UserFactory()), article_id=article_id, expected_revision=1)
    return Article.objects.get(pk=article_id)


def test_an_approved_article_lands_once_on_its_site_and_nowhere_else(
    wordpress, real_wordpress, django_capture_on_commit_callbacks
):
    writer = wordpress()
    existing_tag = real_wordpress.post("wp2", "/tags", {"name": unique("existing")})
    new_tag, category, title = unique("new"), unique("Category"), unique("Real post")
    article = services.article_submit(
        agent=writer,
        title=title,
        content_markdown=XSS,
        target_site="wp2",
        tags=[existing_tag["name"], new_tag],
        category=category,
    )
    article = approve(article.pk, django_capture_on_commit_callbacks)
    assert article.status == S.PUBLISHED, article.publish_error_message

    (post,) = real_wordpress.get("wp2", "/posts", search=title, status="any", context="edit")
    assert post["id"] == article.wordpress_post_id and post["status"] == "publish"
    assert post["title"]["raw"] == title
    assert article.wordpress_permalink == post["link"]
    content = post["content"]["raw"]
    assert "<strong>bold</strong>" in content
    for payload in ("<script", "onerror", "hx-get", "hx-trigger", "onload", "<svg"):
        assert payload not in content
    # The line starts with <script>: a CommonMark HTML block, in which the link stays literal (inert) text.
    assert not re.search(r"<[^>]*javascript:", content)
    # The existing tag was reused by id, the missing one and the category were created.
    assert existing_tag["id"] in post["tags"] and len(post["tags"]) == 2
    tag_names = {t["name"] for t in real_wordpress.get("wp2", "/tags", include=",".join(map(str, post["tags"])))}
    assert tag_names == {existing_tag["name"], new_tag}
    (created,) = real_wordpress.get("wp2", "/categories", include=str(post["categories"][0]))
    assert created["name"] == category and post["categories"] == [created["id"]]
    for other in ("wp1", "wp3"):
        assert real_wordpress.get(other, "/posts", search=title, status="any", context="edit") == []


def test_the_sites_default_category_and_tags_apply(wordpress, real_wordpress, django_capture_on_commit_callbacks):
    category, tag = unique("Default category"), unique("default-tag")
    writer = wordpress(wp3={"default_category": category, "default_tags": [tag]})
    article = services.article_submit(agent=writer, title=unique("Defaults"), content_markdown="x", target_site="wp3")
    article = approve(article.pk, django_capture_on_commit_callbacks)
    post = real_wordpress.get("wp3", f"/posts/{article.wordpress_post_id}", context="edit")
    assert [c["name"] for c in real_wordpress.get("wp3", "/categories", include=str(post["categories"][0]))] == [
        category
    ]
    assert [t["name"] for t in real_wordpress.get("wp3", "/tags", include=str(post["tags"][0]))] == [tag]


def test_a_stopped_site_fails_after_the_retries_and_publishes_once_when_back(
    wordpress, real_wordpress, django_capture_on_commit_callbacks
):
    writer = wordpress()
    title = unique("Down")
    article = services.article_submit(agent=writer, title=title, content_markdown="x", target_site="wp1")
    real_wordpress.stop("wp1")
    try:
        article = approve(article.pk, django_capture_on_commit_callbacks)
        assert article.status == S.PUBLISH_FAILED
        assert article.publish_error_message.startswith("site wp1 unreachable at http://127.0.0.1:")
        assert article.publish_error_message.endswith("connection refused")
        assert AuditLog.objects.filter(article_id=article.pk, event_type="publish_retry_scheduled").count() == 2
    finally:
        real_wordpress.start("wp1")
    with django_capture_on_commit_callbacks(execute=True):
        services.article_retry_publish(article_id=article.pk, actor=Actor(user=UserFactory()))
    article.refresh_from_db()
    assert article.status == S.PUBLISHED
    assert len(real_wordpress.get("wp1", "/posts", search=title, status="any", context="edit")) == 1


def test_a_wrong_application_password_fails_publishing_and_health(wordpress, django_capture_on_commit_callbacks):
    writer = wordpress(wp1={"app_password": "aaaa bbbb cccc dddd eeee ffff"})
    article = services.article_submit(
        agent=writer, title=unique("Wrong password"), content_markdown="x", target_site="wp1"
    )
    article = approve(article.pk, django_capture_on_commit_callbacks)
    message = "authentication failed for site wp1 (check username/app_password)"
    assert (article.status, article.publish_error_message) == (S.PUBLISH_FAILED, message)
    site = site_health_check(site_id="wp1")
    assert (site.health_status, site.health_detail) == ("error", message)
    assert site.health_message == "authentication refused (check username/app_password)"


def test_health_checks_record_healthy_and_unreachable_sites(wordpress, real_wordpress):
    wordpress()
    site = site_health_check(site_id="wp2")
    assert (site.health_status, site.health_message) == ("healthy", "authenticated as publisher")
    assert site.health_latency_ms > 0
    real_wordpress.stop("wp3")
    try:
        site = site_health_check(site_id="wp3")
    finally:
        real_wordpress.start("wp3")
    assert site.health_status == "error" and "unreachable" in site.health_message
