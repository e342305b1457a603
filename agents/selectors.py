from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Max, QuerySet
from django.utils import timezone

from agents.exceptions import AgentNotFound
from agents.models import STATELESS_SESSION_PREFIX, Agent, AgentWeeklyReport, ApiKey, McpSession
from core.cache import AuthMemo, agent_config_key, auth_generation, cached, cached_many
from core.config.state import global_settings
from core.keys import GENERATED_PREFIX, KEY_ID_LENGTH
from core.processes import process_is_dead

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


# How long after its last request a session-less client still counts as connected (its activity is written
# at most every 30 s, mcp_bridge.services.TOUCH_INTERVAL).
STATELESS_PRESENT = timedelta(seconds=90)


def mcp_sessions_live(*, agent_id: str | None = None) -> list[tuple[str, str]]:
    """(session id, agent id) of the MCP sessions really open now: not closed, with a request within the live
    global_settings.session_timeout (a client that went away without ending its session stops counting when
    its session is due to expire, whether or not the sweep has closed it yet), and not held by a process of
    this host that died (its state died with it). A session-less client's (STATELESS_SESSION_PREFIX) counts
    only within STATELESS_PRESENT of its last request."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=global_settings().session_timeout)
    sessions = McpSession.objects.filter(closed_at__isnull=True, last_activity_at__gte=cutoff)
    # A session-less client never says it left: it is connected while its requests keep coming.
    sessions = sessions.exclude(pk__startswith=STATELESS_SESSION_PREFIX, last_activity_at__lt=now - STATELESS_PRESENT)
    if agent_id is not None:
        sessions = sessions.filter(agent_id=agent_id)
    rows = sessions.order_by().values_list("pk", "agent_id", "process")
    return [(pk, agent) for pk, agent, process in rows if not (process and process_is_dead(process))]


def connected_agent_ids() -> set[str]:
    """Agents with a live MCP session (`mcp_sessions_live`): what the console, the API, the tools and the
    wpublisher_agents_connected gauge call connected."""
    return {agent for _, agent in mcp_sessions_live()}


def agent_last_requests() -> dict[str, datetime]:
    """When each agent last made a request, by agent id: the later of its last authentication
    (Agent.last_seen, written at most once a minute) and its sessions' last activity (stdio included)."""
    latest: dict[str, datetime] = {}
    activity = McpSession.objects.order_by().values("agent_id").annotate(last=Max("last_activity_at"))
    rows = [
        *Agent.objects.exclude(last_seen=None).values_list("pk", "last_seen"),
        *activity.values_list("agent_id", "last"),
    ]
    for agent_id, last in rows:
        if last is not None and (agent_id not in latest or latest[agent_id] < last):
            latest[agent_id] = last
    return latest


def key_public_prefix(*, key_id: str) -> str | None:
    """What a generated key (`wpk_<id>_<secret>`) starts with, for its holder to match: `wpk_<id>_…`. None
    for a key written in the config files, whose shown id is not part of the key."""
    rest = key_id.removeprefix(GENERATED_PREFIX)
    if rest == key_id or len(rest) != KEY_ID_LENGTH:
        return None
    return f"{key_id}_…"


def agent_id_list() -> list[str]:
    """Every agent's id, inactive ones included, sorted: the choices of the review queue's agent filter."""
    return list(Agent.objects.order_by("id").values_list("id", flat=True))
