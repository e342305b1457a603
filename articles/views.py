"""The review console's article pages: dashboard, review queue, article, monitoring. Thin: parse the
request, call the services and selectors, render the page or (for htmx) its partial."""

from __future__ import annotations

import difflib
import re
from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from agents.models import Agent
from agents.selectors import agent_list, connected_agent_ids
from articles import selectors, services
from articles.models import Article, ArticleRevision, ArticleStatus
from articles.selectors import agent_article_counts
from articles.services import Reviewer
from audit.models import AuditLog, EventType
from audit.monitoring import hourly_counts, publish_durations
from core.exceptions import ValidationFailed
from core.params import int_check, param_int, param_text
from sites.models import HealthStatus, Site, SiteHealthSample
from sites.selectors import site_list
from wpublisher.charts import bar_chart, line_chart
from wpublisher.console import render_page, reviewer_required, run_action
from wpublisher.supervisor import supervision_status

FEED_SIZE = 30
SELECTED_ROW = re.compile(r"([0-9]{1,18}):([0-9]{1,18})")


@reviewer_required
def dashboard(request: HttpRequest) -> HttpResponse:
    counts = agent_article_counts()
    connected = connected_agent_ids()
    agents = [
        {"agent": agent, "connected": agent.id in connected, "counts": counts.get(agent.id, {})}
        for agent in agent_list()
    ]
    return render_page(
        request,
        "console/dashboard.html",
        "console/partials/dashboard.html",
        {
            "status_counts": selectors.article_status_counts(),
            "agents": agents,
            "feed": AuditLog.objects.order_by("-id")[:FEED_SIZE],
            "publishing": selectors.article_publishing_queue(),
            "sites": site_list(),
            "supervision": supervision_status(),
        },
    )


def _queue_filters(request: HttpRequest) -> dict:
    get = request.GET
    return {
        "status": param_text(get, "status"),
        "agent_id": param_text(get, "agent"),
        "site_id": param_text(get, "site"),
        "text": (param_text(get, "q") or "").strip() or None,
        "before_id": param_int(get, "before", minimum=1),
    }


def _queue_context(request: HttpRequest) -> dict:
    filters = _queue_filters(request)
    articles, next_before = selectors.article_queue_page(**filters)
    query = request.GET.copy()
    query.pop("before", None)
    return {
        "articles": articles,
        "next_before": next_before,
        "filters": filters,
        "filter_query": query.urlencode(),
        "status_counts": selectors.article_status_counts(),
        "statuses": ArticleStatus.choices,
        "agents": Agent.objects.order_by("id").values_list("id", flat=True),
        "sites": Site.objects.order_by("position", "id").values_list("id", flat=True),
    }


@reviewer_required
def queue(request: HttpRequest) -> HttpResponse:
    return render_page(request, "console/queue.html", "console/partials/queue.html", _queue_context(request))


@reviewer_required
@require_POST
def queue_batch(request: HttpRequest) -> HttpResponse:
    """Approve or reject the selected articles, each at the revision its row showed (posted as
    "<id>:<revision>"); each one succeeds or reports why not (a row revised since: INVALID_TRANSITION)."""
    action = request.POST.get("action")
    reviewer = Reviewer(user=request.user)
    values = request.POST.getlist("article")
    rows: list[tuple[int, int]] = []
    for value in values:
        row = _selected_row(value)
        if row is None:
            messages.error(request, f"VALIDATION_ERROR: article {value[:40]!r} must be <id>:<revision>")
        else:
            rows.append(row)
    if not values:
        messages.error(request, "VALIDATION_ERROR: select at least one article")
    reason = request.POST.get("rejection_reason", "")
    for article_id, revision in rows:
        if action == "approve":
            run_action(
                request,
                lambda a=article_id, r=revision: services.article_approve(
                    reviewer=reviewer, article_id=a, expected_revision=r
                ),
                f"article {article_id} approved",
            )
        elif action == "reject":
            run_action(
                request,
                lambda a=article_id, r=revision: services.article_reject(
                    reviewer=reviewer, article_id=a, rejection_reason=reason, expected_revision=r
                ),
                f"article {article_id} rejected",
            )
    return render_page(request, "console/queue.html", "console/partials/queue.html", _queue_context(request))


def _selected_row(value: str) -> tuple[int, int] | None:
    """A queue row's checkbox value, "<article id>:<revision shown>", or None when it is not one."""
    match = SELECTED_ROW.fullmatch(value)
    return (int(match[1]), int(match[2])) if match else None


def _shown_revision(revision: int | None) -> int:
    """The revision the article page showed (its form posts it); an approval without one is refused."""
    if revision is None:
        raise ValidationFailed("revision is required: the revision shown on the article page", field="revision")
    return revision


