"""Celery tasks of the review workflow. Thin: they take ids and call the services."""

from __future__ import annotations

import logging
import random

from celery import shared_task

from articles.exceptions import PublishingBusy
from articles.idempotency import idempotency_keys_expire
from articles.models import ArticleStatus
from articles.reports import agent_weekly_reports_write
from articles.services import (
    PUBLISH_TASK,
    article_post_reconcile,
    article_publish,
    article_publish_defer,
    article_publish_fail,
    article_publish_recover,
    article_publish_retry_later,
    publish_reconcile_delay,
)
from core.config.state import config_current
from sites.exceptions import WordPressError

logger = logging.getLogger(__name__)

# When max_concurrent_publishes are running, a publish waits this long (with jitter) and tries again.
BUSY_WAIT_SECONDS = 5.0


def retry_delay(*, base: float, retries: int) -> float:
    """Exponential backoff with full jitter: base, 2*base, 4*base... each scaled by a random 0.5-1.5."""
    return base * (2**retries) * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not security


@shared_task(bind=True, name=PUBLISH_TASK, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def publish_article(self, article_id: int) -> str:
    """Publish one approved article. Safe to run twice: the claim and the post lookup see to that."""

    try:
        article = article_publish(article_id=article_id)
    except PublishingBusy:
        # Nothing was attempted: queue a fresh task rather than spend one of the article's retries (unless
        # another delivery already waits for its turn).
        wait = retry_delay(base=BUSY_WAIT_SECONDS, retries=0)
        if article_publish_defer(article_id=article_id, delay_seconds=wait):
            publish_article.apply_async((article_id,), countdown=wait)
        return "busy"
    except WordPressError as error:
        publishing = config_current().publishing
        if error.retryable and self.request.retries < publishing.retry_attempts:
            delay = retry_delay(base=publishing.retry_delay, retries=self.request.retries)
            article_publish_retry_later(article_id=article_id, error=error.message, delay_seconds=delay)
            raise self.retry(countdown=delay) from None
        article_publish_fail(article_id=article_id, error=error.message)
        return "failed"
    except Exception as error:
        # A bug or a surprising answer must not leave the article stuck in publishing.
        logger.exception("publishing article %s failed unexpectedly", article_id)
        article_publish_fail(article_id=article_id, error=f"unexpected error: {type(error).__name__}: {error}")
        return "failed"
    if article is not None and article.status == ArticleStatus.PUBLISHED and article.publish_attempts > 1:
        # An earlier attempt may have sent a create whose answer was lost: look for its post once it
        # must have landed.
        delay = publish_reconcile_delay(config_current().publishing)
        reconcile_post.apply_async((article_id,), countdown=delay)
    return "skipped" if article is None else article.status


@shared_task(
    name="articles.reconcile_post",
    acks_late=True,
    autoretry_for=(WordPressError,),
    retry_backoff=30,
    max_retries=5,
)
def reconcile_post(article_id: int) -> int:
    """Trash duplicates of a published article's post that WordPress saved after the publish settled
    (tried again later while the site does not answer; a duplicate left behind is a draft, never public)."""
    return len(article_post_reconcile(article_id=article_id))


@shared_task(name="articles.recover_stuck_publishes")
def recover_stuck_publishes() -> int:
    """Queue again the publishes whose worker died or whose message was lost (see the service)."""
    return len(article_publish_recover())


@shared_task(name="articles.expire_idempotency_keys")
def expire_idempotency_keys() -> int:
    """Forget idempotency keys older than a day."""
    return idempotency_keys_expire()


@shared_task(name="articles.write_agent_weekly_reports")
def write_agent_weekly_reports() -> int:
    return len(agent_weekly_reports_write())
