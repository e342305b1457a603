"""Small inline SVG charts for the console: drawn on the server from numbers, no JavaScript, no CDN.

Every chart is a <figure> with its title, a y axis with its unit and 3 to 5 round ticks, an x axis with times
in the reviewer's zone ("14:00", or "Nov 28" over longer spans), gridlines, a tooltip on every bar and point,
and an SVG that says what it shows (role="img" and a summary as its aria-label). A chart without data says
so in a sentence instead, the caller's, which tells when data will appear. The SVG scales to its box
(viewBox, width 100%). Only numbers are formatted into the markup; every label and title is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 400, 200
LEFT, RIGHT, TOP, BOTTOM = 46, 14, 24, 28
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
BASELINE = TOP + PLOT_HEIGHT

# The steps between time labels, smallest first: the first that leaves at most MAX_TIME_TICKS - 1 steps wins.
TIME_STEPS = [timedelta(minutes=m) for m in (1, 2, 5, 10, 15, 30)] + [
    *(timedelta(hours=h) for h in (1, 2, 3, 6, 12)),
    *(timedelta(days=d) for d in (1, 2, 7, 14, 30, 91, 182, 365)),
]
MAX_TIME_TICKS = 6
DASH = "\u2013"  # en dash, between the ends of a range
MAX_Y_STEPS = 4


@dataclass(frozen=True)
class Unit:
    """What a chart's values count or measure: `short` on the axis ("ms", "articles"), `one` for a value of
    exactly 1 in words ("1 article"; `short` when empty)."""

    short: str
    one: str = ""

    def amount(self, value: float) -> str:
        return f"{number(value)} {self.one if value == 1 and self.one else self.short}"


@dataclass(frozen=True)
class Point:
    """One measurement of a line chart: when, its value (None: none, e.g. a check that never answered), and
    whether it failed (marked with a red cross)."""

    at: datetime
    value: float | None
    failed: bool = False


def number(value: float) -> str:
    """A value as a short label: "0", "2.5", "120", "1200", "15k"."""
    value = round(value, 6)
    if abs(value) >= 10_000:
        return f"{value / 1000:.3g}k"
    return f"{value:.4g}" if value != int(value) else str(int(value))


def y_ticks(peak: float, *, whole: bool = False) -> list[float]:
    """3 to 5 round values from 0 to at least `peak` (whole numbers only when `whole`, for counts)."""
    peak = max(peak, 1.0 if whole else 0.0) or 1.0
    magnitude = 10 ** math.floor(math.log10(peak / MAX_Y_STEPS))
    steps = [factor * magnitude * scale for scale in (1, 10) for factor in (1, 2, 2.5, 5)]
    step = next(s for s in steps if (not whole or (s >= 1 and s == int(s))) and _steps(peak, s) <= MAX_Y_STEPS)
    count = max(_steps(peak, step), 2)
    return [round(step * n, 9) for n in range(count + 1)]


def _steps(peak: float, step: float) -> int:
    return math.ceil(peak / step - 1e-9)


def time_label(moment: datetime, step: timedelta) -> str:
    """A time on an x axis in the reviewer's zone: "14:00" (a date, "Nov 28", at midnight) when labels are
    hours or minutes apart, "Nov 28" when days apart."""
    local = timezone.localtime(moment)
    if step >= timedelta(days=1) or (local.hour, local.minute) == (0, 0):
        return f"{local:%b} {local.day}"
    return f"{local:%H:%M}"


def _period_label(start: datetime, step: timedelta) -> str:
    """A bar's period in its tooltip, in the reviewer's zone: "Nov 28, 14:00-15:00" with an en dash."""
    first, last = timezone.localtime(start), timezone.localtime(start + step)
    return f"{first:%b} {first.day}, {first:%H:%M}{DASH}{last:%H:%M}"


def point_label(moment: datetime) -> str:
    """A point's time in its tooltip, in the reviewer's zone: "Nov 28, 14:05:09"."""
    local = timezone.localtime(moment)
    return f"{local:%b} {local.day}, {local:%H:%M:%S}"


def time_ticks(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """Round times between `start` and `end` (at most MAX_TIME_TICKS, on the reviewer's clock) with their
    labels; `start` and `end` themselves when no round time falls between them."""
    span = end - start
    if span <= timedelta(0):
        return [(start, time_label(start, timedelta(minutes=1)))]
    step = next((s for s in TIME_STEPS if span / s <= MAX_TIME_TICKS - 1), TIME_STEPS[-1])
    midnight = timezone.localtime(start).replace(hour=0, minute=0, second=0, microsecond=0)
    first = math.ceil((start - midnight) / step)
    ticks = [midnight + step * n for n in range(first, first + MAX_TIME_TICKS + 1)]
    ticks = [tick for tick in ticks if start <= tick <= end]
    if len(ticks) < 2:
        ticks = [start, end]
    return [(tick, time_label(tick, step)) for tick in ticks]


def _y(value: float, top: float) -> float:
    return BASELINE - (value / top) * PLOT_HEIGHT


def _x_label(x: float, text: str) -> str:
    anchor = "start" if x < LEFT + 16 else "end" if x > WIDTH - RIGHT - 16 else "middle"
    return (
        f'<line class="grid grid-x" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{BASELINE}"/>'
        f'<line class="tick-mark" x1="{x:.1f}" y1="{BASELINE}" x2="{x:.1f}" y2="{BASELINE + 4}"/>'
        f'<text class="tick tick-x" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def _svg(*, summary: str, unit: Unit, ticks: list[float], x_labels: list[tuple[float, str]], body: str) -> str:
    top = ticks[-1]
    y_axis = "".join(
        f'<line class="grid" x1="{LEFT}" y1="{_y(tick, top):.1f}" x2="{WIDTH - RIGHT}" y2="{_y(tick, top):.1f}"/>'
        f'<text class="tick tick-y" x="{LEFT - 6}" y="{_y(tick, top) + 4:.1f}" text-anchor="end">{number(tick)}</text>'
        for tick in ticks
    )
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'role="img" aria-label="{escape(summary)}"><title>{escape(summary)}</title>{y_axis}'
        f'<text class="unit" x="4" y="13">{escape(unit.short)}</text>'
        + "".join(_x_label(x, text) for x, text in x_labels)
        + f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{BASELINE}"/>'
        f'<line class="axis" x1="{LEFT}" y1="{BASELINE}" x2="{WIDTH - RIGHT}" y2="{BASELINE}"/>{body}</svg>'
    )


def _figure(title: str, content: str, note: str = "") -> SafeString:
    return mark_safe(  # noqa: S308 - numbers and escaped text only
        f'<figure class="chart-figure"><figcaption class="chart-title">{escape(title)}</figcaption>'
        f"{content}{note}</figure>"
    )


def no_data(title: str, sentence: str) -> SafeString:
    """A chart's place when there is nothing to draw: its title and `sentence`, which says when data will
    appear ("No health checks yet: the first runs within 60 s of start.")."""
    return _figure(title, str(format_html('<p class="chart-empty">{}</p>', sentence)))


def time_bar_chart(
    values: Sequence[float],
    *,
    start: datetime,
    step: timedelta,
    title: str,
    unit: Unit,
    period: str,
    empty: str,
    whole: bool = True,
) -> SafeString:
    """One bar per period of length `step` from `start` (values[0] is start to start + step), "per hour"
    charts. All zero (or no values): the `empty` sentence. `period` names the span in the summary ("last 24
    hours")."""
    if not any(values):
        return no_data(title, empty)
    ticks = y_ticks(max(values), whole=whole)
    end = start + step * len(values)
    width = PLOT_WIDTH / len(values)
    bars = "".join(
        f'<rect class="bar" x="{LEFT + i * width + 0.5:.1f}" y="{_y(value, ticks[-1]):.1f}" '
        f'width="{max(width - 1, 0.5):.1f}" height="{BASELINE - _y(value, ticks[-1]):.1f}">'
        f"<title>{escape(_period_label(start + step * i, step))}: {escape(unit.amount(value))}</title></rect>"
        for i, value in enumerate(values)
        if value
    )
    x_labels = [(LEFT + (tick - start) / (end - start) * PLOT_WIDTH, label) for tick, label in time_ticks(start, end)]
    summary = f"{title}, {period}: {unit.amount(sum(values))} in total, {unit.amount(max(values))} at most"
    return _figure(title, _svg(summary=summary, unit=unit, ticks=ticks, x_labels=x_labels, body=bars))


def bar_chart(
    values: Sequence[float], *, labels: Sequence[str], title: str, unit: Unit, what: str, empty: str
) -> SafeString:
    """One bar per label (things, not times: "#12" per article), oldest first, a few labels on the x axis.
    No values: the `empty` sentence. `what` names the bars in the summary ("publishes")."""
    if not values:
        return no_data(title, empty)
    ticks = y_ticks(max(values))
    width = PLOT_WIDTH / len(values)
    bars = "".join(
        f'<rect class="bar" x="{LEFT + i * width + 0.5:.1f}" y="{_y(value, ticks[-1]):.1f}" '
        f'width="{max(width - 1, 0.5):.1f}" height="{BASELINE - _y(value, ticks[-1]):.1f}">'
        f"<title>{escape(label)}: {escape(unit.amount(value))}</title></rect>"
        for i, (value, label) in enumerate(zip(values, labels, strict=True))
    )
    shown = sorted({round(n * (len(values) - 1) / 3) for n in range(4)})
    x_labels = [(LEFT + (i + 0.5) * width, labels[i]) for i in shown]
    summary = f"{title}, last {len(values)} {what}: {_range(values, unit)}"
    return _figure(title, _svg(summary=summary, unit=unit, ticks=ticks, x_labels=x_labels, body=bars))


def line_chart(points: Sequence[Point], *, title: str, unit: Unit, what: str, empty: str) -> SafeString:
    """A line with a dot per point, failed points as red crosses (on the baseline when they have no value),
    x by time. No points: the `empty` sentence. `what` names the points in the summary ("checks")."""
    if not points:
        return no_data(title, empty)
    values = [p.value for p in points if p.value is not None]
    ticks = y_ticks(max(values, default=0))
    start, end = points[0].at, points[-1].at
    span = (end - start).total_seconds()

    def x(point: Point) -> float:
        return LEFT + ((point.at - start).total_seconds() / span if span else 0.5) * PLOT_WIDTH

    def y(point: Point) -> float:
        return BASELINE if point.value is None else _y(point.value, ticks[-1])

    def tooltip(point: Point) -> str:
        value = "no answer" if point.value is None else unit.amount(point.value)
        return escape(f"{point_label(point.at)}: {'failed, ' if point.failed else ''}{value}")

    line = " ".join(f"{x(p):.1f},{y(p):.1f}" for p in points if p.value is not None and not p.failed)
    marks = "".join(
        f'<g class="failed"><title>{tooltip(p)}</title><path d="M{x(p) - 4:.1f} {y(p) - 4:.1f}l8 8m0 -8l-8 8"/></g>'
        if p.failed
        else f'<circle class="point" cx="{x(p):.1f}" cy="{y(p):.1f}" r="2.5"><title>{tooltip(p)}</title></circle>'
        for p in points
        if p.failed or p.value is not None
    )
    x_labels = [(x(Point(at=tick, value=None)), label) for tick, label in (time_ticks(start, end) if span else [])] or [
        (LEFT + PLOT_WIDTH / 2, time_label(start, timedelta(minutes=1)))
    ]
    failed = sum(p.failed for p in points)
    summary = f"{title}, last {_count(len(points), what)}: {_range(values, unit)}" + (
        f", {failed} failed" if failed else ""
    )
    legend = format_html(
        '<p class="chart-legend"><span class="key-point" aria-hidden="true">●</span> {}{}</p>',
        what,
        format_html(' · <span class="key-failed" aria-hidden="true">✕</span> failed {}', what) if failed else "",
    )
    body = (f'<polyline class="line" points="{line}"/>' if line else "") + marks
    return _figure(title, _svg(summary=summary, unit=unit, ticks=ticks, x_labels=x_labels, body=body), str(legend))


def _count(n: int, what: str) -> str:
    """ "1 check", "24 checks": `what` is plural; a count of one drops its final s."""
    return f"{n} {what[:-1] if n == 1 and what.endswith('s') else what}"


def _range(values: Sequence[float], unit: Unit) -> str:
    if not values:
        return "no values"
    low, high = min(values), max(values)
    return unit.amount(low) if low == high else f"{number(low)}{DASH}{number(high)} {unit.short}"
