"""Agents submit and revise articles, within their scopes, sites and daily quotas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.exceptions import RateLimited
from agents.models import Agent
from articles.events import article_event_send
from articles.models import AgentDailyUsage, Article, ArticleRevision
from articles.permissions import article_for_agent, article_revise_check, scope_require
from articles.rendering import markdown_render
from articles.services.transitions import article_transition
from articles.services.validation import (
    NOTE_MAX,
    categories_clean,
    content_clean,
    excerpt_clean,
    metadata_clean,
    post_status_check,
    post_status_clean,
    publish_at_clean,
    revision_hash,
    site_resolve,
    slug_clean,
    tags_clean,
    text_clean,
    title_clean,
)
from audit.models import EventType
from audit.services import audit_record
from core.cache import agent_stats_key, invalidate
from core.config.state import system_limits
from core.config.types import SystemSettings
from core.exceptions import ValidationFailed
from core.scopes import Scope


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
    slug: Any = None,
    excerpt: Any = None,
    categories: Any = None,
    status: Any = None,
    publish_at: Any = None,
) -> Article:
    """A new article awaiting review, with its first revision. Bad input raises and writes nothing.
    `category` (one name) and `categories` (a list) are two ways to give its categories, not both."""
    scope_require(agent, Scope.SUBMIT)
    limits = system_limits()
    title = title_clean(title)
    content_markdown = content_clean(content_markdown, limits)
    tags = tags_clean(tags, limits)
    category_names = categories_clean(categories=categories, category=category) or []
    slug = slug_clean(slug)
    post: dict[str, Any] = {
        "excerpt": excerpt_clean(excerpt),
        "categories": category_names,
        "post_status": post_status_clean(status),
        "publish_at": publish_at_clean(publish_at, now=timezone.now()),
    }
    metadata = metadata_clean(agent_metadata, limits)
    site_id = site_resolve(agent, target_site)
    post_status_check(post_status=post["post_status"], publish_at=post["publish_at"], site_id=site_id)
    category = category_names[0] if category_names else ""
    html = markdown_render(content_markdown)
    content_hash = revision_hash(
        title=title, content_markdown=content_markdown, tags=tags, category=category, slug=slug, **post
    )
    with transaction.atomic():
        _quota_take(agent=agent, stored_bytes=len(content_markdown.encode("utf-8")), submission=True, limits=limits)
        article = Article.objects.create(
            title=title,
            content_markdown=content_markdown,
            content_html=html,
            tags=tags,
            category=category,
            slug=slug,
            **post,
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
            slug=slug,
            **post,
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


def article_revise(
    *,
    agent: Agent,
    article_id: int,
    title: Any = None,
    content_markdown: Any = None,
    tags: Any = None,
    category: Any = None,
    note: Any = None,
    slug: Any = None,
    excerpt: Any = None,
    categories: Any = None,
    status: Any = None,
    publish_at: Any = None,
) -> Article:
    """A new revision of a pending article, by its submitter or an agent holding article:revise.
    Fields left as None keep their current value ("" clears a `slug`, `excerpt`, `status` or `publish_at`:
    the title's slug, no excerpt, the site's status, at once; `category` or `categories` replaces the
    categories)."""
    article = article_for_agent(agent=agent, article_id=article_id)
    article_revise_check(agent=agent, article=article)
    limits = system_limits()
    new_title = article.title if title is None else title_clean(title)
    new_content = article.content_markdown if content_markdown is None else content_clean(content_markdown, limits)
    new_tags = article.tags if tags is None else tags_clean(tags, limits)
    given_categories = categories_clean(categories=categories, category=category)
    new_categories = article.category_names if given_categories is None else given_categories
    new_category = new_categories[0] if new_categories else ""
    new_slug = article.slug if slug is None else slug_clean(slug)
    post: dict[str, Any] = {
        "excerpt": article.excerpt if excerpt is None else excerpt_clean(excerpt),
        "categories": new_categories,
        "post_status": article.post_status if status is None else post_status_clean(status),
        "publish_at": article.publish_at if publish_at is None else publish_at_clean(publish_at, now=timezone.now()),
    }
    post_status_check(post_status=post["post_status"], publish_at=post["publish_at"], site_id=article.target_site_id)
    note = text_clean(note, field="note", limit=NOTE_MAX)
    new_hash = revision_hash(
        title=new_title, content_markdown=new_content, tags=new_tags, category=new_category, slug=new_slug, **post
    )
    if new_hash == article.content_hash:
        raise ValidationFailed("the revision changes nothing", field="content_markdown")
    number = article.revision_number + 1
    html = markdown_render(new_content) if new_content != article.content_markdown else article.content_html
    with transaction.atomic():
        # Every revision stores the whole text again: it counts toward the reviser's storage quota.
        _quota_take(agent=agent, stored_bytes=len(new_content.encode("utf-8")), submission=False, limits=limits)
        article_transition(
            article=article,
            move="revise",
            guard=Q(revision_number=article.revision_number),
            fields={
                "title": new_title,
                "content_markdown": new_content,
                "content_html": html,
                "tags": new_tags,
                "category": new_category,
                "slug": new_slug,
                **post,
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
            slug=new_slug,
            **post,
            content_hash=new_hash,
            agent=agent,
            note=note,
        )
        Agent.objects.filter(pk=agent.pk).update(total_revisions=F("total_revisions") + 1)
    article.refresh_from_db()
    return article
