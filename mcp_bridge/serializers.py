"""Domain objects as the plain JSON that MCP tools and resources return. Never a secret."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agents.models import Agent, AgentWeeklyReport
from articles.models import Article, ArticleRevision
from audit.models import AuditLog
from sites.models import Site


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def article_summary(article: Article) -> dict[str, Any]:
    return {
        "id": article.pk,
        "title": article.title,
        "status": article.status,
        "submitting_agent": article.submitting_agent_id,
        "target_site": article.target_site_id,
        "tags": article.tags,
        "category": article.category,
        "revision": article.revision_number,
        "wordpress_post_id": article.wordpress_post_id,
        "wordpress_permalink": article.wordpress_permalink or None,
        "created_at": _time(article.created_at),
        "updated_at": _time(article.updated_at),
    }


def article_status(article: Article) -> dict[str, Any]:
    return {
        **article_summary(article),
        "publish_error_message": article.publish_error_message or None,
        "publish_attempts": article.publish_attempts,
        "reviewer_notes": article.reviewer_notes or None,
        "rejection_reason": article.rejection_reason or None,
        "reviewed_at": _time(article.reviewed_at),
        "published_at": _time(article.published_at),
    }


def revision_summary(revision: ArticleRevision) -> dict[str, Any]:
    return {
        "number": revision.number,
        "agent": revision.agent_id,
        "title": revision.title,
        "note": revision.note,
        "content_hash": revision.content_hash,
        "created_at": _time(revision.created_at),
    }


def article_detail(article: Article, revisions: list[ArticleRevision]) -> dict[str, Any]:
    return {
        **article_status(article),
        "content_markdown": article.content_markdown,
        "content_html": article.content_html,
        "agent_metadata": article.agent_metadata,
        "revisions": [revision_summary(r) for r in revisions],
    }


def agent_summary(agent: Agent, *, connected: bool) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "role": agent.role,
        "description": agent.description,
        "scopes": agent.scopes,
        "allowed_sites": agent.allowed_sites,
        "is_active": agent.is_active,
        "connected": connected,
        "last_seen": _time(agent.last_seen),
        "total_articles_submitted": agent.total_articles_submitted,
        "total_articles_published": agent.total_articles_published,
    }


def site_summary(site: Site, *, include_detail: bool = False) -> dict[str, Any]:
    """A site and its health. The health `message` is a short reason of our own; `include_detail` (for
    reviewers, never for agents) adds `detail`, which may quote what the site's server answered."""
    health = {
        "status": site.health_status,
        "message": site.health_message,
        "latency_ms": site.health_latency_ms,
        "last_check": _time(site.last_health_check),
    }
    if include_detail:
        health["detail"] = site.health_detail
    return {
        "id": site.id,
        "name": site.name,
        "api_url": site.api_url,
        "is_active": site.is_active,
        "is_default": site.is_default,
        "default_category": site.default_category or None,
        "default_tags": site.default_tags,
        "health": health,
        "total_posts_published": site.total_posts_published,
    }


def audit_entry(entry: AuditLog) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "timestamp": _time(entry.timestamp),
        "event_type": entry.event_type,
        "category": entry.category,
        "severity": entry.severity,
        "agent_id": entry.agent_id or None,
        "article_id": entry.article_id,
        "site_id": entry.site_id or None,
        "username": entry.username or None,
        "message": entry.message,
        "metadata": entry.metadata,
    }


def weekly_report(report: AgentWeeklyReport) -> dict[str, Any]:
    return {
        "week_start": report.week_start.isoformat(),
        "submitted": report.submitted,
        "revised": report.revised,
        "approved": report.approved,
        "rejected": report.rejected,
        "published": report.published,
        "publish_failed": report.publish_failed,
        "average_review_seconds": report.average_review_seconds,
    }
