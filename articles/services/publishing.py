"""Publishing an approved article to WordPress exactly once: the claim, the post (found by its delivery slug
before one is created, then by its recorded id), success, retries, failure, reconciliation and recovery of lost
tasks."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.models import Agent
from articles.exceptions import InvalidTransition, PublishingBusy
from articles.models import Article
from articles.models import ArticleStatus as S
from articles.rendering import post_content_build
from articles.services.transitions import CLAIM_RELEASED, article_transition
from articles.services.validation import SCHEDULED_STATUS
from audit.models import EventType, Severity
from audit.services import audit_record
from core.config.state import config_current
from core.config.types import PublishingSettings, SiteConfig
from core.processes import process_is_dead, process_label
from core.tasks import task_enqueue, task_enqueue_on_commit
from sites.models import Site
from sites.wordpress import WordPressClient, time_budget, wordpress_client

PUBLISH_CLAIM_MARGIN = timedelta(seconds=10)
# The Celery task that publishes an article (articles.tasks.publish_article), queued by name (core.tasks).
PUBLISH_TASK = "articles.publish_article"


# Claims are taken one at a time so the concurrency limit holds across workers; any constant will do.
_CLAIM_LOCK_ID = 0x77707562


def _serialize_claims() -> None:
    """Inside a transaction: wait for other workers' claims to finish. SQLite already serializes writing
    transactions (they BEGIN IMMEDIATE); PostgreSQL takes an advisory lock until commit."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CLAIM_LOCK_ID])


def article_publish_start(
    *, article_id: int, stale_after: timedelta, max_concurrent: int | None = None
) -> Article | None:
    """Claim a publishing article for this worker. None when there is nothing to do: it is not publishing
    (already published, failed, or gone) or another worker claimed it less than `stale_after` ago.
    Raises PublishingBusy when `max_concurrent` publishes already hold a claim."""
    article = Article.objects.select_related("target_site", "submitting_agent").filter(pk=article_id).first()
    if article is None or article.status != S.PUBLISHING:
        return None
    now = timezone.now()
    unclaimed = Q(publish_claimed_at__isnull=True) | Q(publish_claimed_at__lt=now - stale_after)
    if process_is_dead(article.publish_claimed_by):
        # Its worker died on this host (killed, out of memory): take over the very claim we saw.
        unclaimed |= Q(publish_claimed_by=article.publish_claimed_by, publish_claimed_at=article.publish_claimed_at)
    with transaction.atomic():
        _serialize_claims()
        if max_concurrent is not None:
            running = Article.objects.filter(status=S.PUBLISHING, publish_claimed_at__gte=now - stale_after)
            if running.exclude(pk=article_id).count() >= max_concurrent:
                raise PublishingBusy(f"{max_concurrent} publishes are running (publishing.max_concurrent_publishes)")
        try:
            article_transition(
                article=article,
                move="publish_start",
                guard=unclaimed,
                fields={
                    "publish_claimed_at": now,
                    "publish_claimed_by": process_label(),
                    "publish_attempts": F("publish_attempts") + 1,
                },
                message=f"publishing article {article.pk} to {article.target_site_id} "
                f"(attempt {article.publish_attempts + 1})",
                metadata={"attempt": article.publish_attempts + 1},
            )
        except InvalidTransition:
            return None
    article.refresh_from_db()
    return article


def article_publish_retry_later(*, article_id: int, error: str, delay_seconds: float) -> None:
    """Release the claim after a temporary failure; the task runs again after `delay_seconds`."""
    article = Article.objects.get(pk=article_id)
    article_transition(
        article=article,
        move="publish_retry_later",
        fields={
            **CLAIM_RELEASED,
            "publish_error_message": error,
            "publish_due_at": timezone.now() + timedelta(seconds=delay_seconds),
        },
        severity=Severity.WARNING,
        message=f"publishing article {article.pk} to {article.target_site_id} failed, "
        f"retrying in {delay_seconds:.0f}s: {error}",
        metadata={
            "error": error,
            "delay_seconds": round(delay_seconds, 1),
            "attempt": article.publish_attempts,
        },
    )


