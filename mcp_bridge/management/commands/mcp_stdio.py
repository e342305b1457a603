from __future__ import annotations

import logging
import os
import sys

import anyio
from django.core.management.base import BaseCommand, CommandError

from agents.exceptions import AuthFailed
from agents.models import Transport
from agents.selectors import agent_get
from agents.services import agent_authenticate
from configuration.reload import config_reload
from core.exceptions import DomainError
from mcp_bridge.identity import stdio_identity, stdio_session_id
from mcp_bridge.server import build_server
from mcp_bridge.services import mcp_session_close, mcp_session_open


class Command(BaseCommand):
    help = (
        "Serve MCP over stdio for a local client (Claude Desktop, the Inspector). The agent is the one whose "
        "key is in WPUBLISHER_API_KEY (checked on every call), or the one named by --agent."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--agent", help="act as this agent without a key (for a trusted local launch)")

    def handle(self, *args, agent: str | None, **options) -> None:
        # stdout carries the protocol: every log line goes to stderr.
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(sys.stderr)
        config_reload(sync=True)
        token = os.environ.get("WPUBLISHER_API_KEY", "").strip()
        try:
            if token:
                caller = agent_authenticate(token=token, user_agent="mcp_stdio")
                stdio_identity.token = token
            elif agent:
                caller = agent_get(agent_id=agent, include_inactive=False)
                stdio_identity.agent_id = caller.id
            else:
                raise CommandError("set WPUBLISHER_API_KEY to an agent's key, or name the agent with --agent")
        except (AuthFailed, DomainError) as error:
            raise CommandError(f"{getattr(error, 'code', 'ERROR')}: {error.message}") from None
        session_id = stdio_session_id()
        mcp_session_open(session_id=session_id, agent=caller, transport=Transport.STDIO, user_agent="mcp_stdio")
        try:
            anyio.run(build_server(with_auth=False).run_stdio_async)
        finally:
            mcp_session_close(session_id=session_id, reason="stdio closed")
