"""The audit selectors behind the console: the dashboard feed, an article's history, the log's pages and its
CSV export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audit.models import AuditLog
from audit.selectors import audit_log_export_rows, audit_log_for_article, audit_log_page, audit_log_recent

pytestmark = pytest.mark.django_db

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _entry(n: int, **fields) -> AuditLog:
    values = {
        "event_type": "article_submitted",
        "category": "content",
        "message": f"entry {n}",
        "timestamp": START + timedelta(minutes=n),
        **fields,
    }
    return AuditLog.objects.create(**values)


def test_the_feed_is_the_newest_entries_newest_first():
    entries = [_entry(n) for n in range(5)]
    assert audit_log_recent(limit=3) == entries[:-4:-1]
    assert audit_log_recent(limit=10) == entries[::-1]


def test_an_articles_history_holds_only_its_entries_newest_first():
    mine = [_entry(n, article_id=7) for n in range(3)]
    _entry(10, article_id=8)
    _entry(11)
    assert audit_log_for_article(article_id=7, limit=50) == mine[::-1]
    assert audit_log_for_article(article_id=7, limit=2) == mine[:0:-1]
    assert audit_log_for_article(article_id=9, limit=50) == []


def test_pages_of_the_log_continue_before_the_last_id_shown():
    entries = [_entry(n) for n in range(5)]
    first, next_before = audit_log_page(page_size=2)
    assert first == entries[:2:-1] and next_before == entries[3].id
    second, next_before = audit_log_page(before_id=next_before, page_size=2)
    assert second == entries[2:0:-1] and next_before == entries[1].id
    last, next_before = audit_log_page(before_id=next_before, page_size=2)
    assert last == entries[:1] and next_before is None


def test_a_full_last_page_has_no_next_page():
    entries = [_entry(n) for n in range(2)]
    assert audit_log_page(page_size=2) == (entries[::-1], None)


def test_pages_and_export_follow_the_filters():
    _entry(0, severity="error", agent_id="writer", site_id="blog")
    kept = _entry(1, severity="error", agent_id="writer", site_id="blog")
    _entry(2, severity="info", agent_id="writer", site_id="blog")
    _entry(3, severity="error", agent_id="other", site_id="blog")
    _entry(4, severity="error", agent_id="writer", site_id="news", event_type="publish_failed")
    _entry(5, severity="error", agent_id="writer", site_id="blog")
    filters = {
        "event_type": "article_submitted",
        "agent_id": "writer",
        "site_id": "blog",
        "severity": "error",
        "since": START + timedelta(minutes=1),
        "until": START + timedelta(minutes=4),
    }
    assert audit_log_page(**filters, page_size=10) == ([kept], None)
    assert list(audit_log_export_rows(**filters, columns=["id", "message"])) == [(kept.id, "entry 1")]


def test_the_export_streams_the_columns_asked_newest_first(django_assert_num_queries):
    entries = [_entry(n, agent_id=f"a{n}") for n in range(5)]
    rows = audit_log_export_rows(columns=["id", "agent_id"], chunk_size=2)
    with django_assert_num_queries(1):
        assert list(rows) == [(e.id, e.agent_id) for e in reversed(entries)]
