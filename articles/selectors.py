from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.expressions import Col
from django.utils import timezone

from agents.models import Agent
from agents.selectors import agent_get, connected_agent_ids
from articles.exceptions import ArticleNotFound
from articles.models import Article, ArticleRevision, ArticleStatus
from articles.permissions import article_is_visible, article_visible_to
from articles.services.publishing import publish_claim_lost, publish_task_overdue
from audit.models import AuditLog, EventType
from core.cache import agent_stats_key, cached
from core.config.state import config_current
from core.config.types import ConfigInvalid, PublishingSettings
from core.exceptions import ValidationFailed
from sites.models import Site

LIST_LIMIT_MAX = 100
# Past this no page exists anyway; beyond 64 bits the databases refuse the number.
OFFSET_MAX = 1_000_000


# What a status poll reads: no content (up to 256 KiB each) and no joins.
STATUS_FIELDS = (
    "id",
    "title",
    "status",
    "submitting_agent_id",
    "target_site_id",
    "tags",
    "category",
    "categories",
    "post_status",
    "publish_at",
    "revision_number",
    "wordpress_post_id",
    "wordpress_permalink",
    "publish_error_message",
    "publish_attempts",
    "reviewer_notes",
    "rejection_reason",
    "created_at",
    "updated_at",
    "reviewed_at",
    "published_at",
)


def article_get(*, article_id: int, agent: Agent | None = None) -> Article:
    articles = article_visible_to(agent=agent).select_related("submitting_agent", "target_site")
    article = articles.filter(pk=article_id).first()
    if article is None:
        raise ArticleNotFound(article_id)
    return article


def article_status_get(*, article_id: int, agent: Agent | None = None) -> Article:
    """The article with its STATUS_FIELDS only: what agents poll, so it costs as little as it can. The
    ORM would spend longer building the query and the instance than the database takes to answer; the
    query is built once, and the row goes through the same converters the ORM applies."""
    sql, attnames, columns = _status_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [article_id])
        row = cursor.fetchone()
    if row is None:
        raise ArticleNotFound(article_id)
    values = []
    for value, (column, converters) in zip(row, columns, strict=True):
        for convert in converters:
            value = convert(value, column, connection)
        values.append(value)
    article = Article.from_db(connection.alias, attnames, values)
    if not article_is_visible(agent=agent, article=article):
        raise ArticleNotFound(article_id)
    return article


@functools.cache
def _status_query() -> tuple[str, list[str], list[tuple[Col, list]]]:
    """SELECT of the STATUS_FIELDS of one article (by id); their attribute names in the order selected;
    and each column with the converters the ORM applies to it (looked up once: it costs more than a row)."""
    fields = [f for f in Article._meta.concrete_fields if f.attname in STATUS_FIELDS]
    quote = connection.ops.quote_name
    selected = ", ".join(quote(str(f.column)) for f in fields)  # concrete fields all have a column
    table, pk = quote(Article._meta.db_table), quote("id")
    columns = []
    for field in fields:
        column = field.get_col(Article._meta.db_table)
        columns.append((column, connection.ops.get_db_converters(column) + column.get_db_converters(connection)))
    sql = f"SELECT {selected} FROM {table} WHERE {pk} = %s"  # noqa: S608 - names from the model
    return sql, [f.attname for f in fields], columns


def article_list(
    *,
    agent: Agent | None = None,
    status: str | None = None,
    agent_id: str | None = None,
    target_site: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Article]:
    if status and status not in ArticleStatus.values:
        raise ValidationFailed(
            f"status must be one of {', '.join(ArticleStatus.values)} (got '{status}')", field="status"
        )
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise ValidationFailed(f"limit must be 1 to {LIST_LIMIT_MAX} (got {limit})", field="limit")
    if not 0 <= offset <= OFFSET_MAX:
        raise ValidationFailed(f"offset must be 0 to {OFFSET_MAX} (got {offset})", field="offset")
    for field, value in (("search", search), ("agent_id", agent_id), ("target_site", target_site)):
        if value and "\x00" in value:
            raise ValidationFailed(f"{field} must not contain NUL characters", field=field)
    articles = article_visible_to(agent=agent)
    if status:
        articles = articles.filter(status=status)
    if agent_id:
        articles = articles.filter(submitting_agent_id=agent_id)
    if target_site:
        articles = articles.filter(target_site_id=target_site)
    if search:
        articles = articles.filter(Q(title__icontains=search) | Q(content_markdown__icontains=search))
    return list(
        articles.order_by("-created_at", "-id").defer("content_markdown", "content_html")[offset : offset + limit]
    )


