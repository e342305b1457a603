"""The audit log: what is recorded, that no secret reaches it or the logs, and retention."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.actors import Actor
from agents.exceptions import AuthFailed
from agents.models import Agent
from agents.services import agent_authenticate, agent_key_revoke, agent_key_rotate
from articles import services as articles
from audit.models import AuditLog
from audit.services import audit_record, audit_retention_apply
from configuration.reload import config_reload
from core.redaction import redact
from tests.conftest import agent_entry, site_entry
from tests.factories import TEST_ACTOR, UserFactory

pytestmark = pytest.mark.django_db

CANARY_KEY = "canary-KEY-7f3a9c2e1b5d8f4a6c0e2b4d6f8a1c3e"
CANARY_PASSWORD = "canary PASS wq8z 3m5n 7v9x"


@pytest.mark.usefixtures("queued")
def test_no_secret_reaches_an_audit_row_or_a_log_line(loaded_config, config_files, caplog):
    caplog.set_level(logging.DEBUG)
    loaded_config(
        agents=[
            agent_entry("writer", key=CANARY_KEY),
            agent_entry("editor", scopes=["article:read", "article:review"]),
        ],
        sites=[site_entry("blog", app_password=CANARY_PASSWORD)],
    )
    writer = agent_authenticate(token=CANARY_KEY, user_agent=f"agent Bearer {CANARY_KEY}")
    with pytest.raises(AuthFailed):
        agent_authenticate(token=CANARY_KEY + "x")
    article = articles.article_submit(
        agent=writer,
        title=f"About {CANARY_KEY}",
        content_markdown=f"Password: {CANARY_PASSWORD}",
        agent_metadata={"note": CANARY_KEY},
    )
    articles.article_approve(
        actor=Actor(user=UserFactory()), article_id=article.pk, expected_revision=1, notes=CANARY_PASSWORD
    )
    _, rotated = agent_key_rotate(agent_id="writer", grace_seconds=0, actor=TEST_ACTOR)
    agent_key_revoke(agent_id="writer", actor=TEST_ACTOR)
    config_files.write_text("sites.yml", f"sites:\n  - id: blog\n    app_password: {CANARY_PASSWORD}\n")
    assert not config_reload().ok
    logging.getLogger("wpublisher.test").error("leak attempt %s %s %s", CANARY_KEY, CANARY_PASSWORD, rotated)

    rows = json.dumps(list(AuditLog.objects.values()), default=str)
    assert AuditLog.objects.count() >= 10
    for secret in (CANARY_KEY, CANARY_PASSWORD, rotated):
        assert secret not in rows
        assert secret not in caplog.text
    # The redaction kept the rest of the line readable.
    assert "leak attempt [redacted] [redacted]" in caplog.text


@pytest.mark.usefixtures("queued")
def test_every_workflow_step_is_audited_with_its_actors(loaded_config):
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog")])
    writer = Agent.objects.get(pk="writer")
    article = articles.article_submit(agent=writer, title="T", content_markdown="x")
    articles.article_revise(agent=writer, article_id=article.pk, content_markdown="y", note="typo")
    articles.article_approve(actor=Actor(user=UserFactory(username="bob")), article_id=article.pk, expected_revision=2)
    rows = list(AuditLog.objects.filter(article_id=article.pk).order_by("id"))
    assert [(r.event_type, r.category, r.agent_id, r.username, r.site_id) for r in rows] == [
        ("article_submitted", "content", "writer", "", "blog"),
        ("article_revised", "content", "writer", "", "blog"),
        ("article_approved", "content", "", "bob", "blog"),
    ]


def test_redact_masks_generated_keys_and_bearer_tokens():
    text = "Authorization: Bearer abc.def and key wpk_abcdefghijkl_" + "Z" * 43
    assert redact(text) == "Authorization: Bearer [redacted] and key wpk_abcdefghijkl_[redacted]"


def test_retention_deletes_only_rows_older_than_the_limit():
    old = audit_record(event_type="auth_failed", message="old")
    recent = audit_record(event_type="auth_failed", message="recent")
    AuditLog.objects.filter(pk=old.pk).update(timestamp=timezone.now() - timedelta(days=91))
    AuditLog.objects.filter(pk=recent.pk).update(timestamp=timezone.now() - timedelta(days=89))
    assert audit_retention_apply(days=90, batch_size=1) == 1
    assert list(AuditLog.objects.filter(event_type="auth_failed").values_list("message", flat=True)) == ["recent"]
    applied = AuditLog.objects.get(event_type="audit_retention_applied")
    assert applied.metadata["deleted"] == 1


def test_retention_task_uses_the_configured_days(loaded_config):
    from audit.tasks import apply_audit_retention

    loaded_config(agents=[agent_entry("a")], sites=[site_entry("s")], system={"audit": {"retention_days": 7}})
    row = audit_record(event_type="auth_failed", message="eight days old")
    AuditLog.objects.filter(pk=row.pk).update(timestamp=timezone.now() - timedelta(days=8))
    assert apply_audit_retention() == 1


def test_json_log_lines_carry_agent_article_and_site():
    import io

    from wpublisher.logformat import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    audit_logger = logging.getLogger("wpublisher.audit")
    audit_logger.addHandler(handler)
    try:
        audit_record(
            event_type="publish_failed",
            message="boom",
            agent_id="writer",
            article_id=7,
            site_id="wp1",
            severity="error",
        )
    finally:
        audit_logger.removeHandler(handler)
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert (line["agent"], line["article"], line["site"], line["event"], line["level"]) == (
        "writer",
        7,
        "wp1",
        "publish_failed",
        "error",
    )
