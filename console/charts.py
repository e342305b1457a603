"""Small inline SVG charts for the console: drawn on the server from numbers, no JavaScript, no CDN.
Only numbers are formatted into the markup; every label and title is escaped."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, PAD = 600, 140, 20


def _frame(title: str, peak: float, unit: str, body: str) -> SafeString:
    return mark_safe(  # noqa: S308 - numbers and escaped text only
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f'<text x="{PAD}" y="14" class="chart-title">{escape(title)} (max {peak:g}{escape(unit)})</text>'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" class="axis"/>{body}</svg>'
    )


def _y(value: float, peak: float) -> float:
    return HEIGHT - PAD - (value / peak) * (HEIGHT - 2 * PAD)


def bar_chart(values: Sequence[float], *, labels: Sequence[str], title: str, unit: str = "") -> SafeString:
    """Bars for `values` (one per label), scaled to the largest; each bar has a tooltip."""
    peak = max(values, default=0) or 1
    step = (WIDTH - 2 * PAD) / max(len(values), 1)
    bars = "".join(
        f'<rect class="bar" x="{PAD + i * step + 1:.1f}" y="{_y(value, peak):.1f}" width="{max(step - 2, 1):.1f}" '
        f'height="{HEIGHT - PAD - _y(value, peak):.1f}"><title>{escape(label)}: {value:g}{escape(unit)}</title></rect>'
        for i, (value, label) in enumerate(zip(values, labels, strict=True))
    )
    return _frame(title, max(values, default=0), unit, bars)


def line_chart(points: Sequence[tuple[str, float | None]], *, title: str, unit: str = "") -> SafeString:
    """A polyline through (label, value) points; None values are left out."""
    values = [v for _, v in points if v is not None]
    peak = max(values, default=0) or 1
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)
    coordinates = [(PAD + i * step, _y(v, peak), label, v) for i, (label, v) in enumerate(points) if v is not None]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in coordinates)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>{escape(label)}: {v:g}{escape(unit)}</title></circle>'
        for x, y, label, v in coordinates
    )
    return _frame(title, max(values, default=0), unit, f'<polyline class="line" points="{line}"/>{dots}')