def article_revision_list(*, article: Article) -> QuerySet[ArticleRevision]:
    return ArticleRevision.objects.filter(article=article).select_related("agent").order_by("number")


QUEUE_PAGE_SIZE = 50


def article_queue_oldest_first(*, status: str | None) -> bool:
    """The order the review queue shows `status` in: pending review oldest first (what has waited longest
    is reviewed first); every other status, and all of them together, newest first."""
    return status == ArticleStatus.PENDING_REVIEW


def _queue_articles(*, agent_id: str | None, site_id: str | None, text: str | None) -> QuerySet[Article]:
    """The articles the queue's agent, site and title filters leave (any status)."""
    articles = Article.objects.all()
    if agent_id:
        articles = articles.filter(submitting_agent_id=agent_id)
    if site_id:
        articles = articles.filter(target_site_id=site_id)
    if text:
        articles = articles.filter(title__icontains=text)
    return articles


def article_queue_page(
    *,
    status: str | None = None,
    agent_id: str | None = None,
    site_id: str | None = None,
    text: str | None = None,
    cursor_id: int | None = None,
    page_size: int = QUEUE_PAGE_SIZE,
) -> tuple[list[Article], int | None]:
    """A page of the review queue in the order of `article_queue_oldest_first`, and the id the next page
    continues after (None on the last page).

    Keyset paging (`id > cursor_id` oldest first, `id < cursor_id` newest first) costs the same on page 1
    and page 2,000, and never counts rows: the queue stays fast at 100k articles."""
    oldest_first = article_queue_oldest_first(status=status)
    articles = (
        _queue_articles(agent_id=agent_id, site_id=site_id, text=text)
        .select_related("submitting_agent", "target_site")
        .defer("content_markdown", "content_html", "agent_metadata")
    )
    if status:
        articles = articles.filter(status=status)
    if cursor_id:
        articles = articles.filter(id__gt=cursor_id) if oldest_first else articles.filter(id__lt=cursor_id)
    rows = list(articles.order_by("id" if oldest_first else "-id")[: page_size + 1])
    return rows[:page_size], (rows[page_size - 1].id if len(rows) > page_size else None)


