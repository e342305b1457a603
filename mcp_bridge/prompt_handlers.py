"""The MCP prompts as the SDK serves them; their text is written by mcp_bridge.prompts from the live setup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR

from agents.throttling import agent_request_allow
from core.exceptions import DomainError
from mcp_bridge.calls import error_text
from mcp_bridge.identity import caller_resolve
from mcp_bridge.prompts import agent_specialization_guide_text, multi_agent_workflow_text
from mcp_bridge.threads import run_sync


async def _prompt_get(text: Callable[..., str], /, **arguments: Any) -> str:
    """A prompt's text, written on the MCP threads for the calling agent and counted against its rate limit
    like a tool call. An error passes as an MCPError: the SDK would hide any other behind a generic message."""

    def get() -> str:
        try:
            agent_request_allow(agent_id=caller_resolve().id)
        except DomainError as error:
            raise MCPError(INTERNAL_ERROR, error_text(error)) from None
        return text(**arguments)

    return await run_sync(get)


def prompts_register(server: MCPServer) -> None:
    @server.prompt(description="A workflow for agents collaborating on content, from this server's setup")
    async def multi_agent_workflow(content_type: str, agent_roles: str, target_sites: str | None = None) -> str:
        return await _prompt_get(
            multi_agent_workflow_text, content_type=content_type, agent_roles=agent_roles, target_sites=target_sites
        )

    @server.prompt(description="How an agent in a given role should use this server's tools")
    async def agent_specialization_guide(agent_role: str, content_domain: str | None = None) -> str:
        return await _prompt_get(agent_specialization_guide_text, agent_role=agent_role, content_domain=content_domain)
