"""Celery tasks of the MCP bridge. Thin: they call the services."""

from __future__ import annotations

from celery import shared_task

from core.config.state import config_current
from mcp_bridge.services import mcp_sessions_close_orphaned, mcp_sessions_expire


@shared_task(name="mcp_bridge.expire_sessions")
def expire_sessions() -> int:
    """Close sessions idle past global_settings.session_timeout, and those of web processes that died.
    The web process also does this every 30 s while it serves MCP; this covers the time it does not."""

    timeout = config_current().global_settings.session_timeout
    return mcp_sessions_expire(idle_seconds=timeout) + mcp_sessions_close_orphaned(reason="server restarted")
