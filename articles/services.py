"""The review workflow: every write to an article is one function here, shared by the MCP tools, the
console, the JSON API, admin actions and the publishing tasks.

Status changes go through `_article_transition`, the one place that knows the allowed moves; it applies
a move with a conditional UPDATE (so two racing callers cannot both win) and writes the audit row in
the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.exceptions import RateLimited
from agents.models import Agent
from articles.events import article_event_send
from articles.exceptions import ArticleChanged, ArticleNotFound, InvalidTransition, PublishingBusy
from articles.models import AgentDailyUsage, Article, ArticleRevision
from articles.models import ArticleStatus as S
from articles.rendering import html_shortcodes_neutralize, markdown_render
from audit.models import EventType, Severity
from audit.services import audit_record
from core.cache import agent_stats_key, invalidate, site_health_key
from core.config.schema import PublishingSettings, SiteConfig, SystemSettings, term_name_problem
from core.config.state import config_current, system_limits
from core.exceptions import Forbidden, ValidationFailed
from core.processes import process_is_dead, process_label
from core.tasks import task_enqueue_on_commit
from sites.exceptions import SiteNotFound
from sites.models import Site
from sites.selectors import site_active_ids
from sites.wordpress import WordPressClient, time_budget, wordpress_client

TITLE_MAX = 200
CATEGORY_MAX = 100
NOTE_MAX = 500
REASON_MAX = 2000
PUBLISH_CLAIM_MARGIN = timedelta(seconds=10)
CLAIM_RELEASED = {"publish_claimed_at": None, "publish_claimed_by": ""}
# The Celery task that publishes an article (articles.tasks.publish_article), queued by name.
PUBLISH_TASK = "articles.publish_article"


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


def _article_transition(
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
            raise _transition_refused(article.pk, rule)
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
        )


def _transition_refused(article_id: int, rule: Move) -> Exception:
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


# --- validation ---------------------------------------------------------------------------------------


def _require_scope(agent: Agent, scope: str) -> None:
    if not agent.has_scope(scope):
        raise Forbidden(f"agent {agent.id} lacks the scope {scope}", field="scope")


def _no_nul(value: str, field: str) -> str:
    """Text the databases can store: PostgreSQL refuses the NUL character."""
    if "\x00" in value:
        raise ValidationFailed(f"{field} must not contain NUL characters", field=field)
    return value


def _clean_title(title: Any) -> str:
    if not isinstance(title, str):
        raise ValidationFailed("title must be a string", field="title")
    title = _no_nul(title.strip(), "title")
    if not 1 <= len(title) <= TITLE_MAX:
        raise ValidationFailed(f"title must be 1 to {TITLE_MAX} characters (got {len(title)})", field="title")
    return title


def _clean_content(content: Any, limits: SystemSettings) -> str:
    if not isinstance(content, str) or not content.strip():
        raise ValidationFailed("content_markdown must not be empty", field="content_markdown")
    _no_nul(content, "content_markdown")
    size = len(content.encode("utf-8"))
    if size > limits.max_content_bytes:
        raise ValidationFailed(
            f"content_markdown is {size} bytes; the limit is {limits.max_content_bytes} bytes",
            field="content_markdown",
        )
    return content


def _plain_term_name(name: str, *, field: str) -> str:
    if problem := term_name_problem(name):
        raise ValidationFailed(f"{field} {problem}", field=field)
    return name


def _clean_tags(tags: Any, limits: SystemSettings) -> list[str]:
    """Tags as a list or a comma-separated string; blanks dropped, duplicates (any case) removed. The
    count is checked before any tag is looked at further, and the work grows linearly with the input."""
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise ValidationFailed("tags must be a list of strings or a comma-separated string", field="tags")
    present = [tag.strip() for tag in tags if not tag.isspace() and tag]
    if len(present) > limits.max_tags:
        raise ValidationFailed(f"at most {limits.max_tags} tags (got {len(present)})", field="tags")
    cleaned: dict[str, str] = {}
    for tag in present:
        if len(tag) > limits.max_tag_length:
            raise ValidationFailed(
                f"tag '{tag[:20]}…' is {len(tag)} characters; the limit is {limits.max_tag_length}", field="tags"
            )
        cleaned.setdefault(tag.casefold(), _plain_term_name(_no_nul(tag, "tags"), field="tags"))
    return list(cleaned.values())


def _clean_category(category: Any) -> str:
    if category is None:
        return ""
    if not isinstance(category, str):
        raise ValidationFailed("category must be a string", field="category")
    category = _no_nul(category.strip(), "category")
    if len(category) > CATEGORY_MAX:
        raise ValidationFailed(
            f"category must be at most {CATEGORY_MAX} characters (got {len(category)})", field="category"
        )
    return _plain_term_name(category, field="category")


def _clean_metadata(metadata: Any, limits: SystemSettings) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValidationFailed("agent_metadata must be a JSON object", field="agent_metadata")
    try:
        size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError) as error:
        raise ValidationFailed(f"agent_metadata is not valid JSON: {error}", field="agent_metadata") from None
    if size > limits.max_metadata_bytes:
        raise ValidationFailed(
            f"agent_metadata is {size} bytes; the limit is {limits.max_metadata_bytes} bytes",
            field="agent_metadata",
        )
    return metadata


def _clean_text(value: Any, *, field: str, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string", field=field)
    value = _no_nul(value.strip(), field)
    if required and not value:
        raise ValidationFailed(f"{field} is required", field=field)
    if len(value) > limit:
        raise ValidationFailed(f"{field} must be at most {limit} characters (got {len(value)})", field=field)
    return value


def _resolve_site(agent: Agent, site_id: Any) -> str:
    """The id of the site an agent publishes to: the one named, else the default (or first) it may use."""
    active = site_active_ids()
    if site_id in (None, ""):
        candidates = [s for s in active if agent.may_use_site(s)]
        if not candidates:
            raise SiteNotFound(
                "(default)", field="target_site", detail="is not available: no active site this agent may use"
            )
        return candidates[0]
    if not isinstance(site_id, str):
        raise ValidationFailed("target_site must be a site id string", field="target_site")
    if site_id not in active:
        configured = Site.objects.filter(pk=site_id).exists()
        raise SiteNotFound(site_id, field="target_site", detail="is inactive" if configured else "is not configured")
    if not agent.may_use_site(site_id):
        allowed = ", ".join(agent.allowed_sites or [])
        raise Forbidden(
            f"agent {agent.id} may not publish to site '{site_id}' (allowed: {allowed})", field="target_site"
        )
    return site_id


def _content_hash(*, title: str, content_markdown: str, tags: Iterable[str], category: str) -> str:
    canonical = json.dumps([title, content_markdown, list(tags), category], ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- submit and revise ------------------------------------------------------------------------------


def _quota_take(*, agent: Agent, stored_bytes: int, submission: bool, limits: SystemSettings) -> None:
    """Count a submission (or a revision: `submission` False) storing `stored_bytes` of Markdown against the
    agent's quotas for the UTC day, in the caller's transaction; RateLimited past `quotas.submissions_per_day`
    or `quotas.storage_mb_per_day`. The agent's usage row is locked (on SQLite every write is serialized), so
    the writes of one agent are counted one after the other: concurrent submissions cannot overshoot."""
    now = timezone.now().astimezone(UTC)
    resets_at = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    resets = f"it resets at {resets_at:%Y-%m-%d %H:%M} UTC"
    retry_after = max(1, int((resets_at - now).total_seconds()))
    usage, _ = AgentDailyUsage.objects.select_for_update().get_or_create(agent=agent, day=now.date())
    if submission and usage.submissions >= limits.submissions_per_day:
        raise RateLimited(
            f"agent {agent.id} submitted {usage.submissions} articles today, the most quotas.submissions_per_day "
            f"allows ({limits.submissions_per_day}); {resets}",
            retry_after=retry_after,
        )
    storage_limit = limits.storage_mb_per_day * 1024 * 1024
    if usage.storage_bytes + stored_bytes > storage_limit:
        raise RateLimited(
            f"agent {agent.id} stored {usage.storage_bytes} bytes of Markdown today; {stored_bytes} more would "
            f"pass quotas.storage_mb_per_day ({limits.storage_mb_per_day} MB = {storage_limit} bytes, revisions "
            f"included); {resets}",
            retry_after=retry_after,
        )
    AgentDailyUsage.objects.filter(pk=usage.pk).update(
        submissions=F("submissions") + int(submission), storage_bytes=F("storage_bytes") + stored_bytes
    )


def article_submit(
    *,
    agent: Agent,
    title: Any,
    content_markdown: Any,
    tags: Any = None,
    category: Any = None,
    target_site: Any = None,
    agent_metadata: Any = None,
) -> Article:
    """A new article awaiting review, with its first revision. Bad input raises and writes nothing."""
    _require_scope(agent, "article:submit")
    limits = system_limits()
    title = _clean_title(title)
    content_markdown = _clean_content(content_markdown, limits)
    tags = _clean_tags(tags, limits)
    category = _clean_category(category)
    metadata = _clean_metadata(agent_metadata, limits)
    site_id = _resolve_site(agent, target_site)
    html = markdown_render(content_markdown)
    content_hash = _content_hash(title=title, content_markdown=content_markdown, tags=tags, category=category)
    with transaction.atomic():
        _quota_take(agent=agent, stored_bytes=len(content_markdown.encode("utf-8")), submission=True, limits=limits)
        article = Article.objects.create(
            title=title,
            content_markdown=content_markdown,
            content_html=html,
            tags=tags,
            category=category,
            submitting_agent=agent,
            target_site_id=site_id,
            agent_metadata=metadata,
            content_hash=content_hash,
        )
        ArticleRevision.objects.create(
            article=article,
            number=1,
            title=title,
            content_markdown=content_markdown,
            tags=tags,
            category=category,
            content_hash=content_hash,
            agent=agent,
            note="submitted",
        )
        Agent.objects.filter(pk=agent.pk).update(total_articles_submitted=F("total_articles_submitted") + 1)
        invalidate(agent_stats_key(agent.id))
        audit_record(
            event_type=EventType.ARTICLE_SUBMITTED,
            message=f"agent {agent.id} submitted article {article.pk} '{title}' for {site_id}",
            agent_id=agent.id,
            article_id=article.pk,
            site_id=site_id,
            metadata={"revision": 1, "bytes": len(content_markdown.encode("utf-8")), "tags": len(tags)},
        )
        article_event_send(
            article_id=article.pk,
            event=str(EventType.ARTICLE_SUBMITTED),
            status=article.status,
            agent_id=agent.id,
            site_id=site_id,
        )
    return article


def _article_for_agent(*, agent: Agent, article_id: int) -> Article:
    """The article, if this agent may see it: its own, or any with the article:read scope."""
    article = Article.objects.select_related("target_site", "submitting_agent").filter(pk=article_id).first()
    if article is None or (article.submitting_agent_id != agent.id and not agent.has_scope("article:read")):
        raise ArticleNotFound(article_id)
    return article


def article_revise(
    *,
    agent: Agent,
    article_id: int,
    title: Any = None,
    content_markdown: Any = None,
    tags: Any = None,
    category: Any = None,
    note: Any = None,
) -> Article:
    """A new revision of a pending article, by its submitter or an agent holding article:revise.
    Fields left as None keep their current value."""
    article = _article_for_agent(agent=agent, article_id=article_id)
    if article.submitting_agent_id != agent.id and not agent.has_scope("article:revise"):
        raise Forbidden(
            f"agent {agent.id} may not revise article {article.pk}: only its submitter or an agent with "
            "the scope article:revise can",
            field="scope",
        )
    limits = system_limits()
    new_title = article.title if title is None else _clean_title(title)
    new_content = article.content_markdown if content_markdown is None else _clean_content(content_markdown, limits)
    new_tags = article.tags if tags is None else _clean_tags(tags, limits)
    new_category = article.category if category is None else _clean_category(category)
    note = _clean_text(note, field="note", limit=NOTE_MAX)
    new_hash = _content_hash(title=new_title, content_markdown=new_content, tags=new_tags, category=new_category)
    if new_hash == article.content_hash:
        raise ValidationFailed("the revision changes nothing", field="content_markdown")
    number = article.revision_number + 1
    html = markdown_render(new_content) if new_content != article.content_markdown else article.content_html
    with transaction.atomic():
        # Every revision stores the whole text again: it counts toward the reviser's storage quota.
        _quota_take(agent=agent, stored_bytes=len(new_content.encode("utf-8")), submission=False, limits=limits)
        _article_transition(
            article=article,
            move="revise",
            guard=Q(revision_number=article.revision_number),
            fields={
                "title": new_title,
                "content_markdown": new_content,
                "content_html": html,
                "tags": new_tags,
                "category": new_category,
                "revision_number": number,
                "content_hash": new_hash,
            },
            message=f"agent {agent.id} revised article {article.pk} (revision {number})"
            + (f": {note}" if note else ""),
            agent_id=agent.id,
            metadata={"revision": number, "note": note},
        )
        ArticleRevision.objects.create(
            article=article,
            number=number,
            title=new_title,
            content_markdown=new_content,
            tags=new_tags,
            category=new_category,
            content_hash=new_hash,
            agent=agent,
            note=note,
        )
        Agent.objects.filter(pk=agent.pk).update(total_revisions=F("total_revisions") + 1)
    article.refresh_from_db()
    return article


# --- review ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reviewer:
    """Who reviews: a person (console, API, admin) or an agent holding article:review."""

    user: AbstractBaseUser | None = None
    agent: Agent | None = None

    @property
    def label(self) -> str:
        return f"agent {self.agent.id}" if self.agent else f"{self.user.get_username()}"

    @property
    def username(self) -> str:
        return self.user.get_username() if self.user else ""


def _reviewable(*, reviewer: Reviewer, article_id: int, action: str) -> Article:
    if (reviewer.user is None) == (reviewer.agent is None):
        raise ValueError("a review needs exactly one of user and agent")
    if reviewer.agent is None:
        article = Article.objects.select_related("target_site").filter(pk=article_id).first()
        if article is None:
            raise ArticleNotFound(article_id)
        return article
    _require_scope(reviewer.agent, "article:review")
    article = _article_for_agent(agent=reviewer.agent, article_id=article_id)
    if article.submitting_agent_id == reviewer.agent.id:
        raise Forbidden(f"agent {reviewer.agent.id} cannot {action} its own article {article.pk}", field="article_id")
    return article


def _revision_guard(article: Article, expected_revision: int | None) -> Q | None:
    if expected_revision is None:
        return None
    if expected_revision != article.revision_number:
        raise ArticleChanged(
            f"article {article.pk} is at revision {article.revision_number}, not {expected_revision}; "
            "review the current revision"
        )
    return Q(revision_number=expected_revision)


def _revision_not_written_by(reviewer: Reviewer, article: Article) -> None:
    """An agent never approves a revision it wrote: someone else must have read that text."""
    if reviewer.agent is None:
        return
    author = (
        ArticleRevision.objects.filter(article=article, number=article.revision_number)
        .values_list("agent_id", flat=True)
        .first()
    )
    if author == reviewer.agent.id:
        raise Forbidden(
            f"agent {reviewer.agent.id} wrote revision {article.revision_number} of article {article.pk}; "
            "an agent never approves a revision it wrote: another reviewer must approve it",
            field="article_id",
        )


def _enqueue_publish(article_id: int) -> None:
    task_enqueue_on_commit(PUBLISH_TASK, article_id)


def article_approve(*, reviewer: Reviewer, article_id: int, expected_revision: int, notes: Any = None) -> Article:
    """Approve a pending article and queue its publishing. `expected_revision` is the revision the reviewer
    read: a later one is refused (the approval applies to that revision only, by a conditional update)."""
    article = _reviewable(reviewer=reviewer, article_id=article_id, action="approve")
    notes = _clean_text(notes, field="reviewer_notes", limit=REASON_MAX)
    if not article.target_site.is_active:
        raise SiteNotFound(article.target_site_id, field="target_site", detail="is inactive; it cannot be published to")
    guard = _revision_guard(article, expected_revision)
    _revision_not_written_by(reviewer, article)
    with transaction.atomic():
        _article_transition(
            article=article,
            move="approve",
            guard=guard,
            fields={
                "reviewer_notes": notes,
                "reviewed_at": timezone.now(),
                "reviewed_by": reviewer.user,
                "publishing_agent": reviewer.agent,
                "approved_content_hash": F("content_hash"),
                "publish_error_message": "",
                "publish_due_at": timezone.now(),
                **CLAIM_RELEASED,
            },
            message=f"{reviewer.label} approved article {article.pk} (revision {article.revision_number})",
            agent_id=reviewer.agent.id if reviewer.agent else None,
            username=reviewer.username,
            metadata={"revision": article.revision_number, "notes": notes},
        )
        Agent.objects.filter(pk=article.submitting_agent_id).update(
            total_articles_approved=F("total_articles_approved") + 1
        )
        _enqueue_publish(article.pk)
    article.refresh_from_db()
    return article


def article_reject(
    *, reviewer: Reviewer, article_id: int, rejection_reason: Any, expected_revision: int | None = None
) -> Article:
    article = _reviewable(reviewer=reviewer, article_id=article_id, action="reject")
    reason = _clean_text(rejection_reason, field="rejection_reason", limit=REASON_MAX, required=True)
    with transaction.atomic():
        _article_transition(
            article=article,
            move="reject",
            guard=_revision_guard(article, expected_revision),
            fields={
                "rejection_reason": reason,
                "reviewed_at": timezone.now(),
                "reviewed_by": reviewer.user,
                "publishing_agent": reviewer.agent,
            },
            message=f"{reviewer.label} rejected article {article.pk}: {reason}",
            agent_id=reviewer.agent.id if reviewer.agent else None,
            username=reviewer.username,
            metadata={"revision": article.revision_number, "reason": reason},
        )
        Agent.objects.filter(pk=article.submitting_agent_id).update(
            total_articles_rejected=F("total_articles_rejected") + 1
        )
    article.refresh_from_db()
    return article


def article_retry_publish(
    *, article_id: int, user: AbstractBaseUser | None = None, agent: Agent | None = None
) -> Article:
    """Queue a failed publish again: by a person, the submitting agent, or an agent with article:review."""
    if (user is None) == (agent is None):
        raise ValueError("a retry needs exactly one of user and agent")
    if agent is not None:
        article = _article_for_agent(agent=agent, article_id=article_id)
        if article.submitting_agent_id != agent.id:
            _require_scope(agent, "article:review")
    else:
        article = Article.objects.filter(pk=article_id).first()
        if article is None:
            raise ArticleNotFound(article_id)
    label = f"agent {agent.id}" if agent else user.get_username()
    with transaction.atomic():
        _article_transition(
            article=article,
            move="retry_publish",
            fields={**CLAIM_RELEASED, "publish_due_at": timezone.now()},
            message=f"{label} asked to publish article {article.pk} again",
            agent_id=agent.id if agent else None,
            username=user.get_username() if user else "",
            metadata={"previous_error": article.publish_error_message},
        )
        _enqueue_publish(article.pk)
    article.refresh_from_db()
    return article


# --- publish bookkeeping (called by the publishing task) -----------------------------------------------


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
            _article_transition(
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
    _article_transition(
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
        _article_transition(
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
        _article_transition(
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


def article_publish_post_record(*, article_id: int, post_id: int) -> None:
    """Remember the WordPress post that is the article's, before it is made public: every later attempt
    and the reconciliation then keep that one and trash any other."""
    Article.objects.filter(pk=article_id, status=S.PUBLISHING, publish_claimed_by=process_label()).update(
        wordpress_post_id=post_id
    )


def post_slug(article: Article) -> str:
    """The WordPress slug of an article's post: readable, and fixed by the article and its approved
    revision, so a retried publish finds the post an earlier attempt created instead of posting again.
    The short hash over id, creation time and revision keeps it apart from the posts of another
    wpublisher installation (or an earlier database) that had an article with the same id."""
    from django.utils.text import slugify

    stem = slugify(article.title)[:60].strip("-")
    identity = f"{article.pk}:{article.created_at.isoformat()}:{article.revision_number}"
    suffix = f"{article.pk}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"
    return f"{stem}-{suffix}" if stem else f"article-{suffix}"


def publish_claim_stale_after(publishing: PublishingSettings) -> timedelta:
    """How old a claim must be before another worker may take it over: a publish gives up by itself after
    `publishing.timeout` seconds (its WordPress calls share that budget), plus a margin for bookkeeping."""
    return timedelta(seconds=publishing.timeout) + PUBLISH_CLAIM_MARGIN


def publish_reconcile_delay(publishing: PublishingSettings) -> float:
    """How long after a publish that needed several attempts its site is looked at again for duplicates:
    a create sent by an attempt that timed out lands, if ever, within a few timeouts of being sent."""
    return 2.0 * publishing.timeout + PUBLISH_CLAIM_MARGIN.total_seconds()


def _article_posts(client: WordPressClient, article: Article) -> list[dict]:
    """The posts on WordPress that are this article's: those with its slug, oldest first, and the one
    recorded for it if the slug no longer finds it."""
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


def _post_ensure_one(*, client: WordPressClient, article: Article, site: SiteConfig, status: str) -> dict:
    """The article's one post on WordPress, created if there is none yet, every duplicate trashed, and
    given its final `status`.

    A create whose answer was lost (a timeout, a dropped connection) may still be running on WordPress
    and land after a later attempt looked. So posts are created as drafts, which are never public, and the
    post to keep is recorded before it is made public by id: the recorded one, else the oldest. A draft
    that lands after the lookup is trashed by the reconciliation that follows (`article_post_reconcile`)."""
    posts = _article_posts(client, article)
    if not posts:
        category = article.category or site.default_category
        content = article.content_html if site.allow_shortcodes else html_shortcodes_neutralize(article.content_html)
        created = client.post_create(
            title=article.title,  # sent as plain text by the client, like category and tag names
            content=content,
            status="draft",
            slug=post_slug(article),
            categories=client.term_ids("categories", [category] if category else []),
            tags=client.term_ids("tags", list(article.tags or site.default_tags)),
        )
        article_publish_post_record(article_id=article.pk, post_id=int(created["id"]))
        article.wordpress_post_id = int(created["id"])
        posts = [created]
    keeper = next((post for post in posts if int(post["id"]) == article.wordpress_post_id), posts[0])
    keeper_id = int(keeper["id"])
    if keeper_id != article.wordpress_post_id:
        article_publish_post_record(article_id=article.pk, post_id=keeper_id)
        article.wordpress_post_id = keeper_id
    for post in posts:
        if int(post["id"]) != keeper_id:
            _post_duplicate_trash(client=client, article=article, post=post, keeper_id=keeper_id)
    if keeper.get("status") != status:
        keeper = client.post_update(keeper_id, status=status)
    return keeper


def article_publish(*, article_id: int) -> Article | None:
    """Publish an approved article to its WordPress site, exactly once.

    Claims the article (None when there is nothing to do), then talks to WordPress outside any
    transaction (`_post_ensure_one`). Raises WordPressError, leaving the claim for the caller to
    release (`article_publish_retry_later`) or give up (`article_publish_fail`), and PublishingBusy when
    the concurrency limit is reached (nothing was claimed)."""

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
            status=publishing.default_status,
        )
    return article_publish_succeed(article_id=article_id, post_id=int(post["id"]), permalink=post.get("link", ""))


def article_post_reconcile(*, article_id: int) -> list[int]:
    """Trash the posts of a published article other than the one it was published as: drafts that
    creates whose answer was lost left on WordPress after the publish settled. Returns their ids."""

    article = Article.objects.filter(pk=article_id, status=S.PUBLISHED, wordpress_post_id__isnull=False).first()
    config = config_current()
    site = config.site(article.target_site_id) if article else None
    if article is None or site is None:
        return []
    client = wordpress_client(site, timeout=config.publishing.timeout)
    with time_budget(config.publishing.timeout):
        duplicates = [p for p in client.posts_find_by_slug(post_slug(article)) if p["id"] != article.wordpress_post_id]
        for post in duplicates:
            _post_duplicate_trash(client=client, article=article, post=post, keeper_id=article.wordpress_post_id)
    return [int(post["id"]) for post in duplicates]


# An unclaimed publish whose task should have started this long ago counts as lost (its message never
# reached a worker, or died with one): beat looks every 15 s, so it is queued again within a minute.
PUBLISH_TASK_LOST_AFTER = timedelta(seconds=30)


def article_publish_recover(*, enqueue: Callable[[int], Any]) -> list[int]:
    """Queue again every publishing article whose worker died mid-publish (a claim older than the claim
    limit, or held by a dead process of this host) or whose task has not started well after it was due.
    The claim and the post lookup make a surplus task harmless: no post is ever published twice."""

    publishing = config_current().publishing
    now = timezone.now()
    claimed_stale = now - publish_claim_stale_after(publishing)
    overdue = now - PUBLISH_TASK_LOST_AFTER
    unclaimed = Q(publish_claimed_at__isnull=True)
    candidates = Article.objects.filter(status=S.PUBLISHING).filter(
        Q(publish_claimed_at__isnull=False)
        | (unclaimed & (Q(publish_due_at__lt=overdue) | Q(publish_due_at__isnull=True, updated_at__lt=overdue)))
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
        elif claimed_at < claimed_stale or process_is_dead(claimed_by):
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
        enqueue(article_id)
        recovered.append(article_id)
    return recovered
