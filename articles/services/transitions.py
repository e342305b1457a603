"""Article status changes: the one table of allowed moves (`MOVES`), applied by `article_transition` with a
conditional UPDATE (two racing callers cannot both win) and the audit row written in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from articles.events import article_event_send
from articles.exceptions import ArticleChanged, ArticleNotFound, InvalidTransition
from articles.models import Article
from articles.models import ArticleStatus as S
from audit.models import EventType, Severity
from audit.services import audit_record
from core.cache import agent_stats_key, invalidate, site_health_key

CLAIM_RELEASED = {"publish_claimed_at": None, "publish_claimed_by": ""}


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    target: str
    done: str  # completes "only <sources> articles can be ..."
    event_type: EventType


MOVES: dict[str, Move] = {
    "revise": Move(frozenset({S.PENDING_REVIEW}), S.PENDING_REVIEW, "revised", EventType.ARTICLE_REVISED),
    "approve": Move(frozenset({S.PENDING_REVIEW}), S.PUBLISHING, "approved", EventType.ARTICLE_APPROVED),
    "reject": Move(frozenset({S.PENDING_REVIEW}), S.REJECTED, "rejected", EventType.ARTICLE_REJECTED),
    "retry_publish": Move(frozenset({S.PUBLISH_FAILED}), S.PUBLISHING, "retried", EventType.PUBLISH_RETRY_REQUESTED),
    "publish_start": Move(frozenset({S.PUBLISHING}), S.PUBLISHING, "claimed", EventType.PUBLISH_STARTED),
    "publish_retry_later": Move(
        frozenset({S.PUBLISHING}), S.PUBLISHING, "rescheduled", EventType.PUBLISH_RETRY_SCHEDULED
    ),
    "publish_succeed": Move(frozenset({S.PUBLISHING}), S.PUBLISHED, "marked published", EventType.PUBLISH_SUCCEEDED),
    "publish_fail": Move(frozenset({S.PUBLISHING}), S.PUBLISH_FAILED, "marked failed", EventType.PUBLISH_FAILED),
}


def article_transition(
    *,
    article: Article,
    move: str,
    message: str,
    fields: dict[str, Any] | None = None,
    guard: Q | None = None,
    severity: Severity = Severity.INFO,
    agent_id: str | None = None,
    username: str = "",
    metadata: dict[str, Any] | None = None,
) -> None:
    """Apply `move` to `article` (in the database) and audit it, atomically.

    `guard` adds conditions the row must still meet (the revision a reviewer saw, an unclaimed publish);
    when the row no longer matches, nothing is written and the error says why."""
    rule = MOVES[move]
    with transaction.atomic():
        rows = Article.objects.filter(pk=article.pk, status__in=rule.sources)
        if guard is not None:
            rows = rows.filter(guard)
        now = timezone.now()
        if rows.update(status=rule.target, updated_at=now, **(fields or {})) != 1:
            raise transition_refused(article.pk, rule)
        audit_record(
            event_type=rule.event_type,
            severity=severity,
            message=message,
            agent_id=agent_id,
            article_id=article.pk,
            site_id=article.target_site_id,
            username=username,
            metadata={"from": article.status, "to": rule.target, **(metadata or {})},
        )
        article.status = rule.target
        changed_agents = {article.submitting_agent_id, *([agent_id] if agent_id else [])}
        invalidate(*map(agent_stats_key, changed_agents), site_health_key(article.target_site_id))
        article_event_send(
            article_id=article.pk,
            event=str(rule.event_type),
            status=rule.target,
            agent_id=article.submitting_agent_id,
            site_id=article.target_site_id,
            username=username,
        )


def transition_refused(article_id: int, rule: Move) -> Exception:
    current = Article.objects.filter(pk=article_id).values("status", "revision_number").first()
    if current is None:
        return ArticleNotFound(article_id)
    if current["status"] not in rule.sources:
        allowed = " or ".join(sorted(rule.sources))
        return InvalidTransition(
            f"article {article_id} is {current['status']}; only {allowed} articles can be {rule.done}"
        )
    revision = current["revision_number"]
    return ArticleChanged(f"article {article_id} changed meanwhile (now revision {revision}); look at it again")