def article_publish_succeed(*, article_id: int, post_id: int, permalink: str) -> Article:
    article = Article.objects.get(pk=article_id)
    now = timezone.now()
    # How long the successful attempt took, for the monitoring page.
    duration_ms = (
        round((now - article.publish_claimed_at).total_seconds() * 1000) if article.publish_claimed_at else None
    )
    with transaction.atomic():
        article_transition(
            article=article,
            move="publish_succeed",
            fields={
                "wordpress_post_id": post_id,
                "wordpress_permalink": permalink[:500],
                "published_at": now,
                **CLAIM_RELEASED,
                "publish_error_message": "",
            },
            message=f"article {article.pk} published to {article.target_site_id} as post {post_id}",
            metadata={
                "post_id": post_id,
                "permalink": permalink,
                "attempt": article.publish_attempts,
                "duration_ms": duration_ms,
            },
        )
        Site.objects.filter(pk=article.target_site_id).update(total_posts_published=F("total_posts_published") + 1)
        Agent.objects.filter(pk=article.submitting_agent_id).update(
            total_articles_published=F("total_articles_published") + 1
        )
    article.refresh_from_db()
    return article


def article_publish_fail(*, article_id: int, error: str) -> Article:
    """Give up on this publish: the article becomes publish_failed and can be retried."""
    article = Article.objects.get(pk=article_id)
    with transaction.atomic():
        article_transition(
            article=article,
            move="publish_fail",
            fields={**CLAIM_RELEASED, "publish_error_message": error},
            severity=Severity.ERROR,
            message=f"publishing article {article.pk} to {article.target_site_id} failed: {error}",
            metadata={"error": error, "attempt": article.publish_attempts},
        )
        Site.objects.filter(pk=article.target_site_id).update(total_publish_failures=F("total_publish_failures") + 1)
    article.refresh_from_db()
    return article


def article_publish_defer(*, article_id: int, delay_seconds: float) -> bool:
    """Put off an unclaimed publish by `delay_seconds` (the concurrency limit was reached). False when
    another delivery of the task already holds a later start: the caller then drops its own, so that a
    task re-queued by recovery does not multiply while the limit holds."""
    now = timezone.now()
    return bool(
        Article.objects.filter(pk=article_id, status=S.PUBLISHING, publish_claimed_at__isnull=True)
        .filter(Q(publish_due_at__isnull=True) | Q(publish_due_at__lte=now))
        .update(publish_due_at=now + timedelta(seconds=delay_seconds))
    )


def article_publish_post_record(*, article_id: int, post_id: int) -> bool:
    """Remember the WordPress post that is the article's, before it is made public and renamed: every later
    attempt and the reconciliation then keep that one and trash any other, and find it by this id once it
    no longer has its delivery slug. False when this worker's claim was taken over: it must then leave the
    post alone (the worker holding the claim decides which post to keep)."""
    return bool(
        Article.objects.filter(pk=article_id, status=S.PUBLISHING, publish_claimed_by=process_label()).update(
            wordpress_post_id=post_id
        )
    )


def post_slug(article: Article) -> str:
    """The delivery slug of an article's post: the slug its draft is created with, fixed by the article and
    its approved revision, so a retried publish finds a draft an earlier attempt created (drafts keep their
    exact slug) instead of posting again, and the reconciliation finds drafts that landed late. The post
    leaves it when it is made public (`_post_ensure_one`). The short hash over id, creation time and
    revision keeps it apart from the drafts of another wpublisher installation (or an earlier database)
    that had an article with the same id."""
    from django.utils.text import slugify

    stem = slugify(article.title)[:60].strip("-")
    identity = f"{article.pk}:{article.created_at.isoformat()}:{article.revision_number}"
    suffix = f"{article.pk}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"
    return f"{stem}-{suffix}" if stem else f"article-{suffix}"


# WordPress's status of a post dated ahead, and how far ahead: a post dated less than this ahead is published
# at once (`wp_insert_post`).
FUTURE = "future"
FUTURE_MARGIN = timedelta(minutes=1)


def post_status_final(*, article: Article, default: str, now: datetime) -> str:
    """The WordPress status an article's post ends with: the one it asked for, else `default`
    (publishing.default_status); "future" while its `publish_at` is still ahead, so WordPress publishes it
    then. Approved after that time, it is published at once (and dated now: its draft is created undated)."""
    if article.publish_at is not None:
        return FUTURE if article.publish_at - now >= FUTURE_MARGIN else SCHEDULED_STATUS
    return article.post_status or default


def publish_claim_stale_after(publishing: PublishingSettings) -> timedelta:
    """How old a claim must be before another worker may take it over: a publish gives up by itself after
    `publishing.timeout` seconds (its WordPress calls share that budget), plus a margin for bookkeeping."""
    return timedelta(seconds=publishing.timeout) + PUBLISH_CLAIM_MARGIN


