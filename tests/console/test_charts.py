"""The console's SVG charts: a title, a y axis with its unit and 3 to 5 round ticks, times on the x axis in the
reviewer's zone, a summary for screen readers, failed points marked, and a sentence when there is no data."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from console.charts import Point, Unit, bar_chart, line_chart, number, time_bar_chart, time_ticks, y_ticks

START = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
MS = Unit("ms")
ARTICLES = Unit("articles", one="article")


def _texts(svg: str, css: str) -> list[str]:
    return re.findall(rf'<text class="tick {css}"[^>]*>([^<]*)</text>', svg)


def _latency(values: list[float | None], failed: frozenset[int] = frozenset(), minutes: int = 1) -> str:
    points = [
        Point(at=START + timedelta(minutes=minutes * n), value=v, failed=n in failed) for n, v in enumerate(values)
    ]
    return line_chart(points, title="Latency of tech-blog", unit=MS, what="checks", empty="No checks yet.")


@pytest.mark.parametrize(
    ("peak", "whole", "ticks"),
    [
        (450, False, [0, 200, 400, 600]),
        (0.3, False, [0, 0.1, 0.2, 0.3]),
        (1, True, [0, 1, 2]),
        (3, True, [0, 1, 2, 3]),
        (7, True, [0, 2, 4, 6, 8]),
        (10, True, [0, 5, 10]),
        (0, False, [0, 0.25, 0.5, 0.75, 1]),
        (12_345, False, [0, 5000, 10_000, 15_000]),
    ],
)
def test_the_y_axis_has_3_to_5_round_ticks_from_0_past_the_peak(peak, whole, ticks):
    assert y_ticks(peak, whole=whole) == ticks


def test_numbers_are_short():
    assert [number(v) for v in (0, 2.5, 120, 1200, 15_000, 0.30000000000000004)] == [
        "0",
        "2.5",
        "120",
        "1200",
        "15k",
        "0.3",
    ]


def test_a_line_chart_has_its_title_unit_ticks_and_times():
    svg = _latency([120, 250, 450], minutes=20)
    assert '<figcaption class="chart-title">Latency of tech-blog</figcaption>' in svg
    assert '<text class="unit" x="4" y="13">ms</text>' in svg
    assert _texts(svg, "tick-y") == ["0", "200", "400", "600"]
    assert _texts(svg, "tick-x") == ["13:00", "13:10", "13:20", "13:30", "13:40"]
    assert svg.count('class="grid"') == 4 and svg.count('class="grid grid-x"') == 5
    assert 'viewBox="0 0 400 200" width="100%"' in svg


def test_times_are_in_the_reviewers_zone_and_midnight_shows_the_date():
    with timezone.override("Asia/Tokyo"):  # UTC+9: 13:00 UTC is 22:00
        svg = _latency([100] * 5, minutes=60)
    assert _texts(svg, "tick-x") == ["22:00", "23:00", "Nov 29", "01:00", "02:00"]
    assert "<title>Nov 28, 22:00:00: 100 ms</title>" in svg


def test_a_span_of_days_is_labelled_with_dates():
    ticks = time_ticks(START, START + timedelta(days=3))
    assert [label for _, label in ticks] == ["Nov 29", "Nov 30", "Dec 1"]


def test_the_svg_says_what_it_shows():
    svg = _latency([120, 300, 450], failed=frozenset({1}))
    summary = "Latency of tech-blog, last 3 checks: 120\u2013450 ms, 1 failed"
    assert f'role="img" aria-label="{summary}"' in svg
    assert f"<title>{summary}</title>" in svg


def test_failed_checks_are_red_crosses_with_a_tooltip_and_a_legend():
    svg = _latency([120, 300, None, 450], failed=frozenset({1, 2}))
    assert svg.count('<g class="failed">') == 2
    assert "<title>Nov 28, 13:01:00: failed, 300 ms</title>" in svg
    assert "<title>Nov 28, 13:02:00: failed, no answer</title>" in svg
    assert svg.count('<circle class="point"') == 2
    assert "failed checks</p>" in svg
    assert "failed checks</p>" not in _latency([120, 300])


def test_one_point_is_drawn_in_the_middle_with_its_time():
    svg = _latency([200])
    assert '<circle class="point" cx="216.0"' in svg
    assert _texts(svg, "tick-x") == ["13:00"]
    assert "last 1 check: 200 ms" in svg


def test_no_data_says_when_it_will_appear_instead_of_an_empty_chart():
    figure = line_chart([], title="Latency of blog", unit=MS, what="checks", empty="No health checks yet: soon.")
    assert "<svg" not in figure
    assert '<p class="chart-empty">No health checks yet: soon.</p>' in figure
    assert "Latency of blog" in figure


def test_an_hourly_bar_chart_labels_hours_and_counts_in_words():
    values = [0] * 23 + [1]
    values[5] = 3
    svg = time_bar_chart(
        values,
        start=START,
        step=timedelta(hours=1),
        title="Submissions",
        unit=ARTICLES,
        period="last 24 hours",
        empty="-",
    )
    assert _texts(svg, "tick-y") == ["0", "1", "2", "3"]
    assert _texts(svg, "tick-x") == ["18:00", "Nov 29", "06:00", "12:00"]
    assert "<title>Nov 28, 18:00\u201319:00: 3 articles</title>" in svg
    assert "<title>Nov 29, 12:00\u201313:00: 1 article</title>" in svg
    assert 'aria-label="Submissions, last 24 hours: 4 articles in total, 3 articles at most"' in svg
    assert '<text class="unit" x="4" y="13">articles</text>' in svg


def test_an_hourly_chart_of_zeros_is_its_no_data_sentence():
    figure = time_bar_chart(
        [0] * 24, start=START, step=timedelta(hours=1), title="Submissions", unit=ARTICLES, period="", empty="None yet."
    )
    assert "<svg" not in figure and "None yet." in figure


def test_a_bar_chart_of_things_labels_a_few_of_them():
    labels = [f"#{n}" for n in range(1, 11)]
    svg = bar_chart(
        [float(n) for n in range(1, 11)],
        labels=labels,
        title="Publish duration",
        unit=Unit("s"),
        what="publishes",
        empty="-",
    )
    assert _texts(svg, "tick-x") == ["#1", "#4", "#7", "#10"]
    assert "<title>#3: 3 s</title>" in svg
    assert 'aria-label="Publish duration, last 10 publishes: 1\u201310 s"' in svg
    assert "No" in bar_chart([], labels=[], title="t", unit=Unit("s"), what="publishes", empty="No publishes yet.")


def test_titles_and_labels_are_escaped():
    figure = line_chart([Point(at=START, value=1.0)], title='<b>"x"</b>', unit=Unit("<u>"), what="checks", empty="-")
    assert "<b>" not in figure and "<u>" not in figure
    assert "&lt;b&gt;&quot;x&quot;&lt;/b&gt;" in figure
