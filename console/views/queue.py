"""The review queue: filters, pages, and batch approve or reject at the revisions shown."""

from __future__ import annotations

import functools
import re

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from agents.actors import Actor
from agents.selectors import agent_id_list
from articles import selectors, services
from articles.models import ArticleStatus
from console.pages import render_page, reviewer_required, run_action
from core.params import param_int, param_text
from sites.selectors import site_id_list

SELECTED_ROW = re.compile(r"([0-9]{1,18}):([0-9]{1,18})")


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
        "agents": agent_id_list(),
        "sites": site_id_list(),
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
    reviewer = Actor(user=request.user)
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
                functools.partial(
                    services.article_approve, actor=reviewer, article_id=article_id, expected_revision=revision
                ),
                f"article {article_id} approved",
            )
        elif action == "reject":
            run_action(
                request,
                functools.partial(
                    services.article_reject,
                    actor=reviewer,
                    article_id=article_id,
                    rejection_reason=reason,
                    expected_revision=revision,
                ),
                f"article {article_id} rejected",
            )
    return render_page(request, "console/queue.html", "console/partials/queue.html", _queue_context(request))


def _selected_row(value: str) -> tuple[int, int] | None:
    """A queue row's checkbox value, "<article id>:<revision shown>", or None when it is not one."""
    match = SELECTED_ROW.fullmatch(value)
    return (int(match[1]), int(match[2])) if match else None
