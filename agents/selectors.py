from __future__ import annotations

from django.db.models import QuerySet

from agents.exceptions import AgentNotFound
from agents.models import Agent, AgentWeeklyReport, ApiKey, McpSession
from core.cache import AuthMemo, agent_config_key, auth_generation, cached, cached_many

# Active agents by id, shared by the requests of this process (read-only: never change one).
_agents_memo = AuthMemo()


def agent_get(*, agent_id: str, include_inactive: bool = True) -> Agent:
    agents = Agent.objects.all() if include_inactive else Agent.objects.filter(is_active=True)
    agent = agents.filter(pk=agent_id).first()
    if agent is None:
        raise AgentNotFound(agent_id)
    return agent


def agent_config_get(*, agent_id: str, cache_only: bool = False) -> Agent | None:
    """The active agent `agent_id` as configured (role, scopes, allowed sites), for authentication and
    authorization on every request: cached, and invalidated by every change to its configuration. None when
    it is unknown or inactive, or with `cache_only` when the cache does not hold it. Its counters and
    last_seen may lag behind; read those with `agent_get`."""
    generation = auth_generation()
    agent = _agents_memo.get(agent_id, generation)
    if agent is None:
        key = agent_config_key(agent_id)
        if cache_only:
            agent = cached_many([key]).get(key)
        else:
            agent = cached(key, lambda: Agent.objects.filter(pk=agent_id, is_active=True).first())
        if agent is not None:
            _agents_memo.put(agent_id, generation, agent)
    return agent


def agent_list(*, include_inactive: bool = False) -> QuerySet[Agent]:
    agents = Agent.objects.all()
    return agents if include_inactive else agents.filter(is_active=True)


def agent_key_list(*, agent_id: str | None = None) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.select_related("agent").order_by("agent_id", "-created_at")
    return keys.filter(agent_id=agent_id) if agent_id else keys


def agent_latest_weekly_reports() -> dict[str, AgentWeeklyReport]:
    """The newest weekly report of each agent."""
    latest: dict[str, AgentWeeklyReport] = {}
    for report in AgentWeeklyReport.objects.order_by("agent_id", "-week_start"):
        latest.setdefault(report.agent_id, report)
    return latest


def connected_agent_ids() -> set[str]:
    """Agents with an open MCP session."""
    return set(McpSession.objects.filter(closed_at__isnull=True).values_list("agent_id", flat=True).distinct())


def agent_id_list() -> list[str]:
    """Every agent's id, inactive ones included, sorted: the choices of the review queue's agent filter."""
    return list(Agent.objects.order_by("id").values_list("id", flat=True))
