"""The audit log admin: entirely read-only, and built for a table of millions of rows."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditLog, EventType, Severity
from audit.services import audit_record
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:audit_auditlog_changelist")


@pytest.fixture
def entry() -> AuditLog:
    AgentFactory(id="ai-writer-001")
    audit_record(event_type=EventType.AUTH_SUCCEEDED, message="agent x authenticated", agent_id="x")
    return audit_record(
        event_type=EventType.ARTICLE_REJECTED,
        severity=Severity.WARNING,
        message="alice rejected article 7: off topic",
        agent_id="ai-writer-001",
        article_id=7,
        site_id="tech-blog",
        username="alice",
        metadata={"reason": "off topic"},
    )


def test_changelist_filters_search_and_change_page_render(admin_client, entry):
    page = admin_client.get(CHANGELIST)
    assert page.status_code == 200
    assert "alice rejected article 7: off topic" in page.text
    assert reverse("admin:agents_agent_change", args=["ai-writer-001"]) in page.text
    assert reverse("admin:articles_article_change", args=[7]) in page.text
    for query in (
        {"event_type__exact": "article_rejected"},
        {"category__exact": "content"},
        {"severity__exact": "warning"},
        {"q": "ai-writer-001"},
        {"q": "off topic"},
        {"timestamp__year": str(entry.timestamp.year), "timestamp__month": str(entry.timestamp.month)},
    ):
        filtered = admin_client.get(CHANGELIST, query)
        assert filtered.status_code == 200, query
        assert "alice rejected article 7" in filtered.text, query
        assert "authenticated" not in filtered.text or "timestamp__year" in query, query
    detail = admin_client.get(reverse("admin:audit_auditlog_change", args=[entry.pk]))
    assert detail.status_code == 200 and "&quot;reason&quot;: &quot;off topic&quot;" in detail.text


def test_the_audit_log_cannot_be_added_changed_or_deleted(admin_client, entry):
    assert admin_client.get(reverse("admin:audit_auditlog_add")).status_code == 403
    change = reverse("admin:audit_auditlog_change", args=[entry.pk])
    assert 'name="_save"' not in admin_client.get(change).text
    response = admin_client.post(change, {"message": "rewritten", "severity": "info", "event_type": "auth_failed"})
    assert response.status_code == 403
    assert admin_client.post(reverse("admin:audit_auditlog_delete", args=[entry.pk])).status_code == 403
    page = admin_client.get(CHANGELIST).text
    assert "delete_selected" not in page and 'name="action"' not in page
    bulk = admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [entry.pk], "index": 0})
    assert bulk.status_code in (200, 302)
    entry.refresh_from_db()
    assert (entry.message, entry.severity) == ("alice rejected article 7: off topic", "warning")
    assert AuditLog.objects.count() == 2


def test_the_changelist_is_cheap_on_a_large_table(rf, admin_user):
    model_admin = admin.site._registry[AuditLog]
    request = rf.get(CHANGELIST)
    request.user = admin_user
    assert model_admin.show_full_result_count is False
    assert model_admin.show_facets == admin.ShowFacets.NEVER
    assert "message" not in model_admin.get_sortable_by(request)
    assert model_admin.list_per_page <= 200
    assert model_admin.date_hierarchy == "timestamp"
    assert model_admin.get_ordering(request) == ("-timestamp", "-id")
    assert model_admin.get_actions(request) == {}
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_a_count_past_the_threshold_is_the_planner_s_estimate_on_postgresql(entry, monkeypatch):
    from django.db import connection

    from audit.admin import EstimatedCountPaginator

    rows = AuditLog.objects.order_by("-id")
    assert EstimatedCountPaginator(rows, 100).count == 2  # small: exact
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_ABOVE", 0)
    with CaptureQueriesContext(connection) as queries:
        counted = EstimatedCountPaginator(rows, 100).count
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    if connection.vendor == "postgresql":
        assert counted >= 1 and counts == []  # the planner's figure, never a COUNT(*)
    else:
        assert counted == 2 and len(counts) == 1  # SQLite has no estimate to give: exact


def test_the_changelist_pages_a_large_table_with_an_estimate(admin_client, entry, monkeypatch):
    from audit.admin import EstimatedCountPaginator

    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_ABOVE", 0)
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert b"alice rejected article 7" in response.content
