"""The MCP resources (agent://, site://, article://, system://, audit://, config://): reads through the selectors,
as the calling agent."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from agents.selectors import agent_get, agent_list
from agents.serializers import weekly_report
from articles import selectors as article_selectors
from articles.permissions import scope_require
from articles.selectors import agent_stats, system_metrics
from articles.serializers import article_summary
from audit.selectors import audit_log_list
from audit.serializers import audit_entry
from core.params import DB_INT_MAX, int_parse
from core.scopes import Scope
from mcp_bridge.calls import resource_read
from mcp_bridge.identity import current_agent
from mcp_bridge.selectors import (
    agent_with_connection,
    article_with_revisions,
    config_agents,
    config_sites,
    system_event_list,
)
from sites.selectors import site_get, site_health, site_list
from sites.serializers import site_summary

AUDIT_PAGE_SIZE = 50
AUDIT_PAGE_MAX = DB_INT_MAX // AUDIT_PAGE_SIZE - 1  # its rows' offset stays within a 64-bit integer


def resources_register(server: MCPServer) -> None:
    json_type = "application/json"

    @server.resource("agent://list", mime_type=json_type, description="Every active agent and its status")
    @resource_read
    def agents_resource() -> Any:
        return [agent_with_connection(agent=a) for a in agent_list()]

    @server.resource("agent://{agent_id}", mime_type=json_type, description="One agent")
    @resource_read
    def agent_resource(agent_id: str) -> Any:
        return agent_with_connection(agent=agent_get(agent_id=agent_id))

    @server.resource("agent://{agent_id}/articles", mime_type=json_type, description="Articles an agent submitted")
    @resource_read
    def agent_articles_resource(agent_id: str) -> Any:
        agent_get(agent_id=agent_id)
        articles = article_selectors.article_list(agent=current_agent(), agent_id=agent_id, limit=100)
        return [article_summary(a) for a in articles]

    @server.resource("agent://{agent_id}/stats", mime_type=json_type, description="An agent's counters")
    @resource_read
    def agent_stats_resource(agent_id: str) -> Any:
        return agent_stats(agent_id=agent_id)

    @server.resource("agent://{agent_id}/reports", mime_type=json_type, description="An agent's weekly reports")
    @resource_read
    def agent_reports_resource(agent_id: str) -> Any:
        agent = agent_get(agent_id=agent_id)
        return [weekly_report(r) for r in agent.weekly_reports.all()[:12]]

    @server.resource("site://list", mime_type=json_type, description="Every active site with its health")
    @resource_read
    def sites_resource() -> Any:
        return [site_summary(s) for s in site_list()]

    @server.resource("site://{site_id}", mime_type=json_type, description="One site")
    @resource_read
    def site_resource(site_id: str) -> Any:
        return site_summary(site_get(site_id=site_id))

    @server.resource("site://{site_id}/articles", mime_type=json_type, description="Articles for a site")
    @resource_read
    def site_articles_resource(site_id: str) -> Any:
        site_get(site_id=site_id)
        articles = article_selectors.article_list(agent=current_agent(), target_site=site_id, limit=100)
        return [article_summary(a) for a in articles]

    @server.resource("site://{site_id}/health", mime_type=json_type, description="A site's last health check")
    @resource_read
    def site_health_resource(site_id: str) -> Any:
        return site_health(site_id=site_id)

    @server.resource("article://{article_id}", mime_type=json_type, description="An article with its revisions")
    @resource_read
    def article_resource(article_id: str) -> Any:
        return article_with_revisions(
            article_id=int_parse(article_id, name="article_id", minimum=1), agent=current_agent()
        )

    @server.resource("system://metrics", mime_type=json_type, description="Counts of articles, agents, sites")
    @resource_read
    def metrics_resource() -> Any:
        return system_metrics()

    @server.resource(
        "system://events",
        mime_type=json_type,
        description="Recent publishing, site and system events (of others' articles and agents with article:read)",
    )
    @resource_read
    def events_resource() -> Any:
        return [audit_entry(e) for e in system_event_list(agent=current_agent(), limit=AUDIT_PAGE_SIZE)]

    @server.resource(
        "audit://logs{?page,event_type,agent_id,severity}",
        mime_type=json_type,
        description=f"The audit log, newest first, {AUDIT_PAGE_SIZE} a page (needs article:review and article:read)",
    )
    @resource_read
    def audit_resource(page: str = "1", event_type: str = "", agent_id: str = "", severity: str = "") -> Any:
        # The log names every agent's articles: it takes both the right to review and the right to read them.
        scope_require(current_agent(), Scope.REVIEW)
        scope_require(current_agent(), Scope.READ)
        number = int_parse(page or "1", name="page", minimum=1, maximum=AUDIT_PAGE_MAX)
        rows = audit_log_list(event_type=event_type or None, agent_id=agent_id or None, severity=severity or None)
        start = (number - 1) * AUDIT_PAGE_SIZE
        entries = [audit_entry(e) for e in rows[start : start + AUDIT_PAGE_SIZE + 1]]
        return {
            "page": number,
            "page_size": AUDIT_PAGE_SIZE,
            "entries": entries[:AUDIT_PAGE_SIZE],
            "next_page": number + 1 if len(entries) > AUDIT_PAGE_SIZE else None,
        }

    @server.resource("config://agents", mime_type=json_type, description="The agents' configuration (no keys)")
    @resource_read
    def config_agents_resource() -> Any:
        return config_agents()

    @server.resource("config://sites", mime_type=json_type, description="The sites' configuration (no passwords)")
    @resource_read
    def config_sites_resource() -> Any:
        return config_sites()
