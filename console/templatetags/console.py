"""The console's template helpers: lookups, status labels, and times as people read them (relative, with
the exact time and zone on hover, in the reviewer's zone and one 24-hour format)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html

from articles.models import ArticleStatus

register = template.Library()

# One 24-hour format for every exact time in the console (Django `date` format).
EXACT_FORMAT = "Y-m-d H:i:s"
EXACT_TITLE_FORMAT = "Y-m-d H:i:s (e, \\U\\T\\CO)"


@register.filter
def get_item(mapping: dict, key: Any) -> Any:
    return mapping.get(key, "")


@register.filter
def status_label(value: str) -> str:
    return ArticleStatus(value).label if value in ArticleStatus.values else value


def relative_time(value: datetime, now: datetime) -> str:
    """How long ago (or from now) `value` is, as one reads it: "just now", "5 min ago", "in 2 h", "3 days ago".
    console.js writes the same words as time passes."""
    seconds = int((now - value).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now" if not future else "in a few seconds"
    for size, unit in ((86400 * 365, "year"), (86400 * 30, "month"), (86400, "day"), (3600, "h"), (60, "min")):
        if seconds >= size * 0.95 or unit == "min":
            count = max(1, round(seconds / size))
            words = f"{count} {unit}{'s' if count != 1 and unit in ('year', 'month', 'day') else ''}"
            return f"in {words}" if future else f"{words} ago"
    raise AssertionError("unreachable")


@register.simple_tag
def when(value: datetime | None, style: str = "relative", empty: str = "never") -> str:
    """A time as a <time> element in the reviewer's zone: `relative` ("5 min ago", the default), `exact`
    ("2026-11-29 14:05:09") or `clock` ("14:05:09"); the other form and the zone show on hover. `empty`
    is what None shows."""
    if value is None:
        return empty
    local = timezone.localtime(value)
    exact = template.defaultfilters.date(local, EXACT_FORMAT)
    title = template.defaultfilters.date(local, EXACT_TITLE_FORMAT)
    if style == "relative":
        text = relative_time(value, timezone.now())
        return format_html('<time datetime="{}" title="{}" data-relative>{}</time>', value.isoformat(), title, text)
    if style == "clock":
        exact = template.defaultfilters.date(local, "H:i:s")
    title = f"{title} · {relative_time(value, timezone.now())}"
    return format_html('<time datetime="{}" title="{}">{}</time>', value.isoformat(), title, exact)
