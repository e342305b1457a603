"""The publishing pipeline (task + services) against a fake WordPress: retries, failures, exactly once.
The same behaviour against a real WordPress is in tests/sites/test_real_wordpress.py."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.actors import Actor
from agents.models import Agent
from articles import services, tasks
from articles.models import Article, ArticleStatus
from audit.models import AuditLog
from sites.models import Site
from tests.conftest import agent_entry
from tests.factories import UserFactory
from tests.sites.fake_wordpress import Failure

pytestmark = pytest.mark.django_db

S = ArticleStatus


@pytest.fixture
def setup(loaded_config, fake_wp, eager):
    def load(publishing=None, **site):
        loaded_config(
            agents=[agent_entry("writer")],
            sites=[
                {
                    "id": "blog",
                    "name": "Blog",
                    "api_url": fake_wp.api_url,
                    "username": "publisher",
                    "app_password": fake_wp.password,
                    **site,
                }
            ],
            publishing={"retry_attempts": 2, "retry_delay": 1, "timeout": 2, **(publishing or {})},
        )
        return Agent.objects.get(pk="writer")

    return load


def approve(article, capture):
    with capture(execute=True):
        services.article_approve(actor=Actor(user=UserFactory()), article_id=article.pk, expected_revision=1)
    article.refresh_from_db()
    return article


def audit_events(article) -> list[str]:
    return list(AuditLog.objects.filter(article_id=article.pk).order_by("id").values_list("event_type", flat=True))


def test_approved_article_is_published_with_sanitized_html_category_and_tags(
    setup, fake_wp, django_capture_on_commit_callbacks
):
    writer = setup()
    fake_wp.terms["tags"].append({"id": 9, "name": "python", "slug": "python"})
    article = services.article_submit(
        agent=writer,
        title="Hello World",
        tags=["python", "new tag"],
        category="News",
        content_markdown="Hi <script>alert(1)</script><img src=x onerror=alert(2)> [x](javascript:alert(3))",
    )
    article = approve(article, django_capture_on_commit_callbacks)
    assert article.status == S.PUBLISHED
    (post,) = fake_wp.posts
    assert post["title"] == "Hello World" and post["status"] == "publish"
    assert (post["slug"], post["link"]) == ("hello-world", "http://wp.test/hello-world/")
    assert "script" not in post["content"] and "onerror" not in post["content"] and "javascript:" not in post["content"]
    assert post["tags"] == [9, fake_wp.terms["tags"][-1]["id"]] and fake_wp.terms["tags"][-1]["name"] == "new tag"
    assert post["categories"] == [fake_wp.terms["categories"][-1]["id"]]
    assert (article.wordpress_post_id, article.wordpress_permalink) == (post["id"], post["link"])
    assert Site.objects.get(pk="blog").total_posts_published == 1


def test_site_defaults_apply_when_the_article_has_no_category_or_tags(
    setup, fake_wp, django_capture_on_commit_callbacks
):
    writer = setup(default_category="Uncategorized", default_tags=["auto", "agents"])
    article = services.article_submit(agent=writer, title="T", content_markdown="x")
    approve(article, django_capture_on_commit_callbacks)
    (post,) = fake_wp.posts
    assert post["categories"] == [1]
    assert [t["name"] for t in fake_wp.terms["tags"]] == ["auto", "agents"]


def test_draft_status_follows_publishing_default_status(setup, fake_wp, django_capture_on_commit_callbacks):
    writer = setup(publishing={"default_status": "draft"})
    approve(
        services.article_submit(agent=writer, title="T", content_markdown="x"),
        django_capture_on_commit_callbacks,
    )
    assert fake_wp.posts[0]["status"] == "draft"


def test_temporary_failures_are_retried_then_published(setup, fake_wp, django_capture_on_commit_callbacks):
    writer = setup()
    fake_wp.fail("POST", "/posts", Failure(status=503), Failure(status=429))
    article = approve(
        services.article_submit(agent=writer, title="T", content_markdown="x"),
        django_capture_on_commit_callbacks,
    )
    assert article.status == S.PUBLISHED and article.publish_attempts == 3
    assert len(fake_wp.posts) == 1
    assert audit_events(article).count("publish_retry_scheduled") == 2


def test_retries_stop_at_retry_attempts_and_the_article_stays_retryable(
    setup, fake_wp, django_capture_on_commit_callbacks
):
    writer = setup()
    fake_wp.fail("GET", "/posts", *[Failure(status=502)] * 3)
    article = approve(
        services.article_submit(agent=writer, title="T", content_markdown="x"),
        django_capture_on_commit_callbacks,
    )
    assert article.status == S.PUBLISH_FAILED
    assert article.publish_error_message.startswith("site blog answered HTTP 502 to GET")
    assert fake_wp.count("GET", "/posts") == 3  # first try + 2 retries
    with django_capture_on_commit_callbacks(execute=True):
        services.article_retry_publish(article_id=article.pk, actor=Actor(user=UserFactory()))
    article.refresh_from_db()
    assert article.status == S.PUBLISHED and len(fake_wp.posts) == 1


def test_a_refusal_fails_at_once_without_retries(setup, fake_wp, django_capture_on_commit_callbacks):
    writer = setup()
    fake_wp.fail(
        "POST",
        "/posts",
        Failure(status=400, body={"code": "rest_invalid_param", "message": "Invalid parameter(s): status"}),
    )
    article = approve(
        services.article_submit(agent=writer, title="T", content_markdown="x"),
        django_capture_on_commit_callbacks,
    )
    assert article.status == S.PUBLISH_FAILED
    assert article.publish_error_message.endswith("rest_invalid_param: Invalid parameter(s): status")
    assert fake_wp.count("POST", "/posts") == 1


def test_a_wrong_password_fails_with_the_authentication_message(setup, fake_wp, django_capture_on_commit_callbacks):
    writer = setup(app_password="wrong pass word abcd efgh")
    article = approve(
        services.article_submit(agent=writer, title="T", content_markdown="x"),
        django_capture_on_commit_callbacks,
    )
    assert article.status == S.PUBLISH_FAILED
    assert article.publish_error_message == "authentication failed for site blog (check username/app_password)"


def test_a_post_created_by_a_dead_attempt_is_reused_not_duplicated(setup, fake_wp, monkeypatch):
    writer = setup()
    article = services.article_submit(agent=writer, title="Once", content_markdown="x")
    services.article_approve(actor=Actor(user=UserFactory()), article_id=article.pk, expected_revision=1)

    def die(**kwargs):
        raise SystemExit("worker killed after WordPress created the post")

    with monkeypatch.context() as patch:
        patch.setattr("articles.services.publishing.article_publish_succeed", die)
        with pytest.raises(SystemExit):
            tasks.publish_article.apply(args=(article.pk,))
    assert len(fake_wp.posts) == 1
    # While the dead worker's claim is fresh, a second delivery does nothing.
    assert tasks.publish_article.apply(args=(article.pk,)).get() == "skipped"
    Article.objects.filter(pk=article.pk).update(publish_claimed_at=timezone.now() - timedelta(minutes=5))
    assert tasks.publish_article.apply(args=(article.pk,)).get() == S.PUBLISHED
    assert len(fake_wp.posts) == 1
    article.refresh_from_db()
    assert article.wordpress_post_id == fake_wp.posts[0]["id"]


def test_a_post_is_created_as_a_draft_and_made_public_by_id(setup, fake_wp, django_capture_on_commit_callbacks):
    writer = setup()
    article = approve(
        services.article_submit(agent=writer, title="Draft first", content_markdown="x"),
        django_capture_on_commit_callbacks,
    )
    (post,) = fake_wp.posts
    assert post["status"] == "publish" and article.wordpress_post_id == post["id"]
    writes = [call for call in fake_wp.calls if call[0] == "POST" and call[1].startswith("/posts")]
    assert writes == [("POST", "/posts"), ("POST", f"/posts/{post['id']}")]


def test_a_create_whose_answer_was_lost_never_makes_a_second_public_post(
    setup, fake_wp, django_capture_on_commit_callbacks
):
    """WordPress takes longer than publishing.timeout to create the post: the attempt gives up, the next
    one creates another, and the first create lands afterwards. Only one post is ever public, and the
    late one is trashed and audited once it has landed."""
    writer = setup(publishing={"timeout": 1})
    fake_wp.fail("POST", "/posts", Failure(delay=2.5, lands=True))
    article = approve(
        services.article_submit(agent=writer, title="Slow site", content_markdown="x"),
        django_capture_on_commit_callbacks,
    )
    assert article.status == S.PUBLISHED and article.publish_attempts == 2
    landed_by = time.monotonic() + 10
    while len(fake_wp.posts) < 2 and time.monotonic() < landed_by:
        time.sleep(0.1)
    late = next(p for p in fake_wp.posts if p["id"] != article.wordpress_post_id)
    assert late["status"] == "draft"  # landed, but never public
    assert [p["id"] for p in fake_wp.posts if p["status"] == "publish"] == [article.wordpress_post_id]
    assert services.article_post_reconcile(article_id=article.pk) == [late["id"]]
    assert late["status"] == "trash"
    (trashed,) = AuditLog.objects.filter(article_id=article.pk, event_type="publish_duplicate_trashed")
    assert trashed.metadata["post_id"] == late["id"] and trashed.metadata["kept_post_id"] == article.wordpress_post_id
    assert services.article_post_reconcile(article_id=article.pk) == []


def test_a_later_attempt_keeps_the_recorded_post_and_trashes_the_others(setup, fake_wp):
    writer = setup()
    article = services.article_submit(agent=writer, title="Two drafts", content_markdown="x")
    services.article_approve(actor=Actor(user=UserFactory()), article_id=article.pk, expected_revision=1)
    slug = services.post_slug(Article.objects.get(pk=article.pk))
    fake_wp.posts += [
        {"id": 7, "slug": slug, "status": "draft", "link": ""},
        {"id": 8, "slug": slug, "status": "draft", "link": ""},
    ]
    Article.objects.filter(pk=article.pk).update(wordpress_post_id=8)
    assert tasks.publish_article.apply(args=(article.pk,)).get() == S.PUBLISHED
    assert {p["id"]: p["status"] for p in fake_wp.posts} == {7: "trash", 8: "publish"}
    assert Article.objects.get(pk=article.pk).wordpress_post_id == 8


def test_the_concurrency_limit_defers_a_publish_without_spending_a_retry(setup, fake_wp, monkeypatch):
    writer = setup(publishing={"max_concurrent_publishes": 1})
    first, second = (services.article_submit(agent=writer, title=t, content_markdown="x") for t in ("A", "B"))
    for article in (first, second):
        services.article_approve(actor=Actor(user=UserFactory()), article_id=article.pk, expected_revision=1)
    services.article_publish_start(article_id=first.pk, stale_after=timedelta(minutes=1))
    deferred = []
    monkeypatch.setattr(
        tasks.publish_article, "apply_async", lambda args, countdown: deferred.append((args, countdown))
    )
    assert tasks.publish_article.apply(args=(second.pk,)).get() == "busy"
    assert deferred and deferred[0][0] == (second.pk,) and 2.5 <= deferred[0][1] <= 7.5
    second.refresh_from_db()
    assert (second.status, second.publish_attempts) == (S.PUBLISHING, 0)


def _recorded_enqueues(monkeypatch) -> list[int]:
    """The publish tasks recovery queues, recorded instead of sent."""
    queued: list[int] = []
    monkeypatch.setattr("articles.services.publishing.task_enqueue", lambda name, article_id: queued.append(article_id))
    return queued


def test_recovery_requeues_stale_claims_and_lost_tasks_only(setup, fake_wp, monkeypatch):
    writer = setup()
    articles = [services.article_submit(agent=writer, title=t, content_markdown="x") for t in "ABCDE"]
    for article in articles:
        services.article_approve(actor=Actor(user=UserFactory()), article_id=article.pk, expected_revision=1)
    dead, fresh, lost, waiting, retrying = articles
    now = timezone.now()
    Article.objects.filter(pk=dead.pk).update(publish_claimed_at=now - timedelta(seconds=13))
    Article.objects.filter(pk=fresh.pk).update(publish_claimed_at=now - timedelta(seconds=5))
    # Approved 31 s ago and no worker took it: its message was lost.
    Article.objects.filter(pk=lost.pk).update(publish_due_at=now - timedelta(seconds=31))
    # A retry waiting for its countdown, approved long ago.
    Article.objects.filter(pk=retrying.pk).update(
        publish_due_at=now + timedelta(seconds=100), updated_at=now - timedelta(hours=1)
    )
    queued = _recorded_enqueues(monkeypatch)
    assert services.article_publish_recover() == [dead.pk, lost.pk] == queued
    assert AuditLog.objects.filter(event_type="publish_recovered").count() == 2
    assert waiting.pk not in queued
    # The re-queued task gets its own time before another is queued.
    assert services.article_publish_recover() == [dead.pk]


def test_a_lost_publish_task_is_queued_again_within_a_minute(setup, fake_wp, queued, monkeypatch):
    """The message of an approval never reached a worker: beat's next looks (every 15 s) find it."""
    writer = setup()
    article = services.article_submit(agent=writer, title="Lost", content_markdown="x")
    approved_at = timezone.now()
    services.article_approve(actor=Actor(user=UserFactory()), article_id=article.pk, expected_revision=1)
    looks = [approved_at + timedelta(seconds=s) for s in range(15, 61, 15)]
    _recorded_enqueues(monkeypatch)
    found_at = None
    for moment in looks:
        monkeypatch.setattr(timezone, "now", lambda moment=moment: moment)
        if services.article_publish_recover():
            found_at = moment
            break
    assert found_at is not None and found_at - approved_at <= timedelta(seconds=60)


