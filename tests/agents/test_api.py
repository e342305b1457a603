"""The reviewers' JSON API for agents (/api/agents): listing, statistics, and keys without any secret."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from agents import services
from agents.actors import Actor
from agents.models import ApiKey, McpSession
from articles.models import ArticleStatus
from tests.factories import TEST_ACTOR, AgentFactory, ArticleFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(UserFactory())
    return client


@pytest.mark.parametrize("path", ["/api/agents", "/api/agents/writer", "/api/agents/writer/keys"])
def test_anonymous_and_non_staff_users_are_refused(client, path):
    AgentFactory(id="writer")
    assert client.get(path).status_code == 401
    client.force_login(UserFactory(is_staff=False))
    response = client.get(path)
    assert (response.status_code, response.json()) == (401, {"detail": "Unauthorized"})


def test_list_shows_active_agents_unless_asked_for_all(staff):
    AgentFactory(id="writer")
    AgentFactory(id="retired", is_active=False)
    assert [a["id"] for a in staff.get("/api/agents").json()] == ["writer"]
    everyone = staff.get("/api/agents", {"include_inactive": True}).json()
    assert [(a["id"], a["is_active"]) for a in everyone] == [("retired", False), ("writer", True)]


def test_list_says_which_agents_are_connected(staff):
    AgentFactory(id="writer")
    AgentFactory(id="editor")
    now = timezone.now()
    McpSession.objects.create(id="s1", agent_id="writer", transport="http", opened_at=now, last_activity_at=now)
    connected = {a["id"]: a["connected"] for a in staff.get("/api/agents").json()}
    assert connected == {"editor": False, "writer": True}


def test_detail_has_the_agent_and_its_stats(staff):
    writer = AgentFactory(id="writer", scopes=["article:submit"], total_articles_submitted=3, total_revisions=2)
    ArticleFactory(submitting_agent=writer)
    ArticleFactory(submitting_agent=writer, status=ArticleStatus.PUBLISHED)
    ArticleFactory(submitting_agent=writer, status=ArticleStatus.PUBLISHED)
    body = staff.get("/api/agents/writer").json()
    assert (body["id"], body["name"], body["scopes"], body["connected"]) == (
        "writer",
        "Agent writer",
        ["article:submit"],
        False,
    )
    assert body["stats"] == {
        "total_articles_submitted": 3,
        "total_revisions": 2,
        "total_articles_approved": 0,
        "total_articles_rejected": 0,
        "total_articles_published": 0,
        "articles_by_status": {"pending_review": 1, "published": 2},
    }


def test_an_inactive_agent_can_still_be_read(staff):
    AgentFactory(id="retired", is_active=False)
    assert staff.get("/api/agents/retired").json()["is_active"] is False


def test_an_unknown_agent_is_404(staff):
    for path in ("/api/agents/nobody", "/api/agents/nobody/keys"):
        response = staff.get(path)
        assert response.status_code == 404
        assert response.json() == {
            "code": "AGENT_NOT_FOUND",
            "message": "agent 'nobody' not found or inactive",
            "field": "agent_id",
        }


@pytest.mark.parametrize("agent_id", ["Writer", "x" * 51, "a%00b"])
def test_an_id_that_cannot_name_an_agent_is_422(staff, agent_id):
    response = staff.get(f"/api/agents/{agent_id}")
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("VALIDATION_ERROR", "agent_id")


def test_keys_list_ids_and_dates_never_a_hash_or_secret(staff):
    AgentFactory(id="writer")
    first, first_secret = services.agent_key_create(agent_id="writer", actor=Actor(system="alice"))
    second, second_secret = services.agent_key_rotate(agent_id="writer", grace_seconds=0, actor=Actor(system="alice"))
    services.agent_key_revoke(agent_id="writer", key_id=second.key_id, actor=Actor(system="alice"))
    response = staff.get("/api/agents/writer/keys")
    assert response.status_code == 200
    keys = response.json()
    assert [k["key_id"] for k in keys] == [second.key_id, first.key_id]
    newest, oldest = keys
    assert (newest["source"], newest["unusable_reason"], newest["revoked_reason"]) == (
        "managed",
        "key revoked",
        "revoked by alice",
    )
    assert newest["revoked_at"] is not None
    assert (oldest["unusable_reason"], oldest["revoked_at"]) == ("key expired", None)
    assert oldest["not_after"] is not None
    assert set(newest) == {
        "key_id",
        "source",
        "origin",
        "created_at",
        "last_used_at",
        "not_after",
        "revoked_at",
        "revoked_reason",
        "unusable_reason",
    }
    text = response.content.decode()
    for secret in (first_secret, second_secret, *ApiKey.objects.values_list("key_hash", flat=True)):
        assert secret not in text
    assert "$2b$" not in text and "hash" not in json.dumps([sorted(k) for k in keys])


def test_agent_responses_never_carry_a_key(staff):
    AgentFactory(id="writer")
    _, secret = services.agent_key_create(agent_id="writer", actor=TEST_ACTOR)
    key_hash = ApiKey.objects.get().key_hash
    [listed] = staff.get("/api/agents").json()
    detail = staff.get("/api/agents/writer").json()
    for body in (listed, detail):
        text = json.dumps(body)
        assert secret not in text and key_hash not in text
        assert not [name for name in body if "key" in name or "hash" in name]


def test_keys_of_an_agent_with_none_is_an_empty_list(staff):
    AgentFactory(id="writer")
    assert staff.get("/api/agents/writer/keys").json() == []
