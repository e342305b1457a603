"""The console's audit log: filters, keyset paging, CSV export."""

from __future__ import annotations

import csv

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from audit.models import EventType, Severity
from audit.selectors import audit_log_list
from console.pages import render_page, reviewer_required
from core.params import param_datetime, param_int, param_text

PAGE_SIZE = 100
CSV_COLUMNS = [
    "id",
    "timestamp",
    "event_type",
    "category",
    "severity",
    "agent_id",
    "article_id",
    "site_id",
    "username",
    "ip_address",
    "message",
]


def _filtered(request: HttpRequest):
    get = request.GET
    rows = audit_log_list(
        event_type=param_text(get, "event"),
        agent_id=param_text(get, "agent"),
        site_id=param_text(get, "site"),
        severity=param_text(get, "severity"),
    )
    if since := param_datetime(get, "since"):
        rows = rows.filter(timestamp__gte=since)
    if until := param_datetime(get, "until"):
        rows = rows.filter(timestamp__lte=until)
    return rows


@reviewer_required
def audit_page(request: HttpRequest) -> HttpResponse:
    rows = _filtered(request)
    if before := param_int(request.GET, "before", minimum=1):
        rows = rows.filter(id__lt=before)
    page = list(rows.order_by("-id")[: PAGE_SIZE + 1])
    query = request.GET.copy()
    query.pop("before", None)
    return render_page(
        request,
        "console/audit.html",
        "console/partials/audit.html",
        {
            "entries": page[:PAGE_SIZE],
            "next_before": page[PAGE_SIZE - 1].id if len(page) > PAGE_SIZE else None,
            "filter_query": query.urlencode(),
            "event_types": EventType.values,
            "severities": Severity.values,
            "params": request.GET,
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@reviewer_required
def audit_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered log as CSV, streamed row by row (it can be millions of rows)."""
    writer = csv.writer(_Echo())
    rows = _filtered(request).order_by("-id").values_list(*CSV_COLUMNS).iterator(chunk_size=2000)

    def lines():
        yield writer.writerow(CSV_COLUMNS)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="wpublisher-audit.csv"'
    return response
