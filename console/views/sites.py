"""The console's sites page: health with latency history, pool settings, posts, "check now"."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from console.charts import line_chart
from console.pages import render_page, reviewer_required, run_action
from core.params import text_parse
from sites.selectors import site_health_history, site_list
from sites.services import site_health_check

HISTORY_POINTS = 40


def _sites_context() -> dict:
    rows = []
    sites = list(site_list(include_inactive=True))
    history = site_health_history(site_ids=[site.id for site in sites], points=HISTORY_POINTS)
    for site in sites:
        samples = history[site.id]
        chart = line_chart(
            [(s.checked_at.strftime("%H:%M"), s.latency_ms) for s in samples], title="latency", unit=" ms"
        )
        rows.append({"site": site, "chart": chart, "samples": len(samples)})
    return {"rows": rows}


@reviewer_required
def sites_page(request: HttpRequest) -> HttpResponse:
    return render_page(request, "console/sites.html", "console/partials/sites.html", _sites_context())


@reviewer_required
@require_POST
def site_check(request: HttpRequest, site_id: str) -> HttpResponse:
    text_parse(site_id, name="site_id")  # the URL takes any text; PostgreSQL refuses NUL
    run_action(
        request,
        lambda: site_health_check(site_id=site_id),
        lambda site: f"site {site.id} is {site.health_status}: {site.health_detail or site.health_message}",
    )
    return render_page(request, "console/sites.html", "console/partials/sites.html", _sites_context())
