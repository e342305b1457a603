from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.selectors import connected_agent_ids
from agents.serializers import agent_summary
from articles.permissions import article_visible_to
from articles.selectors import article_get, article_revision_list
from articles.serializers import article_detail
from audit.selectors import audit_log_list
from core.config.state import config_current
from core.scopes import Scope

if TYPE_CHECKING:
    from agents.models import Agent
    from audit.models import AuditLog


def config_agents() -> dict:
    """The agents of the running configuration, without any key."""

    config = config_current()
    return {
        "fingerprint": config.fingerprint[:12],
        "global_settings": vars(config.global_settings),
        "agents": [
            {
                "id": a.id,
                "name": a.name,
                "role": a.role,
                "description": a.description,
                "scopes": list(a.scopes),
                "allowed_sites": list(a.allowed_sites) if a.allowed_sites is not None else None,
                "keys": [{"lookup_id": k.lookup_id, "source": k.source} for k in a.keys],
            }
            for a in config.agents
        ],
    }


def config_sites() -> dict:
    """The sites of the running configuration, without any password."""

    config = config_current()
    return {
        "fingerprint": config.fingerprint[:12],
        "publishing": vars(config.publishing),
        "sites": [
            {
                "id": s.id,
                "name": s.name,
                "api_url": s.api_url,
                "username": s.username,
                "default_category": s.default_category,
                "default_tags": list(s.default_tags),
                "connection_pool": {"max_connections": s.max_connections, "idle_timeout": s.idle_timeout},
                "health_check_interval": s.health_check_interval,
                "default": s.is_default,
            }
            for s in config.sites
        ],
    }


def system_event_list(*, agent: Agent, limit: int) -> list[AuditLog]:
    """The newest publishing, site and system events an agent may see: all of them with article:read; else
    only those naming no article but its own, and no agent but itself (others' articles, permalinks and
    errors do not exist for it, as in every article read)."""
    from django.db.models import Q

    events = audit_log_list().filter(category__in=["publishing", "site", "system"])
    if not agent.has_scope(Scope.READ):
        own_articles = article_visible_to(agent=agent).values("pk")
        events = events.filter(Q(article_id__isnull=True) | Q(article_id__in=own_articles))
        events = events.filter(Q(agent_id="") | Q(agent_id=agent.id))
    return list(events[:limit])


def agent_with_connection(*, agent: Agent) -> dict[str, Any]:
    """An agent as tools and resources show it, with whether it has an open MCP session."""
    return agent_summary(agent, connected=agent.id in connected_agent_ids())


def article_with_revisions(*, article_id: int, agent: Agent) -> dict[str, Any]:
    """An article `agent` may see, with every revision."""
    article = article_get(article_id=article_id, agent=agent)
    return article_detail(article, list(article_revision_list(article=article)))
