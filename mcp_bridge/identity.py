"""Who is calling. Over HTTP, the agent the gateway (mcp_bridge.asgi) authenticated, handed to the MCP server's
code through context variables (both import this module; neither imports the other); over stdio, the agent the
process was started for. `current_agent()` is the agent a tool or resource runs as."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from mcp.server.auth.middleware.auth_context import get_access_token

from agents.exceptions import AuthFailed
from agents.models import Agent
from agents.selectors import agent_config_get, agent_get
from agents.services import agent_authenticate
from core.processes import process_label

# Set by the gateway for the request it authenticated; read by the SDK's token verifier.
authenticated_request: ContextVar[tuple[str, Agent] | None] = ContextVar("mcp_authenticated_request", default=None)
# The agent authenticated for the Streamable HTTP POST being served, for its tool call to use without
# reading it again. It sits in a box that is emptied when the request ends, so that a task the SDK spawned
# while serving it (a session's, which outlives the request) finds the box empty and reads the agent anew.
request_agent: ContextVar[list[Agent | None] | None] = ContextVar("mcp_request_agent", default=None)
# The agent a tool call or resource read runs as (set by mcp_bridge.calls around it).
_current_agent: ContextVar[Agent | None] = ContextVar("mcp_current_agent", default=None)


class StdioIdentity:
    """Who a stdio server acts for: an agent id (trusted local launch) or a key checked on every call."""

    agent_id: str | None = None
    token: str | None = None


stdio_identity = StdioIdentity()


def stdio_session_id() -> str:
    """The session a stdio server (`manage.py mcp_stdio`) records: one per process."""
    return f"stdio:{process_label()}"


def is_stdio_call() -> bool:
    """Whether the call being served came over stdio (no gateway, so no access token)."""
    return get_access_token() is None


def current_agent() -> Agent:
    agent = _current_agent.get()
    if agent is None:
        raise AuthFailed("no agent in this context")
    return agent


def caller_resolve() -> Agent:
    access = get_access_token()
    if access is not None:
        box = request_agent.get()
        if box is not None and box[0] is not None and box[0].id == access.client_id:
            return box[0]  # authenticated by the gateway for this very request
        # Else the call runs in a session that outlived the request that opened it (SSE): read the agent's
        # current scopes and state (cached, and invalidated when they change).
        agent = agent_config_get(agent_id=access.client_id)
        if agent is None:
            raise AuthFailed("agent inactive")
        return agent
    if stdio_identity.token:
        return agent_authenticate(token=stdio_identity.token)
    if stdio_identity.agent_id:
        return agent_get(agent_id=stdio_identity.agent_id, include_inactive=False)
    raise AuthFailed("no credentials")


@contextmanager
def acting_as(agent: Agent) -> Iterator[None]:
    """Run the block as `agent` (what `current_agent()` returns inside it)."""
    token = _current_agent.set(agent)
    try:
        yield
    finally:
        _current_agent.reset(token)
