"""Review endpoints of the JSON API: list and read articles, approve, reject, retry a failed publish.

Thin adapters: the selectors and services hold every rule; the JSON is the one MCP returns
(`articles.serializers`), declared here as schemas so that the OpenAPI document is exact."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema

from agents.actors import Actor
from api.schemas import DB_INT_MAX, TEXT_PATTERN, AgentIdQuery, DetailOut, ErrorOut, SiteIdQuery, Text
from articles.models import ArticleStatus
from articles.selectors import LIST_LIMIT_MAX, OFFSET_MAX, article_get, article_list, article_revision_list
from articles.serializers import article_detail, article_status, article_summary
from articles.services import article_approve, article_reject, article_retry_publish

router = Router(tags=["articles"])


# --- schemas ------------------------------------------------------------------------------------------


class ArticleSummaryOut(Schema):
    id: int
    title: str
    status: ArticleStatus
    submitting_agent: str = Field(description="agent id")
    target_site: str = Field(description="site id")
    tags: list[str]
    category: str
    revision: int = Field(description="current revision number")
    wordpress_post_id: int | None
    wordpress_permalink: str | None
    created_at: datetime
    updated_at: datetime


class ArticleStatusOut(ArticleSummaryOut):
    publish_error_message: str | None
    publish_attempts: int
    reviewer_notes: str | None
    rejection_reason: str | None
    reviewed_at: datetime | None
    published_at: datetime | None


class RevisionOut(Schema):
    number: int
    agent: str | None = Field(description="id of the agent that wrote it")
    title: str
    note: str
    content_hash: str
    created_at: datetime


class ArticleDetailOut(ArticleStatusOut):
    content_markdown: str
    content_html: str = Field(description="sanitized HTML: what WordPress receives")
    agent_metadata: dict[str, Any]
    revisions: list[RevisionOut]


class ApproveIn(Schema):
    expected_revision: int = Field(
        ge=1,
        le=DB_INT_MAX,
        description="required: the revision the reviewer read (`revision` of the article); a later revision "
        "refuses the approval (409)",
    )
    reviewer_notes: Text | None = None


class RejectIn(Schema):
    rejection_reason: Text = Field(description="required, not blank")
    expected_revision: int | None = Field(
        None, description="the revision the reviewer read; a later revision refuses the rejection (409)"
    )


# An article id: ids past 64 bits exist in neither database.
ArticleId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]
# The review actions' refusals; 415 is a form body (see api.main.form_body). Those reading a JSON body
# also answer django-ninja's 400 when it does not parse.
REVIEW_ERRORS = {404: ErrorOut, 409: ErrorOut, 415: ErrorOut, 422: ErrorOut}


# --- endpoints ----------------------------------------------------------------------------------------


@router.get("", response={200: list[ArticleSummaryOut], 422: ErrorOut})
def list_articles(
    request: HttpRequest,
    status: ArticleStatus | None = None,
    agent_id: AgentIdQuery = None,
    target_site: SiteIdQuery = None,
    search: Annotated[str | None, Query(pattern=TEXT_PATTERN, description="in title and Markdown")] = None,
    limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> list[dict]:
    """Articles, newest first. A reviewer sees every agent's articles."""
    articles = article_list(
        agent=None,
        status=status,
        agent_id=agent_id,
        target_site=target_site,
        search=search,
        limit=limit,
        offset=offset,
    )
    return [article_summary(article) for article in articles]


@router.get("/{article_id}", response={200: ArticleDetailOut, 404: ErrorOut, 422: ErrorOut})
def get_article(request: HttpRequest, article_id: ArticleId) -> dict:
    """One article with its Markdown, its sanitized HTML and every revision."""
    article = article_get(article_id=article_id)
    return article_detail(article, list(article_revision_list(article=article)))


@router.post("/{article_id}/approve", response={200: ArticleStatusOut, 400: DetailOut, **REVIEW_ERRORS})
def approve_article(request: HttpRequest, article_id: ArticleId, body: ApproveIn) -> dict:
    """Approve a pending article at the revision the reviewer read, and queue its publishing."""
    article = article_approve(
        actor=Actor(user=request.user),
        article_id=article_id,
        notes=body.reviewer_notes,
        expected_revision=body.expected_revision,
    )
    return article_status(article)


@router.post("/{article_id}/reject", response={200: ArticleStatusOut, 400: DetailOut, **REVIEW_ERRORS})
def reject_article(request: HttpRequest, article_id: ArticleId, body: RejectIn) -> dict:
    """Reject a pending article, saying why."""
    article = article_reject(
        actor=Actor(user=request.user),
        article_id=article_id,
        rejection_reason=body.rejection_reason,
        expected_revision=body.expected_revision,
    )
    return article_status(article)


@router.post("/{article_id}/retry", response={200: ArticleStatusOut, **REVIEW_ERRORS})
def retry_publish(request: HttpRequest, article_id: ArticleId) -> dict:
    """Queue a failed publish again."""
    return article_status(article_retry_publish(article_id=article_id, actor=Actor(user=request.user)))