def publish_reconcile_delay(publishing: PublishingSettings) -> float:
    """How long after a publish that needed several attempts its site is looked at again for duplicates:
    a create sent by an attempt that timed out lands, if ever, within a few timeouts of being sent."""
    return 2.0 * publishing.timeout + PUBLISH_CLAIM_MARGIN.total_seconds()


def _article_posts(client: WordPressClient, article: Article) -> list[dict]:
    """The posts on WordPress that are this article's: those with its delivery slug, oldest first, and the
    one recorded for it if the slug no longer finds it (made public, it has its public slug)."""
    posts = client.posts_find_by_slug(post_slug(article))
    recorded = article.wordpress_post_id
    if recorded and all(int(post["id"]) != recorded for post in posts):
        post = client.post_get(recorded)
        if post is not None:
            posts.insert(0, post)
    return posts


def _post_duplicate_trash(*, client: WordPressClient, article: Article, post: dict, keeper_id: int) -> None:
    client.post_trash(int(post["id"]))
    audit_record(
        event_type=EventType.PUBLISH_DUPLICATE_TRASHED,
        severity=Severity.WARNING,
        message=f"post {post['id']} on {article.target_site_id}, a duplicate of article {article.pk}'s post "
        f"{keeper_id} left by an attempt whose answer was lost, was moved to the trash",
        article_id=article.pk,
        site_id=article.target_site_id,
        metadata={"post_id": int(post["id"]), "status": post.get("status", ""), "kept_post_id": keeper_id},
    )


def _post_ensure_one(*, client: WordPressClient, article: Article, site: SiteConfig, status: str) -> dict | None:
    """The article's one post on WordPress, created if there is none yet, every duplicate trashed, and
    given its final `status` and public slug. None when another worker took the publish over.

    A create whose answer was lost (a timeout, a dropped connection) may still be running on WordPress
    and land after a later attempt looked. So posts are created as drafts with the delivery slug
    (`post_slug`), which are never public, and the post to keep is recorded before it is made public by
    id: the recorded one, else the oldest. A draft that lands after the lookup is trashed by the
    reconciliation that follows (`article_post_reconcile`).

    Making it public renames it in the same update: `slug` becomes the agent's, or "" for WordPress's own
    slug of the title (WordPress derives it when a post is published without one; a taken slug gets
    `-2`). From then on the post is found by its recorded id, so the rename waits for the record, and a
    post that still has the delivery slug is not done yet: a later attempt finishes it."""
    posts = _article_posts(client, article)
    if not posts:
        category = article.category or site.default_category
        content = post_content_build(html=article.content_html, title=article.title, site=site)
        created = client.post_create(
            title=article.title,  # sent as plain text by the client, like category and tag names
            content=content,
            status="draft",
            slug=post_slug(article),
            categories=client.term_ids("categories", article.category_names or ([category] if category else [])),
            tags=client.term_ids("tags", list(article.tags or site.default_tags)),
            excerpt=article.excerpt,
            date_gmt=article.publish_at if status == FUTURE else None,
        )
        posts = [created]
    keeper = next((post for post in posts if int(post["id"]) == article.wordpress_post_id), posts[0])
    keeper_id = int(keeper["id"])
    if keeper_id != article.wordpress_post_id:
        if not article_publish_post_record(article_id=article.pk, post_id=keeper_id):
            return None
        article.wordpress_post_id = keeper_id
    for post in posts:
        if int(post["id"]) != keeper_id:
            _post_duplicate_trash(client=client, article=article, post=post, keeper_id=keeper_id)
    if keeper.get("status") != status or keeper.get("slug") == post_slug(article):
        keeper = client.post_update(keeper_id, status=status, slug=article.slug)
    return keeper


def article_publish(*, article_id: int) -> Article | None:
    """Publish an approved article to its WordPress site, exactly once.

    Claims the article (None when there is nothing to do, or when another worker took it over meanwhile),
    then talks to WordPress outside any transaction (`_post_ensure_one`). Raises WordPressError, leaving
    the claim for the caller to release (`article_publish_retry_later`) or give up
    (`article_publish_fail`), and PublishingBusy when the concurrency limit is reached (nothing was
    claimed)."""

    config = config_current()
    publishing = config.publishing
    article = article_publish_start(
        article_id=article_id,
        stale_after=publish_claim_stale_after(publishing),
        max_concurrent=publishing.max_concurrent_publishes,
    )
    if article is None:
        return None
    site = config.site(article.target_site_id)
    if site is None:
        return article_publish_fail(
            article_id=article_id, error=f"site '{article.target_site_id}' is no longer in sites.yml"
        )
    with time_budget(publishing.timeout):
        post = _post_ensure_one(
            client=wordpress_client(site, timeout=publishing.timeout),
            article=article,
            site=site,
            status=post_status_final(article=article, default=publishing.default_status, now=timezone.now()),
        )
    if post is None:
        return None
    return article_publish_succeed(article_id=article_id, post_id=int(post["id"]), permalink=post.get("link", ""))


