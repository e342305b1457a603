"""The console's audit log: filters, keyset paging, CSV export.

The From and To filters are a date (`<input type="date">`, always sent as 2026-11-29) and a 24-hour time
typed as text ("14:00"), read in the reviewer's time zone: a browser's date-time picker would show its own
locale's clock (12-hour AM/PM in en-US). A value that cannot be read is said in words above the list, which
then leaves that limit out. The ISO `since`/`until` parameters of older links still work (400 when they
cannot be read, as every console parameter)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone

from agents.selectors import agent_id_list
from audit.models import Severity
from audit.selectors import (
    audit_event_type_choices,
    audit_event_type_label,
    audit_log_export_rows,
    audit_log_page,
)
from console.pages import render_page, reviewer_required
from core.params import param_datetime, param_int, param_text
from sites.selectors import site_id_list

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

# The From/To fields as the form sends them: (prefix of the parameters, the field's name on the page).
BOUNDS = {"since": ("from", "From"), "until": ("to", "To")}
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# 24-hour hours and minutes: "14:00", "9:30", "14.00", "1400" (a phone's number pad has no colon), "14".
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3])(?:[:.h]?([0-5][0-9]))?")


def _typed_time(params: Mapping[str, str], *, prefix: str, label: str, end: bool) -> tuple[datetime | None, str | None]:
    """The date-time of the `<prefix>_date` and `<prefix>_time` fields in the reviewer's zone, and a sentence
    naming the field and its format when they cannot be read. A day without a time is the day's start, or
    its end for the upper bound (`end`); a time covers its whole minute for the upper bound."""
    day_text = (params.get(f"{prefix}_date") or "").strip()
    clock_text = (params.get(f"{prefix}_time") or "").strip()
    if not day_text and not clock_text:
        return None, None
    if not day_text:
        return None, f"{label}: a time needs a date as well; pick the day, like 2026-11-29."
    try:
        day = date.fromisoformat(day_text) if _DAY.fullmatch(day_text) else None
    except ValueError:  # well formed, but no such day: 2026-02-30
        day = None
    if day is None:
        return None, f"{label}: the date must be a day of the calendar written like 2026-11-29."
    clock = time.max if end else time.min
    if clock_text:
        match = _CLOCK.fullmatch(clock_text)
        if match is None:
            return None, f"{label}: the time must be hours and minutes on the 24-hour clock, like 14:00 or 09:30."
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        clock = time(hour, minute, 59, 999999) if end else time(hour, minute)
    try:
        moment = timezone.make_aware(datetime.combine(day, clock), timezone.get_current_timezone())
        moment.astimezone(UTC)  # the databases store UTC: 9999-12-31 23:59 west of Greenwich has none
    except (OverflowError, ValueError):
        return None, f"{label}: the date must be a day of the calendar written like 2026-11-29."
    return moment, None


def _filters(request: HttpRequest) -> tuple[dict, list[str]]:
    """The selector's filters from the query string, and the problems with the From/To fields, in words."""
    get = request.GET
    filters: dict = {
        "event_type": param_text(get, "event"),
        "agent_id": param_text(get, "agent"),
        "site_id": param_text(get, "site"),
        "severity": param_text(get, "severity"),
    }
    problems: list[str] = []
    for name, (prefix, label) in BOUNDS.items():
        typed, problem = _typed_time(get, prefix=prefix, label=label, end=name == "until")
        if problem:
            problems.append(problem)
        filters[name] = typed or param_datetime(get, name)
    return filters, problems


def _form_values(request: HttpRequest, filters: dict) -> dict[str, str]:
    """What the filter fields show: what was sent, and an older link's `since`/`until` as date and time in
    the reviewer's zone."""
    values = {key: str(value) for key, value in request.GET.items() if key != "before"}
    for name, (prefix, _) in BOUNDS.items():
        moment = filters[name]
        if moment is not None and not (values.get(f"{prefix}_date") or values.get(f"{prefix}_time")):
            local = timezone.localtime(moment)
            values[f"{prefix}_date"], values[f"{prefix}_time"] = f"{local:%Y-%m-%d}", f"{local:%H:%M}"
    return values


def _with_current(choices: list[str], current: str | None) -> list[str]:
    """The choices of a filter, with the one an older link names even if nothing has that id any more."""
    return choices if not current or current in choices else [*choices, current]


@reviewer_required
def audit_page(request: HttpRequest) -> HttpResponse:
    filters, problems = _filters(request)
    entries, next_before = audit_log_page(
        **filters, before_id=param_int(request.GET, "before", minimum=1), page_size=PAGE_SIZE
    )
    query = request.GET.copy()
    query.pop("before", None)
    return render_page(
        request,
        "console/audit.html",
        "console/partials/audit.html",
        {
            "entries": entries,
            "event_labels": {entry.event_type: audit_event_type_label(name=entry.event_type) for entry in entries},
            "next_before": next_before,
            "filter_query": query.urlencode(),
            "filtered": any(value is not None for value in filters.values()),
            "problems": problems,
            "event_choices": audit_event_type_choices(),
            "severities": Severity.choices,
            "agents": _with_current(agent_id_list(), filters["agent_id"]),
            "sites": _with_current(site_id_list(), filters["site_id"]),
            "form": _form_values(request, filters),
            "time_zone": timezone.get_current_timezone_name(),
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@reviewer_required
def audit_csv(request: HttpRequest) -> HttpResponseBase:
    """The filtered log as CSV, streamed row by row (it can be millions of rows)."""
    filters, problems = _filters(request)
    if problems:
        return HttpResponseBadRequest(" ".join(problems), content_type="text/plain; charset=utf-8")
    writer = csv.writer(_Echo())
    rows = audit_log_export_rows(**filters, columns=CSV_COLUMNS)

    def lines() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="wpublisher-audit.csv"'
    return response
