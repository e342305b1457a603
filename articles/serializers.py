"""Articles as plain JSON-ready dicts, the same for MCP results and the JSON API."""

from __future__ import annotations

from typing import Any

from articles.models import Article, ArticleRevision
from core.serialization import time_iso


def article_summary(article: Article) -> dict[str, Any]:
    return {
        "id": article.pk,
        "title": article.title,
        "status": article.status,
        "submitting_agent": article.submitting_agent_id,
        "target_site": article.target_site_id,
        "tags": article.tags,
        "category": article.category,
        "categories": article.category_names,
        "revision": article.revision_number,
        "wordpress_post_id": article.wordpress_post_id,
        "wordpress_permalink": article.wordpress_permalink or None,
        "created_at": time_iso(article.created_at),
        "updated_at": time_iso(article.updated_at),
    }


def article_status(article: Article) -> dict[str, Any]:
    return {
        **article_summary(article),
        "publish_error_message": article.publish_error_message or None,
        "publish_attempts": article.publish_attempts,
        "reviewer_notes": article.reviewer_notes or None,
        "rejection_reason": article.rejection_reason or None,
        "reviewed_at": time_iso(article.reviewed_at),
        "published_at": time_iso(article.published_at),
        "post_status": article.post_status or None,  # the WordPress status asked for; None: the site's
        "scheduled_for": time_iso(article.publish_at),  # publish_at: the post goes public then, not before
    }


def revision_summary(revision: ArticleRevision) -> dict[str, Any]:
    return {
        "number": revision.number,
        "agent": revision.agent_id,
        "title": revision.title,
        "slug": revision.slug or None,
        "excerpt": revision.excerpt or None,
        "categories": revision.category_names,
        "post_status": revision.post_status or None,
        "scheduled_for": time_iso(revision.publish_at),
        "note": revision.note,
        "content_hash": revision.content_hash,
        "created_at": time_iso(revision.created_at),
    }


def article_detail(article: Article, revisions: list[ArticleRevision]) -> dict[str, Any]:
    return {
        **article_status(article),
        "slug": article.slug or None,  # the agent's; None: WordPress's slug of the title (see the permalink)
        "excerpt": article.excerpt or None,
        "content_markdown": article.content_markdown,
        "content_html": article.content_html,
        "agent_metadata": article.agent_metadata,
        "revisions": [revision_summary(r) for r in revisions],
    }
