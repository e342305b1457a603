"""One article: its revisions and their diff, its history, and approve, reject or retry publishing."""

from __future__ import annotations

import difflib
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from agents.actors import Actor
from articles import selectors, services
from articles.exceptions import ArticleNotFound
from articles.models import Article
from articles.rendering import post_content_build
from audit.selectors import audit_log_for_article
from console.pages import is_htmx, render_page, reviewer_required, run_action
from core.config.state import config_current
from core.config.types import ConfigInvalid, SiteConfig
from core.exceptions import ValidationFailed
from core.params import int_check, param_int
from sites.wordpress import time_zone_info

HISTORY_SIZE = 50  # entries in the article's history


def _shown_revision(revision: int | None) -> int:
    """The revision the article page showed (its form posts it); an approval without one is refused."""
    if revision is None:
        raise ValidationFailed("revision is required: the revision shown on the article page", field="revision")
    return revision


def _revision_diff(article: Article, first: int, second: int) -> list[tuple[str, str]]:
    pair = selectors.article_revision_pair(article=article, first=first, second=second)
    if pair is None:
        return []
    before, after = pair
    lines = difflib.unified_diff(
        f"# {before.title}\n\n{before.content_markdown}".splitlines(),
        f"# {after.title}\n\n{after.content_markdown}".splitlines(),
        fromfile=f"revision {first}",
        tofile=f"revision {second}",
        lineterm="",
    )
    kinds = {"+": "added", "-": "removed", "@": "hunk"}
    return [(kinds.get(line[:1], "same"), line) for line in lines]


def _target_site(article: Article) -> SiteConfig | None:
    """The article's site as configured now (None when it is not, or no configuration runs)."""
    try:
        return config_current().site(article.target_site_id)
    except ConfigInvalid:
        return None


def _site_clock(article: Article) -> str:
    """When a scheduled article goes public as its site's clock reads it ("2026-12-01 14:30 Asia/Kolkata"),
    in the zone WordPress last gave (read by the health check); "" when there is none or it is not known."""
    zone = time_zone_info(article.target_site.time_zone) if article.target_site.time_zone else None
    if article.publish_at is None or zone is None:
        return ""
    return f"{article.publish_at.astimezone(zone):%Y-%m-%d %H:%M} {article.target_site.time_zone}"


def _live_url(article: Article, *, opened: int, first: int | None, second: int | None) -> str:
    """Where the page's live region refreshes itself from: the page, remembering the status it shows (its
    messages stay while that holds), the revision it was opened at (to say when it was revised since) and the
    revisions a reviewer chose to compare."""
    query = {
        "shown": article.status,
        "opened": opened,
        **{name: n for name, n in (("a", first), ("b", second)) if n is not None},
    }
    return f"{reverse('console:article', args=[article.pk])}?{urlencode(query)}"


def _article_context(request: HttpRequest, article_id: int) -> dict:
    int_check(article_id, name="article_id", minimum=1)  # the URL takes any digits
    try:
        article = selectors.article_get(article_id=article_id)  # a reviewer sees every article
    except ArticleNotFound as error:
        raise Http404(error.message) from error
    revisions = list(selectors.article_revision_list(article=article))
    numbers = [r.number for r in revisions]
    chosen_first = param_int(request.GET, "a", minimum=1)
    chosen_second = param_int(request.GET, "b", minimum=1)
    first = chosen_first or (numbers[-2] if len(numbers) > 1 else numbers[0])
    second = chosen_second or numbers[-1]
    opened = param_int(request.GET, "opened", default=article.revision_number, minimum=1)
    return {
        "article": article,
        # What the site receives, through the function publishing sends it with.
        "preview_html": post_content_build(html=article.content_html, title=article.title, site=_target_site(article)),
        "progress": selectors.article_publish_progress(articles=[article]).get(article.pk),
        "scheduled_site_clock": _site_clock(article),
        "revised_since_opened": opened < article.revision_number,
        # A refresh keeps the messages shown (e.g. "approved; publishing") until the status changes.
        "keep_messages": request.GET.get("shown") == article.status,
        "live_url": _live_url(article, opened=opened, first=chosen_first, second=chosen_second),
        "revisions": revisions,
        "diff": _revision_diff(article, first, second) if first != second else [],
        "diff_from": first,
        "diff_to": second,
        "history": audit_log_for_article(article_id=article.pk, limit=HISTORY_SIZE),
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
    reviewer = Actor(user=request.user)
    int_check(article_id, name="article_id", minimum=1)  # the URL takes any digits
    expected = param_int(request.POST, "revision", minimum=1)
    if action == "approve":
        run_action(
            request,
            lambda: services.article_approve(
                actor=reviewer,
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
                actor=reviewer,
                article_id=article_id,
                rejection_reason=request.POST.get("rejection_reason"),
                expected_revision=expected,
            ),
            f"article {article_id} rejected",
        )
    elif action == "retry":
        run_action(
            request,
            lambda: services.article_retry_publish(article_id=article_id, actor=Actor(user=request.user)),
            f"article {article_id} queued for publishing again",
        )
    if not is_htmx(request):
        return redirect("console:article", article_id=article_id)
    return render_page(
        request, "console/article.html", "console/partials/article.html", _article_context(request, article_id)
    )
