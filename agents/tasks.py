"""Celery tasks for agents. Thin: they call the services."""

from __future__ import annotations

from celery import shared_task

from agents.services import agent_weekly_reports_write


@shared_task(name="agents.write_weekly_reports")
def write_weekly_reports() -> int:
    return len(agent_weekly_reports_write())
