"""Reviewers (people, or agents holding article:review) approve and reject articles at the revision they
saw, and ask for a failed publish to run again."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.actors import Actor
from agents.models import Agent
from articles.exceptions import ArticleChanged
from articles.models import Article
from articles.permissions import article_for_retry, article_for_review, revision_approve_check
from articles.services.publishing import article_publish_enqueue
from articles.services.transitions import CLAIM_RELEASED, article_transition
from articles.services.validation import REASON_MAX, text_clean
from sites.exceptions import SiteNotFound


def _revision_guard(article: Article, expected_revision: int | None) -> Q | None:
    if expected_revision is None:
        return None
    if expected_revision != article.revision_number:
        raise ArticleChanged(
            f"article {article.pk} is at revision {article.revision_number}, not {expected_revision}; "
            "review the current revision"
        )
    return Q(revision_number=expected_revision)


def article_approve(*, actor: Actor, article_id: int, expected_revision: int, notes: Any = None) -> Article:
    """Approve a pending article and queue its publishing. `expected_revision` is the revision the reviewer
    read: a later one is refused (the approval applies to that revision only, by a conditional update)."""
    article = article_for_review(actor=actor, article_id=article_id, action="approve")
    notes = text_clean(notes, field="reviewer_notes", limit=REASON_MAX)
    if not article.target_site.is_active:
        raise SiteNotFound(article.target_site_id, field="target_site", detail="is inactive; it cannot be published to")
    guard = _revision_guard(article, expected_revision)
    revision_approve_check(actor=actor, article=article)
    with transaction.atomic():
        article_transition(
            article=article,
            move="approve",
            guard=guard,
            fields={
                "reviewer_notes": notes,
                "reviewed_at": timezone.now(),
                "reviewed_by": actor.user,
                "publishing_agent": actor.agent,
                "approved_content_hash": F("content_hash"),
                "publish_error_message": "",
                "publish_due_at": timezone.now(),
                **CLAIM_RELEASED,
            },
            message=f"{actor.label} approved article {article.pk} (revision {article.revision_number})",
            agent_id=actor.agent_id,
            username=actor.username,
            metadata={"revision": article.revision_number, "notes": notes},
        )
        Agent.objects.filter(pk=article.submitting_agent_id).update(
            total_articles_approved=F("total_articles_approved") + 1
        )
        article_publish_enqueue(article_id=article.pk)
    article.refresh_from_db()
    return article


def article_reject(
    *, actor: Actor, article_id: int, rejection_reason: Any, expected_revision: int | None = None
) -> Article:
    article = article_for_review(actor=actor, article_id=article_id, action="reject")
    reason = text_clean(rejection_reason, field="rejection_reason", limit=REASON_MAX, required=True)
    with transaction.atomic():
        article_transition(
            article=article,
            move="reject",
            guard=_revision_guard(article, expected_revision),
            fields={
                "rejection_reason": reason,
                "reviewed_at": timezone.now(),
                "reviewed_by": actor.user,
                "publishing_agent": actor.agent,
            },
            message=f"{actor.label} rejected article {article.pk}: {reason}",
            agent_id=actor.agent_id,
            username=actor.username,
            metadata={"revision": article.revision_number, "reason": reason},
        )
        Agent.objects.filter(pk=article.submitting_agent_id).update(
            total_articles_rejected=F("total_articles_rejected") + 1
        )
    article.refresh_from_db()
    return article


def article_retry_publish(*, actor: Actor, article_id: int) -> Article:
    """Queue a failed publish again: by a person, the submitting agent, or an agent with article:review."""
    article = article_for_retry(actor=actor, article_id=article_id)
    with transaction.atomic():
        article_transition(
            article=article,
            move="retry_publish",
            fields={**CLAIM_RELEASED, "publish_due_at": timezone.now()},
            message=f"{actor.label} asked to publish article {article.pk} again",
            agent_id=actor.agent_id,
            username=actor.username,
            metadata={"previous_error": article.publish_error_message},
        )
        article_publish_enqueue(article_id=article.pk)
    article.refresh_from_db()
    return article
