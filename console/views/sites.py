"""The console's sites page: health in words with the latency history, pool settings, posts, "check now"."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from console.charts import Point, Unit, line_chart
from console.pages import render_page, reviewer_required, sentence
from core.exceptions import DomainError
from core.params import text_parse
from sites.models import HealthStatus, Site, SiteHealthSample
from sites.selectors import site_health_history, site_list
from sites.services import site_health_check

HISTORY_POINTS = 40
MILLISECONDS = Unit("ms")
SLOW_PREFIX = "slow: "  # how sites.services words a check that succeeded too slowly

# How a check's result is reported after "Check now": at the level of the site's health.
CHECK_MESSAGE_LEVEL: dict[str, int] = {
    HealthStatus.HEALTHY: messages.SUCCESS,
    HealthStatus.WARNING: messages.WARNING,
    HealthStatus.ERROR: messages.ERROR,
}


def site_health_sentence(site: Site) -> str:
    """A site's last health in words: "Site tech-blog is failing: unreachable: …", "… is slow: …", "… has not
    been checked yet"."""
    reason = site.health_message
    if site.health_status == HealthStatus.HEALTHY:
        state = "is healthy"
    elif site.health_status == HealthStatus.ERROR:
        state = "is failing"
    elif site.health_status == HealthStatus.WARNING and reason.startswith(SLOW_PREFIX):
        state, reason = "is slow", reason.removeprefix(SLOW_PREFIX)
    elif site.health_status == HealthStatus.WARNING:
        state = "is having trouble"
    else:
        return f"Site {site.id} has not been checked yet"
    return f"Site {site.id} {state}: {reason}" if reason else f"Site {site.id} {state}"


def site_latency_chart(site: Site, samples: Sequence[SiteHealthSample], *, title: str) -> str:
    """The latency of a site's checks over time, failed checks marked; before the first check, when it runs."""
    return line_chart(
        [Point(at=s.checked_at, value=s.latency_ms, failed=s.status == HealthStatus.ERROR) for s in samples],
        title=title,
        unit=MILLISECONDS,
        what="checks",
        empty=(
            f"No health checks yet: the first runs within {site.health_check_interval} s of start."
            if site.is_active
            else "No health checks: the site is no longer in sites.yml."
        ),
    )


def _sites_context() -> dict:
    rows = []
    sites = list(site_list(include_inactive=True))
    history = site_health_history(site_ids=[site.id for site in sites], points=HISTORY_POINTS)
    for site in sites:
        samples = history[site.id]
        rows.append(
            {
                "site": site,
                "card_id": f"site-{site.id}",
                # A site id may hold "." (core.config.schema.ID_RE), which a CSS id selector must escape.
                "card_selector": "#site-" + site.id.replace(".", "\\."),
                "sentence": site_health_sentence(site),
                "chart": site_latency_chart(site, samples, title=f"Latency of {site.id}"),
                "samples": len(samples),
                "failed": sum(s.status == HealthStatus.ERROR for s in samples),
            }
        )
    return {"rows": rows}


@reviewer_required
def sites_page(request: HttpRequest) -> HttpResponse:
    return render_page(request, "console/sites.html", "console/partials/sites.html", _sites_context())


@reviewer_required
@require_POST
def site_check(request: HttpRequest, site_id: str) -> HttpResponse:
    """Check a site now. The page (htmx swaps just this site's card and the messages) shows the new health
    and says it in words, at the level of the result: a check that ran and found the site failing is an
    error message, not a success."""
    text_parse(site_id, name="site_id")  # the URL takes any text; PostgreSQL refuses NUL
    try:
        site = site_health_check(site_id=site_id)
    except DomainError as error:
        messages.error(request, sentence(error.message))
    else:
        messages.add_message(
            request, CHECK_MESSAGE_LEVEL.get(site.health_status, messages.INFO), site_health_sentence(site)
        )
    return render_page(request, "console/sites.html", "console/partials/sites.html", _sites_context())
