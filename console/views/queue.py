"""The review queue: status tabs with counts, filters, keyset pages, and batch approve or reject at the
revisions shown, reported as one summary."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.http import require_POST

from agents.actors import Actor
from agents.selectors import agent_id_list
from articles import selectors, services
from articles.exceptions import ArticleChanged, ArticleNotFound, InvalidTransition
from articles.models import ArticleStatus
from articles.services.validation import REASON_MAX
from console.pages import render_page, reviewer_required
from core.exceptions import DomainError, ParameterInvalid
from core.params import param_int, param_text
from sites.selectors import site_id_list

SELECTED_ROW = re.compile(r"([0-9]{1,18}):([0-9]{1,18})")
# The `status` that shows every status; no `status` at all shows pending review.
ALL = "all"
CURSORS = ("before", "after")
# A batch summary names this many refused articles, then says how many more.
REFUSALS_NAMED = 5


def _queue_status(request: HttpRequest) -> str | None:
    """The status the queue shows: pending review when none is asked for, None for `all`."""
    value = param_text(request.GET, "status")
    if value is None:
        return ArticleStatus.PENDING_REVIEW
    if value == ALL:
        return None
    if value not in ArticleStatus.values:
        raise ParameterInvalid(f"status: must be one of {ALL}, {', '.join(ArticleStatus.values)}", field="status")
    return value


def _cursor_name(status: str | None) -> str:
    """The page parameter: `after` the last id shown oldest first, `before` it newest first."""
    return "after" if selectors.article_queue_oldest_first(status=status) else "before"


def _queue_filters(request: HttpRequest) -> dict[str, Any]:
    get = request.GET
    status = _queue_status(request)
    return {
        "status": status,
        "agent_id": param_text(get, "agent"),
        "site_id": param_text(get, "site"),
        "text": (param_text(get, "q") or "").strip() or None,
        "cursor_id": param_int(get, _cursor_name(status), minimum=1),
    }


def _query(request: HttpRequest, **changes: str | None) -> str:
    """The page's query string without its page cursor, with `changes` (None removes a parameter)."""
    query: QueryDict = request.GET.copy()
    for name in CURSORS:
        query.pop(name, None)
    for name, value in changes.items():
        query.pop(name, None)
        if value is not None:
            query[name] = value
    return query.urlencode()


def _status_tabs(request: HttpRequest, status: str | None, counts: dict[str, int]) -> list[dict[str, Any]]:
    """One tab a status, then `all`: its label, its count under the other filters, its link, and whether it
    is the one shown."""
    tabs: list[tuple[str, str, int, bool]] = [
        (value, label, counts[value], status == value) for value, label in ArticleStatus.choices
    ]
    tabs.append((ALL, "all", sum(counts.values()), status is None))
    return [
        {"label": label, "count": count, "current": current, "query": _query(request, status=value)}
        for value, label, count, current in tabs
    ]


def _queue_context(request: HttpRequest) -> dict[str, Any]:
    filters = _queue_filters(request)
    status = filters["status"]
    articles, next_cursor = selectors.article_queue_page(**filters)
    counts = selectors.article_queue_counts(
        agent_id=filters["agent_id"], site_id=filters["site_id"], text=filters["text"]
    )
    oldest_first = selectors.article_queue_oldest_first(status=status)
    htmx = getattr(request, "htmx", None)  # django_htmx's middleware sets it
    return {
        "articles": articles,
        "selectable": any(article.status == ArticleStatus.PENDING_REVIEW for article in articles),
        "next_cursor": next_cursor,
        "cursor_name": _cursor_name(status),
        "oldest_first": oldest_first,
        "filters": filters,
        "status_value": status or ALL,
        "status_label": ArticleStatus(status).label if status else "all",
        "filtered": bool(filters["agent_id"] or filters["site_id"] or filters["text"]),
        "status_tabs": _status_tabs(request, status, counts),
        "filter_query": _query(request),
        "clear_query": _query(request, agent=None, site=None, q=None),
        "page_query": request.GET.urlencode(),
        "agents": agent_id_list(),
        "sites": site_id_list(),
        "reason_max": REASON_MAX,
        # The live refresh of #queue-table gets the table (and the status tabs, out of band) only.
        "table_only": bool(htmx and htmx.target == "queue-table"),
    }


