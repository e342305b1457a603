"""The console's shared component partials render as the pages rendered them before they were shared."""

from __future__ import annotations

from types import SimpleNamespace

from django.template import engines


def _render(source: str, **context) -> str:
    return engines["django"].from_string(source).render(context)


def test_status_pill():
    pill = '{% include "console/components/status_pill.html" with status=status only %}'
    assert _render(pill, status="pending_review") == '<span class="pill status-pending_review">pending review</span>'


def test_status_pill_with_a_count_and_an_id():
    pill = '{% include "console/components/status_pill.html" with status="published" count=n id="x" only %}'
    assert _render(pill, n=0) == '<span class="pill status-published" id="x">published 0</span>'


def test_status_pill_of_an_unknown_status_shows_it_as_it_is():
    pill = '{% include "console/components/status_pill.html" with status=status only %}'
    assert _render(pill, status="<odd>") == '<span class="pill status-&lt;odd&gt;">&lt;odd&gt;</span>'


def test_health_badge_is_in_words():
    badge = '{% include "console/components/health_badge.html" with site=site only %}'
    words = {"healthy": "Healthy", "warning": "Warning", "error": "Failing", "unknown": "Not checked yet"}
    for status, word in words.items():
        site = SimpleNamespace(health_status=status)
        assert _render(badge, site=site) == f'<span class="pill health-{status}">{word}</span>'


def test_pager_links_older_and_back_to_the_newest():
    pager = '{% include "console/components/pager.html" with query=query next_before=older newest=before only %}'
    link = ' hx-target="#main" hx-push-url="true"'
    assert _render(pager, query="q=a%26b", older=None, before=None) == '<nav class="pager"></nav>'
    assert _render(pager, query="q=a%26b", older=41, before=None) == (
        '<nav class="pager"><a href="?q=a%26b&amp;before=41" hx-get="?q=a%26b&amp;before=41"'
        + link
        + ">Older »</a></nav>"
    )
    assert _render(pager, query="", older=None, before=90) == (
        f'<nav class="pager"><a href="?" hx-get="?"{link}>« Newest</a></nav>'
    )