def _revision_diff(article: Article, first: int, second: int) -> list[tuple[str, str]]:
    revisions = {r.number: r for r in ArticleRevision.objects.filter(article=article, number__in=[first, second])}
    if first not in revisions or second not in revisions:
        return []
    before, after = revisions[first], revisions[second]
    lines = difflib.unified_diff(
        f"# {before.title}\n\n{before.content_markdown}".splitlines(),
        f"# {after.title}\n\n{after.content_markdown}".splitlines(),
        fromfile=f"revision {first}",
        tofile=f"revision {second}",
        lineterm="",
    )
    kinds = {"+": "added", "-": "removed", "@": "hunk"}
    return [(kinds.get(line[:1], "same"), line) for line in lines]


def _article_context(request: HttpRequest, article_id: int) -> dict:
    int_check(article_id, name="article_id", minimum=1)  # the URL takes any digits
    article = get_object_or_404(Article.objects.select_related("target_site", "submitting_agent"), pk=article_id)
    revisions = list(selectors.article_revision_list(article=article))
    numbers = [r.number for r in revisions]
    first = param_int(request.GET, "a", default=numbers[-2] if len(numbers) > 1 else numbers[0], minimum=1)
    second = param_int(request.GET, "b", default=numbers[-1], minimum=1)
    return {
        "article": article,
        "revisions": revisions,
        "diff": _revision_diff(article, first, second) if first != second else [],
        "diff_from": first,
        "diff_to": second,
        "history": AuditLog.objects.filter(article_id=article.pk).order_by("-id")[:50],
    }


@reviewer_required
def article_detail(request: HttpRequest, article_id: int) -> HttpResponse:
    return render_page(
        request, "console/article.html", "console/partials/article.html", _article_context(request, article_id)
    )


@reviewer_required
@require_POST
def article_action(request: HttpRequest, article_id: int) -> HttpResponse:
    action = request.POST.get("action")
    reviewer = Reviewer(user=request.user)
    int_check(article_id, name="article_id", minimum=1)  # the URL takes any digits
    expected = param_int(request.POST, "revision", minimum=1)
    if action == "approve":
        run_action(
            request,
            lambda: services.article_approve(
                reviewer=reviewer,
                article_id=article_id,
                notes=request.POST.get("reviewer_notes"),
                expected_revision=_shown_revision(expected),
            ),
            f"article {article_id} approved; publishing",
        )
    elif action == "reject":
        run_action(
            request,
            lambda: services.article_reject(
                reviewer=reviewer,
                article_id=article_id,
                rejection_reason=request.POST.get("rejection_reason"),
                expected_revision=expected,
            ),
            f"article {article_id} rejected",
        )
    elif action == "retry":
        run_action(
            request,
            lambda: services.article_retry_publish(article_id=article_id, user=request.user),
            f"article {article_id} queued for publishing again",
        )
    if not request.htmx:
        return redirect("console:article", article_id=article_id)
    return render_page(
        request, "console/article.html", "console/partials/article.html", _article_context(request, article_id)
    )


@reviewer_required
def monitoring(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    hours = hourly_counts(
        event_types=[EventType.ARTICLE_SUBMITTED, EventType.PUBLISH_SUCCEEDED, EventType.PUBLISH_FAILED], now=now
    )
    labels = [(now - timedelta(hours=23 - i)).strftime("%H:00") for i in range(24)]
    durations = publish_durations()
    health_charts = []
    for site in site_list():
        samples = list(SiteHealthSample.objects.filter(site=site).order_by("-checked_at")[:60])[::-1]
        points = [(s.checked_at.strftime("%H:%M"), s.latency_ms) for s in samples]
        health_charts.append(
            {
                "site": site,
                "chart": line_chart(points, title=f"{site.id} latency", unit=" ms"),
                "errors": sum(s.status == HealthStatus.ERROR for s in samples),
            }
        )
    return render_page(
        request,
        "console/monitoring.html",
        "console/partials/monitoring.html",
        {
            "submissions": bar_chart(hours[EventType.ARTICLE_SUBMITTED], labels=labels, title="Submissions per hour"),
            "publishes": bar_chart(hours[EventType.PUBLISH_SUCCEEDED], labels=labels, title="Publishes per hour"),
            "failures": bar_chart(hours[EventType.PUBLISH_FAILED], labels=labels, title="Failed publishes per hour"),
            "durations": bar_chart(
                [d for _, d in durations],
                labels=[f"article {a}" for a, _ in durations],
                title="Publish duration",
                unit=" s",
            ),
            "health_charts": health_charts,
            "failing_sites": Site.objects.filter(
                is_active=True, health_status__in=[HealthStatus.ERROR, HealthStatus.WARNING]
            ),
            "failed_articles": Article.objects.filter(status=ArticleStatus.PUBLISH_FAILED).order_by("-updated_at")[:20],
        },
    )
