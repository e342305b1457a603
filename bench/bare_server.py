"""The reference for the benchmark: a bare MCP SDK server with one trivial tool, served like wpublisher
(Streamable HTTP, daphne, the session manager started on the first request)."""

from __future__ import annotations

import asyncio

from mcp.server.mcpserver import MCPServer

server = MCPServer(name="bare", log_level="WARNING")


@server.tool()
def echo(text: str) -> dict:
    """Return the text."""
    return {"text": text}


_app = server.streamable_http_app(streamable_http_path="/mcp", host="0.0.0.0")  # noqa: S104 - no DNS check
_started: asyncio.Future | None = None


async def _run_manager(ready: asyncio.Future) -> None:
    async with server.session_manager.run():
        ready.set_result(None)
        await asyncio.Event().wait()


async def application(scope, receive, send) -> None:
    global _started
    if scope["type"] == "http":
        if _started is None:
            _started = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().create_task(_run_manager(_started))
        await _started
    await _app(scope, receive, send)
