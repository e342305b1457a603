"""Agent endpoints of the JSON API: the agents, their statistics and their keys. Never a key or a hash."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema

from agents.models import ApiKey, KeySource
from agents.selectors import agent_get, agent_key_list, agent_list, connected_agent_ids
from agents.serializers import agent_summary
from api.schemas import AgentIdPath, ErrorOut
from articles.models import ArticleStatus
from articles.selectors import agent_stats

router = Router(tags=["agents"])


# --- schemas ------------------------------------------------------------------------------------------


class AgentOut(Schema):
    id: str
    name: str
    role: str
    description: str
    scopes: list[str]
    allowed_sites: list[str] | None = Field(description="site ids; null or empty means every site")
    is_active: bool
    connected: bool = Field(description="has an open MCP session")
    last_seen: datetime | None
    total_articles_submitted: int
    total_articles_published: int


class AgentStatsOut(Schema):
    total_articles_submitted: int
    total_revisions: int
    total_articles_approved: int
    total_articles_rejected: int
    total_articles_published: int
    articles_by_status: dict[ArticleStatus, int] = Field(description="statuses absent from it are 0")


class AgentDetailOut(AgentOut):
    stats: AgentStatsOut


class ApiKeyOut(Schema):
    """What a key's row says about it; the hash stays in the database."""

    key_id: str = Field(description="public id that finds the key; not the key")
    source: KeySource
    origin: str = Field(description="where a config key is defined, e.g. 'agents.yml: agents[0].api_key'")
    created_at: datetime
    last_used_at: datetime | None
    not_after: datetime | None = Field(description="stops working after this (rotation grace)")
    revoked_at: datetime | None
    revoked_reason: str
    unusable_reason: str | None = Field(description="why it no longer works ('key revoked', 'key expired')")

    @staticmethod
    def resolve_unusable_reason(key: ApiKey) -> str | None:
        return key.unusable_reason()


# --- endpoints ----------------------------------------------------------------------------------------


@router.get("", response={200: list[AgentOut], 422: ErrorOut})
def list_agents(request: HttpRequest, include_inactive: bool = False) -> list[dict]:
    connected = connected_agent_ids()
    agents = agent_list(include_inactive=include_inactive)
    return [agent_summary(agent, connected=agent.id in connected) for agent in agents]


@router.get("/{agent_id}", response={200: AgentDetailOut, 404: ErrorOut, 422: ErrorOut})
def get_agent(request: HttpRequest, agent_id: AgentIdPath) -> dict:
    """One agent (active or not) with its counters and articles by status."""
    agent = agent_get(agent_id=agent_id)
    return {
        **agent_summary(agent, connected=agent.id in connected_agent_ids()),
        "stats": agent_stats(agent_id=agent.id),
    }


@router.get("/{agent_id}/keys", response={200: list[ApiKeyOut], 404: ErrorOut, 422: ErrorOut})
def list_agent_keys(request: HttpRequest, agent_id: AgentIdPath) -> list[ApiKey]:
    """The agent's keys, newest first, revoked and expired ones included."""
    agent = agent_get(agent_id=agent_id)
    return list(agent_key_list(agent_id=agent.id))
