"""How a tool call, resource read or prompt runs: on the MCP threads (mcp_bridge.threads), as the calling
agent, within its rate limit, with domain errors turned into MCP errors that start with their stable code
("VALIDATION_ERROR: title must be ...")."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from mcp.server.mcpserver.exceptions import ResourceError, ToolError

from agents.throttling import agent_request_allow
from core.exceptions import DomainError
from mcp_bridge.identity import acting_as, caller_resolve, is_stdio_call, stdio_session_id
from mcp_bridge.metrics import MCP_TOOL_CALLS
from mcp_bridge.services import TOUCH_INTERVAL, mcp_session_touch
from mcp_bridge.threads import run_sync, run_sync_content

F = TypeVar("F", bound=Callable[..., Any])

# When this process last recorded activity on its stdio session (time.monotonic()).
_stdio_touched = [-1e9]


def _stdio_activity() -> None:
    """A call over stdio is activity of the process's stdio session (written at most every TOUCH_INTERVAL):
    without it a working stdio agent would look idle, and its session be expired, a session_timeout after it
    connected. Over HTTP the gateway records activity."""
    now = time.monotonic()
    if not is_stdio_call() or now - _stdio_touched[0] < TOUCH_INTERVAL.total_seconds():
        return
    _stdio_touched[0] = now
    mcp_session_touch(session_id=stdio_session_id())


def error_text(error: DomainError) -> str:
    return f"{error.code}: {error.message}"


def tool_call(fn: F, *, run: Callable[..., Any] = run_sync) -> F:
    """The tool as the SDK sees it: async, running `fn` on the MCP threads as the calling agent."""

    def call(*args: Any, **kwargs: Any) -> Any:
        outcome = "error"
        try:
            agent = caller_resolve()
            agent_request_allow(agent_id=agent.id)
            _stdio_activity()
            with acting_as(agent):
                result = fn(*args, **kwargs)
            outcome = "ok"
            return result
        except DomainError as error:
            outcome = error.code
            raise ToolError(error_text(error)) from None
        finally:
            MCP_TOOL_CALLS.labels(fn.__name__, outcome).inc()

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await run(call, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def content_tool_call(fn: F) -> F:
    """`tool_call` for the tools that render Markdown: they run in the bounded content lane
    (mcp_bridge.threads.run_sync_content), so a flood of them never holds every MCP thread."""
    return tool_call(fn, run=run_sync_content)


def resource_read(fn: F) -> F:
    """The resource as the SDK sees it: read on the MCP threads as the calling agent, counted against its
    rate limit like a tool call."""

    def read(*args: Any, **kwargs: Any) -> str:
        try:
            agent = caller_resolve()
            agent_request_allow(agent_id=agent.id)
            _stdio_activity()
            with acting_as(agent):
                return json.dumps(fn(*args, **kwargs), ensure_ascii=False, default=str)
        except DomainError as error:
            raise ResourceError(error_text(error)) from None

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> str:
        return await run_sync(read, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