@reviewer_required
def queue(request: HttpRequest) -> HttpResponse:
    return render_page(request, "console/queue.html", "console/partials/queue.html", _queue_context(request))


@reviewer_required
@require_POST
def queue_batch(request: HttpRequest) -> HttpResponse:
    """Approve or reject the selected articles, each at the revision its row showed (posted as
    "<id>:<revision>"), and say what happened in one message: how many were done, and which were refused
    and why (a row revised since it was shown is refused)."""
    action = request.POST.get("action", "")
    values = request.POST.getlist("article")
    reason = request.POST.get("rejection_reason", "")
    rows = [_selected_row(value) for value in values]
    problem = _batch_problem(action=action, values=values, rows=rows, reason=reason)
    if problem:
        messages.error(request, problem)
    else:
        reviewer = Actor(user=request.user)
        review = _batch_action(action=action, reviewer=reviewer, reason=reason)
        done, refusals = 0, []
        for article_id, revision in (row for row in rows if row is not None):
            try:
                review(article_id, revision)
            except DomainError as error:
                refusals.append(_refusal(article_id, error))
            else:
                done += 1
        summary = batch_summary(verb="approved" if action == "approve" else "rejected", done=done, refusals=refusals)
        (messages.error if refusals else messages.success)(request, summary)
    return render_page(request, "console/queue.html", "console/partials/queue.html", _queue_context(request))


def _batch_problem(*, action: str, values: list[str], rows: list[tuple[int, int] | None], reason: str) -> str | None:
    """Why the batch cannot run at all, in words; None when it can."""
    if not values:
        return "Select at least one article."
    if None in rows:
        return "A selected row could not be read; reload the page and select again."
    if action not in ("approve", "reject"):
        return "Choose Approve selected or Reject selected."
    if action == "reject" and not reason.strip():
        return "Rejecting needs a reason: type it in the reason box, then press Reject selected."
    return None


def _batch_action(*, action: str, reviewer: Actor, reason: str) -> Callable[[int, int], object]:
    """The service call for one selected row (article id, revision shown)."""
    if action == "approve":
        return lambda article_id, revision: services.article_approve(
            actor=reviewer, article_id=article_id, expected_revision=revision
        )
    return lambda article_id, revision: services.article_reject(
        actor=reviewer, article_id=article_id, rejection_reason=reason, expected_revision=revision
    )


def _refusal(article_id: int, error: DomainError) -> str:
    """Why one article of a batch was refused, as a reviewer reads it."""
    if isinstance(error, ArticleChanged):
        return f"#{article_id} was revised since you loaded the page; look at it again"
    if isinstance(error, InvalidTransition):
        return f"#{article_id} is no longer pending review"
    if isinstance(error, ArticleNotFound):
        return f"#{article_id} no longer exists"
    return f"#{article_id}: {error.message}"


def batch_summary(*, verb: str, done: int, refusals: list[str]) -> str:
    """A batch's result as one message: "Approved 5." or "Approved 5. 1 refused: #12 was revised since …"
    (the first REFUSALS_NAMED refusals named, then how many more)."""
    summary = f"{verb.capitalize()} {done}." if done else f"None {verb}."
    if not refusals:
        return summary
    named = "; ".join(refusals[:REFUSALS_NAMED])
    more = len(refusals) - REFUSALS_NAMED
    return f"{summary} {len(refusals)} refused: {named}{f'; and {more} more' if more > 0 else ''}."


def _selected_row(value: str) -> tuple[int, int] | None:
    """A queue row's checkbox value, "<article id>:<revision shown>", or None when it is not one."""
    match = SELECTED_ROW.fullmatch(value)
    return (int(match[1]), int(match[2])) if match else None