def article_queue_counts(
    *, agent_id: str | None = None, site_id: str | None = None, text: str | None = None
) -> dict[str, int]:
    """Articles by status (every status, 0 included) under the queue's agent, site and title filters, in
    one query: the counts on its status tabs, and, without filters, the dashboard's."""
    rows = _queue_articles(agent_id=agent_id, site_id=site_id, text=text).order_by().values_list("status")
    counts = dict(rows.annotate(n=Count("id")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in ArticleStatus.values}


def article_publishing_queue(*, limit: int = 20) -> list[Article]:
    """Articles approved and not yet published (or being published right now)."""
    return list(
        Article.objects.filter(status=ArticleStatus.PUBLISHING)
        .select_related("target_site")
        .defer("content_markdown", "content_html")
        .order_by("reviewed_at", "id")[:limit]
    )


def agent_stats(*, agent_id: str) -> dict:
    """Counters and articles by status for one agent (cached; writes that change them invalidate)."""
    return cached(agent_stats_key(agent_id), lambda: _agent_stats(agent_id))


def _agent_stats(agent_id: str) -> dict:
    agent = agent_get(agent_id=agent_id)
    by_status = dict(
        Article.objects.filter(submitting_agent_id=agent_id)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {
        "agent_id": agent.id,
        "name": agent.name,
        "role": agent.role,
        "is_active": agent.is_active,
        "last_seen": agent.last_seen.isoformat() if agent.last_seen else None,
        "total_articles_submitted": agent.total_articles_submitted,
        "total_revisions": agent.total_revisions,
        "total_articles_approved": agent.total_articles_approved,
        "total_articles_rejected": agent.total_articles_rejected,
        "total_articles_published": agent.total_articles_published,
        "articles_by_status": by_status,
    }


def agent_article_counts() -> dict[str, dict[str, int]]:
    """Articles by status for every agent, in one query: {agent_id: {status: count}}."""
    counts: dict[str, dict[str, int]] = {}
    rows = Article.objects.values_list("submitting_agent_id", "status").annotate(n=Count("id"))
    for agent_id, status, n in rows.values_list("submitting_agent_id", "status", "n"):
        counts.setdefault(agent_id, {})[status] = n
    return counts


def system_metrics() -> dict:
    """The numbers an operator watches: articles by status, agents, sites by health, recent activity."""
    day_ago = timezone.now() - timedelta(days=1)
    recent = dict(
        AuditLog.objects.filter(
            timestamp__gte=day_ago,
            event_type__in=["article_submitted", "publish_succeeded", "publish_failed", "auth_failed"],
        )
        .values_list("event_type")
        .annotate(n=Count("id"))
        .values_list("event_type", "n")
    )
    return {
        "articles_by_status": dict(
            Article.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")
        ),
        "agents": {"active": Agent.objects.filter(is_active=True).count(), "connected": len(connected_agent_ids())},
        "sites_by_health": dict(
            Site.objects.filter(is_active=True)
            .values_list("health_status")
            .annotate(n=Count("id"))
            .values_list("health_status", "n")
        ),
        "last_24h": recent,
    }


def article_revision_pair(
    *, article: Article, first: int, second: int
) -> tuple[ArticleRevision, ArticleRevision] | None:
    """Revisions `first` and `second` of an article, in that order, for the diff on its console page; None
    when either does not exist."""
    revisions = {r.number: r for r in ArticleRevision.objects.filter(article=article, number__in=[first, second])}
    if first not in revisions or second not in revisions:
        return None
    return revisions[first], revisions[second]


def article_publish_failed_list(*, limit: int) -> list[Article]:
    """The `limit` articles whose publishing failed most recently (by last change), newest first: the
    monitoring page's alerts."""
    return list(
        Article.objects.filter(status=ArticleStatus.PUBLISH_FAILED)
        .defer("content_markdown", "content_html")
        .order_by("-updated_at")[:limit]
    )


@dataclass(frozen=True)
class PublishProgress:
    """Where the publish of a publishing article stands, as the console tells it.

    `state`: "publishing" (a worker holds it now), "retrying" (an attempt failed; the next waits for
    `due_at`), "queued" (no attempt yet in this run; it starts at `due_at`, or as soon as a worker is
    free) or "lost" (its task or its worker was lost: recovery queues it again)."""

    state: str
    attempt: int  # attempts started in this run: since the approval, or since the last retry of a failed publish
    attempts_max: int  # attempts a run makes before it gives up (the worker's publishing.retry_attempts + 1)
    due_at: datetime | None
    due_in_seconds: int | None  # from when this was read; None without a due time
    claimed_at: datetime | None
    error: str  # the last attempt's error ("" when none)

    @property
    def attempt_text(self) -> str:
        """ "attempt 2 of 4"; without the limit once a task queued again by recovery has gone past it."""
        if self.attempt <= self.attempts_max:
            return f"attempt {self.attempt} of {self.attempts_max}"
        return f"attempt {self.attempt}"


def article_publish_progress(*, articles: Sequence[Article]) -> dict[int, PublishProgress]:
    """The publish progress of the publishing articles among `articles`, by id, in two queries whatever
    their number. Whether a task is lost is decided by the recovery's own rules (articles.services.publishing)."""
    publishing = [article for article in articles if article.status == ArticleStatus.PUBLISHING]
    if not publishing:
        return {}
    try:
        settings = config_current().publishing
    except ConfigInvalid:
        settings = PublishingSettings()  # no config runs (nor does any worker): the defaults still read right
    now = timezone.now()
    ids = [article.pk for article in publishing]
    overdue = set(Article.objects.filter(pk__in=ids).filter(publish_task_overdue(now=now)).values_list("pk", flat=True))
    # A retry of a failed publish starts a new run: its attempts count from the attempt that failed.
    before_run: dict[int, int] = {}
    failures = AuditLog.objects.filter(article_id__in=ids, event_type=EventType.PUBLISH_FAILED).order_by("id")
    for article_id, metadata in failures.values_list("article_id", "metadata"):
        attempt = (metadata or {}).get("attempt")
        if article_id is not None and isinstance(attempt, int):
            before_run[article_id] = attempt
    progress = {}
    for article in publishing:
        claimed_at = article.publish_claimed_at
        if claimed_at is not None:
            lost = publish_claim_lost(
                claimed_at=claimed_at, claimed_by=article.publish_claimed_by, now=now, publishing=settings
            )
        else:
            lost = article.pk in overdue
        attempt = max(0, article.publish_attempts - before_run.get(article.pk, 0))
        if lost:
            state = "lost"
        elif claimed_at is not None:
            state = "publishing"
        else:
            state = "retrying" if attempt else "queued"
        due_at = article.publish_due_at
        progress[article.pk] = PublishProgress(
            state=state,
            attempt=attempt,
            attempts_max=settings.retry_attempts + 1,
            due_at=due_at,
            due_in_seconds=max(0, round((due_at - now).total_seconds())) if due_at else None,
            claimed_at=claimed_at,
            error=article.publish_error_message if attempt else "",
        )
    return progress
