"""The registry of audit event types: every type has its category and its toast in one place, rows are
checked against it when written, and the filters and live toasts read it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import EVENT_TYPES, AuditLog, Category, EventType, EventTypeSpec, event_type_list, event_type_spec
from audit.selectors import audit_event_type_choices
from audit.services import audit_record
from console.consumers import toast_alert, toast_text
from tests.conftest import agent_entry, site_entry
from tests.factories import UserFactory

TOAST_FIELDS = {"article_id": "7", "agent_id": "writer", "site_id": "blog", "status": "error", "health": "failing"}


def test_every_event_type_has_a_registry_entry_with_a_valid_category():
    assert set(EVENT_TYPES) == set(EventType)
    for event_type, spec in EVENT_TYPES.items():
        assert isinstance(spec, EventTypeSpec), event_type
        assert spec.category in Category.values, event_type
        assert spec.toast is None or spec.toast.format_map({**TOAST_FIELDS, "event": event_type}), event_type
        assert isinstance(spec.alert, bool), event_type


def test_the_registry_is_frozen():
    with pytest.raises(AttributeError):
        EVENT_TYPES[EventType.PUBLISH_FAILED].alert = False  # type: ignore[misc]


def test_event_type_spec_and_list():
    assert event_type_spec("publish_failed") is EVENT_TYPES[EventType.PUBLISH_FAILED]
    assert event_type_spec(EventType.AUTH_FAILED) is EVENT_TYPES[EventType.AUTH_FAILED]
    assert event_type_spec("process_exited") is None
    assert event_type_spec("") is None
    names = event_type_list()
    assert names == sorted(EventType.values) and all(type(name) is str for name in names)


@pytest.mark.django_db
def test_audit_record_takes_the_category_from_the_registry():
    for event_type in (EventType.SITE_HEALTH_CHANGED, "publish_failed"):
        entry = audit_record(event_type=event_type, message="something happened")
        entry.refresh_from_db()
        assert entry.event_type == str(event_type)
        assert entry.category == EVENT_TYPES[EventType(event_type)].category


@pytest.mark.django_db
def test_audit_record_refuses_an_event_type_not_in_the_registry():
    with pytest.raises(ValueError, match="no_such_event"):
        audit_record(event_type="no_such_event", message="never written")
    assert not AuditLog.objects.exists()


def test_toasts_come_from_the_registry():
    for event_type, spec in EVENT_TYPES.items():
        event = {"event": str(event_type), **TOAST_FIELDS}
        expected = spec.toast.format_map(event) if spec.toast is not None else str(event_type)
        assert toast_text(event) == expected, event_type
    assert toast_text({"event": "publish_succeeded", "article_id": 7, "site_id": "wp1"}) == "Article 7 published on wp1"
    assert (
        toast_text({"event": "site_health_changed", "site_id": "blog", "health": "failing"}) == "Site blog is failing"
    )


def test_an_event_type_without_a_toast_and_an_unknown_event_show_their_name():
    assert EVENT_TYPES[EventType.PUBLISH_RECOVERED].toast is None
    assert toast_text({"event": "publish_recovered", "article_id": 3}) == "publish_recovered"
    assert toast_text({"event": "process_exited"}) == "process_exited"


def test_alerts_come_from_the_registry_or_a_bad_status():
    alerts = {str(event_type) for event_type, spec in EVENT_TYPES.items() if spec.alert}
    assert alerts == {"publish_failed", "publish_retry_scheduled"}
    assert toast_alert({"event": "publish_failed", "status": "failed"})
    assert toast_alert({"event": "publish_retry_scheduled"})
    assert not toast_alert({"event": "publish_succeeded", "status": "published"})
    assert toast_alert({"event": "site_health_changed", "status": "error"})
    assert not toast_alert({"event": "process_exited"})
    assert toast_alert({"event": "process_exited", "status": "warning"})


@pytest.mark.django_db
def test_the_admin_filter_offers_the_registry_s_event_types(admin_client):
    page = admin_client.get(reverse("admin:audit_auditlog_changelist")).text
    for name in event_type_list():
        assert f"?event_type__exact={name}" in page, name


@pytest.mark.django_db
def test_the_console_audit_filter_offers_the_registry_s_event_types(client, loaded_config):
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog")])
    client.force_login(UserFactory(username="alice", is_staff=True))
    response = client.get("/audit/", {"event": "publish_failed"})
    assert response.context["event_choices"] == audit_event_type_choices()
    page = response.text
    assert all(f'<option value="{name}"' in page for name in event_type_list())
    assert '<option value="publish_failed" selected>Publish failed</option>' in page