def test_a_claim_of_a_dead_worker_on_this_host_is_taken_over_at_once(setup, fake_wp, monkeypatch):
    import socket
    import subprocess

    writer = setup()
    article = services.article_submit(agent=writer, title="T", content_markdown="x")
    services.article_approve(actor=Actor(user=UserFactory()), article_id=article.pk, expected_revision=1)
    dead = subprocess.Popen(["true"])  # a process that surely ended
    dead.wait()
    Article.objects.filter(pk=article.pk).update(
        publish_claimed_at=timezone.now(), publish_claimed_by=f"{socket.gethostname()}:{dead.pid}"
    )
    queued = _recorded_enqueues(monkeypatch)
    assert services.article_publish_recover() == [article.pk] == queued
    assert tasks.publish_article.apply(args=(article.pk,)).get() == S.PUBLISHED
    # A live claimant (this process) is left alone.
    other = services.article_submit(agent=writer, title="U", content_markdown="x")
    services.article_approve(actor=Actor(user=UserFactory()), article_id=other.pk, expected_revision=1)
    services.article_publish_start(article_id=other.pk, stale_after=timedelta(minutes=1))
    assert services.article_publish_start(article_id=other.pk, stale_after=timedelta(minutes=1)) is None


def test_the_post_slug_is_fixed_per_article_and_revision(setup):
    writer = setup()
    article = services.article_submit(agent=writer, title="Ünïcode & Spaces!", content_markdown="x")
    slug = services.post_slug(article)
    assert re.fullmatch(rf"unicode-spaces-{article.pk}-[0-9a-f]{{8}}", slug)
    assert services.post_slug(Article.objects.get(pk=article.pk)) == slug
    revised = services.article_revise(agent=writer, article_id=article.pk, content_markdown="y")
    assert services.post_slug(revised) != slug
    untitled = services.article_submit(agent=writer, title="日本語", content_markdown="x")
    assert services.post_slug(untitled).startswith(f"article-{untitled.pk}-")
