"""Idempotent writes: a retry after a lost answer returns the first result and writes nothing more."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from agents.actors import Actor
from articles import services
from articles.idempotency import IDEMPOTENCY_KEY_TTL, article_write_idempotent, idempotency_keys_expire
from articles.models import Article, ArticleStatus, IdempotencyKey
from audit.models import AuditLog
from core.exceptions import ValidationFailed
from tests.factories import AgentFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agents():
    SiteFactory(id="blog")
    writer = AgentFactory(id="writer")
    editor = AgentFactory(id="editor", scopes=["article:submit", "article:read", "article:review"])
    return writer, editor


def submit(agent, key, **fields):
    arguments = {"agent": agent, "title": "Hello", "content_markdown": "Body", **fields}
    return article_write_idempotent(owner=agent, key=key, write=services.article_submit, arguments=arguments)


def test_a_submission_sent_twice_with_one_key_is_stored_once(agents):
    writer, _ = agents
    first = submit(writer, "7d3c-retry")
    again = submit(writer, "7d3c-retry")
    assert again.pk == first.pk
    assert Article.objects.count() == 1
    assert AuditLog.objects.filter(event_type="article_submitted").count() == 1


def test_without_a_key_every_call_writes(agents):
    writer, _ = agents
    assert submit(writer, None).pk != submit(writer, None).pk


def test_a_key_reused_for_another_request_is_refused_naming_the_field(agents):
    writer, _ = agents
    first = submit(writer, "k1")
    with pytest.raises(ValidationFailed) as raised:
        submit(writer, "k1", title="Another")
    assert raised.value.field == "idempotency_key"
    assert f"(article_submit of article {first.pk})" in raised.value.message
    assert Article.objects.count() == 1


def test_keys_belong_to_their_agent(agents):
    writer, editor = agents
    assert submit(writer, "same").pk != submit(editor, "same").pk


@pytest.mark.parametrize("key", ["", "with space", "x" * 101, 5, "tab\there"])
def test_a_malformed_key_is_refused_before_anything_is_written(agents, key):
    writer, _ = agents
    with pytest.raises(ValidationFailed, match="idempotency_key must be 1 to 100 printable ASCII"):
        submit(writer, key)
    assert Article.objects.count() == 0


def test_a_failed_write_keeps_no_key(agents):
    writer, _ = agents
    with pytest.raises(ValidationFailed):
        submit(writer, "k", title="")
    assert IdempotencyKey.objects.count() == 0
    assert submit(writer, "k").title == "Hello"


def test_an_approval_retried_after_a_lost_answer_returns_it_instead_of_invalid_transition(agents, queued):
    writer, editor = agents
    article = submit(writer, None)
    arguments = {"actor": Actor(agent=editor), "article_id": article.pk, "expected_revision": 1, "notes": "ok"}
    for _ in range(2):
        approved = article_write_idempotent(
            owner=editor, key="approve-1", write=services.article_approve, arguments=arguments
        )
        assert approved.status == ArticleStatus.PUBLISHING
    assert AuditLog.objects.filter(event_type="article_approved").count() == 1


def test_keys_expire_after_a_day(agents):
    writer, _ = agents
    first = submit(writer, "old")
    IdempotencyKey.objects.update(created_at=first.created_at - IDEMPOTENCY_KEY_TTL - timedelta(seconds=1))
    assert submit(writer, "old").pk != first.pk  # an expired key starts afresh
    IdempotencyKey.objects.filter(article_id=first.pk).update(created_at=first.created_at - timedelta(days=2))
    assert idempotency_keys_expire() == 0  # the expired row was replaced by the new write
    assert IdempotencyKey.objects.count() == 1


def test_a_twin_that_committed_between_the_look_and_the_write_wins_and_the_late_write_is_undone(agents, monkeypatch):
    """The race below, made deterministic: the late twin's look found no key, its write collides."""
    writer, _ = agents
    first = submit(writer, "twin")
    real_filter = IdempotencyKey.objects.filter
    looks: list[int] = []

    def blind_first_look(*args, **kwargs):
        rows = real_filter(*args, **kwargs)
        looks.append(1)
        return rows.none() if len(looks) == 1 else rows

    monkeypatch.setattr(IdempotencyKey.objects, "filter", blind_first_look)
    assert submit(writer, "twin").pk == first.pk
    assert Article.objects.count() == 1 and AuditLog.objects.filter(event_type="article_submitted").count() == 1


@pytest.mark.django_db(transaction=True)
def test_twin_requests_racing_each_other_write_once(agents):
    """Two deliveries of one request at the same moment (a client retrying while the first still runs)."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite's in-memory test database fails a waiting writer (table locked) instead of waiting")
    writer, _ = agents
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            barrier.wait()
            results.append(submit(writer, "twin").pk)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 2 and results[0] == results[1]
    assert Article.objects.count() == 1 and AuditLog.objects.filter(event_type="article_submitted").count() == 1
