"""Who is calling: the agent the gateway (mcp_bridge.asgi) authenticated, handed to the MCP server's code
(mcp_bridge.server) through context variables. Both import this module; neither imports the other."""

from __future__ import annotations

from contextvars import ContextVar

from agents.models import Agent

# Set by the gateway for the request it authenticated; read by the SDK's token verifier.
authenticated_request: ContextVar[tuple[str, Agent] | None] = ContextVar("mcp_authenticated_request", default=None)
# The agent authenticated for the Streamable HTTP POST being served, for its tool call to use without
# reading it again. It sits in a box that is emptied when the request ends, so that a task the SDK spawned
# while serving it (a session's, which outlives the request) finds the box empty and reads the agent anew.
request_agent: ContextVar[list[Agent | None] | None] = ContextVar("mcp_request_agent", default=None)