def article_post_reconcile(*, article_id: int) -> list[int]:
    """Trash the posts of a published article other than the one it was published as: drafts with its
    delivery slug that creates whose answer was lost left on WordPress after the publish settled (the post it
    was published as no longer has that slug, and is excluded by id besides). Returns their ids."""

    article = Article.objects.filter(pk=article_id, status=S.PUBLISHED, wordpress_post_id__isnull=False).first()
    config = config_current()
    site = config.site(article.target_site_id) if article else None
    if article is None or site is None:
        return []
    client = wordpress_client(site, timeout=config.publishing.timeout)
    with time_budget(config.publishing.timeout):
        keeper_id = article.wordpress_post_id
        if keeper_id is None:
            return []  # excluded by the query above; for the type checker
        duplicates = [p for p in client.posts_find_by_slug(post_slug(article)) if p["id"] != keeper_id]
        for post in duplicates:
            _post_duplicate_trash(client=client, article=article, post=post, keeper_id=keeper_id)
    return [int(post["id"]) for post in duplicates]


# An unclaimed publish whose task should have started this long ago counts as lost (its message never
# reached a worker, or died with one): beat looks every 15 s, so it is queued again within a minute.
PUBLISH_TASK_LOST_AFTER = timedelta(seconds=30)


def publish_task_overdue(*, now: datetime) -> Q:
    """Publishes whose task is lost: unclaimed, and due more than PUBLISH_TASK_LOST_AFTER ago (or, never
    given a due time, last changed that long ago). Recovery queues them again."""
    overdue = now - PUBLISH_TASK_LOST_AFTER
    return Q(publish_claimed_at__isnull=True) & (
        Q(publish_due_at__lt=overdue) | Q(publish_due_at__isnull=True, updated_at__lt=overdue)
    )


def publish_claim_lost(*, claimed_at: datetime, claimed_by: str, now: datetime, publishing: PublishingSettings) -> bool:
    """Whether a claim's worker stopped mid-publish: the claim is older than the claim limit, or it is held
    by a process of this host that is gone. Recovery queues the publish again."""
    return claimed_at < now - publish_claim_stale_after(publishing) or process_is_dead(claimed_by)


def article_publish_enqueue(*, article_id: int) -> None:
    """Queue the article's publish task once the current transaction commits."""
    task_enqueue_on_commit(PUBLISH_TASK, article_id)


def article_publish_recover() -> list[int]:
    """Queue again every publishing article whose worker died mid-publish (a claim older than the claim
    limit, or held by a dead process of this host) or whose task has not started well after it was due.
    The claim and the post lookup make a surplus task harmless: no post is ever published twice."""

    publishing = config_current().publishing
    now = timezone.now()
    overdue = now - PUBLISH_TASK_LOST_AFTER
    unclaimed = Q(publish_claimed_at__isnull=True)
    candidates = Article.objects.filter(status=S.PUBLISHING).filter(
        Q(publish_claimed_at__isnull=False) | publish_task_overdue(now=now)
    )
    recovered = []
    rows = candidates.order_by("pk").values_list("pk", "target_site_id", "publish_claimed_at", "publish_claimed_by")
    for article_id, site_id, claimed_at, claimed_by in rows:
        if claimed_at is None:
            why = "its publish task did not start when due"
            # Due again from now, so the next look gives this task its time before queueing another.
            still_lost = Article.objects.filter(pk=article_id, status=S.PUBLISHING).filter(unclaimed)
            if not still_lost.filter(Q(publish_due_at__lt=overdue) | Q(publish_due_at__isnull=True)).update(
                publish_due_at=now
            ):
                continue
        elif publish_claim_lost(claimed_at=claimed_at, claimed_by=claimed_by, now=now, publishing=publishing):
            why = "its worker stopped mid-publish"
        else:
            continue  # a worker is publishing it right now
        audit_record(
            event_type=EventType.PUBLISH_RECOVERED,
            severity=Severity.WARNING,
            message=f"article {article_id} was stuck in publishing ({why}); queued again",
            article_id=article_id,
            site_id=site_id,
        )
        task_enqueue(PUBLISH_TASK, article_id)
        recovered.append(article_id)
    return recovered
