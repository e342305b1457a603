"""The console's audit log: filters, keyset paging, CSV export."""

from __future__ import annotations

import csv

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from audit.models import Severity, event_type_list
from audit.selectors import audit_log_export_rows, audit_log_page
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


def _filters(request: HttpRequest) -> dict:
    get = request.GET
    return {
        "event_type": param_text(get, "event"),
        "agent_id": param_text(get, "agent"),
        "site_id": param_text(get, "site"),
        "severity": param_text(get, "severity"),
        "since": param_datetime(get, "since"),
        "until": param_datetime(get, "until"),
    }


@reviewer_required
def audit_page(request: HttpRequest) -> HttpResponse:
    entries, next_before = audit_log_page(
        **_filters(request), before_id=param_int(request.GET, "before", minimum=1), page_size=PAGE_SIZE
    )
    query = request.GET.copy()
    query.pop("before", None)
    return render_page(
        request,
        "console/audit.html",
        "console/partials/audit.html",
        {
            "entries": entries,
            "next_before": next_before,
            "filter_query": query.urlencode(),
            "event_types": event_type_list(),
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
    rows = audit_log_export_rows(**_filters(request), columns=CSV_COLUMNS)

    def lines():
        yield writer.writerow(CSV_COLUMNS)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="wpublisher-audit.csv"'
    return response
