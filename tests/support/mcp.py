"""Calling tools with the MCP SDK's client in tests: the structured result of a call that must succeed, or
the error text of one that must fail."""

from __future__ import annotations

from typing import Any


async def call(client: Any, tool: str, **arguments: Any) -> dict:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def error(client: Any, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text.removeprefix(f"Error executing tool {tool}: ")
