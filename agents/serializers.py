"""Agents and their weekly reports as plain JSON-ready dicts (MCP results and the JSON API)."""

from __future__ import annotations

from typing import Any

from agents.models import Agent, AgentWeeklyReport
from core.serialization import time_iso


def agent_summary(agent: Agent, *, connected: bool) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "role": agent.role,
        "description": agent.description,
        "scopes": agent.scopes,
        "allowed_sites": agent.allowed_sites,
        "is_active": agent.is_active,
        "connected": connected,
        "last_seen": time_iso(agent.last_seen),
        "total_articles_submitted": agent.total_articles_submitted,
        "total_articles_published": agent.total_articles_published,
    }


def weekly_report(report: AgentWeeklyReport) -> dict[str, Any]:
    return {
        "week_start": report.week_start.isoformat(),
        "submitted": report.submitted,
        "revised": report.revised,
        "approved": report.approved,
        "rejected": report.rejected,
        "published": report.published,
        "publish_failed": report.publish_failed,
        "average_review_seconds": report.average_review_seconds,
    }
