"""Tool arguments read strictly, and tool errors that start with their stable code.

The SDK validates a tool's arguments against a pydantic model it builds from the function's signature
(`func_metadata`). Left as it is, that model ignores unknown arguments (`submit_article` with
`"status": "published"` succeeded), coerces (`true` is 1, `"5"` is 5) and reports a failure as pydantic's
own dump with a documentation URL, after "Error executing tool <name>: ". `StrictMCPServer` registers every
tool with a strict model that forbids unknown arguments (published as `additionalProperties: false`) and
answers each failure as `VALIDATION_ERROR: <argument>: <rule>`; every other tool error starts with its code
too (the domain errors' own, INTERNAL_ERROR for a crash, whose detail stays in the server's log).
"""

from __future__ import annotations

from typing import Any, cast

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from pydantic import ConfigDict, ValidationError

_STRICT = ConfigDict(extra="forbid", strict=True)


class StrictMCPServer(MCPServer):
    """MCPServer whose tools take only their declared arguments, of exactly their declared types."""

    def add_tool(self, fn: Any, name: str | None = None, *args: Any, **kwargs: Any) -> None:
        super().add_tool(fn, name, *args, **kwargs)
        tool = self._tool_manager.get_tool(name or fn.__name__)
        if tool is not None:
            _make_strict(tool)

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        tool = self._tool_manager.get_tool(name)
        if tool is None:
            raise ToolError(f"VALIDATION_ERROR: name: no tool named {name[:100]!r}; see tools/list")
        nul = _nul_argument(arguments)
        if nul is not None:
            raise ToolError(f"VALIDATION_ERROR: {nul}: must not contain NUL characters (U+0000)")
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as error:
            # A crash: the agent gets the code, the server's log the traceback (the cause chain).
            raise UnexpectedToolError(f"INTERNAL_ERROR: {name} failed; the error is in the server's log") from error
        except ToolError as error:
            cause = error.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(validation_error_text(cause, tool.parameters, arguments)) from cause
            if isinstance(cause, ToolError):  # the tool's own ("FORBIDDEN: ..."), under the SDK's prefix
                raise ToolError(str(cause)) from cause
            raise


def _make_strict(tool: Tool) -> None:
    """Swap the tool's argument model for a strict one that forbids unknown arguments, and publish its
    schema (`additionalProperties: false`, the declared bounds)."""
    loose = tool.fn_metadata.arg_model
    strict = cast(
        type[ArgModelBase], type(loose.__name__, (loose,), {"model_config": _STRICT, "__module__": loose.__module__})
    )
    tool.fn_metadata.arg_model = strict
    tool.parameters = strict.model_json_schema(by_alias=True)


def _nul_argument(value: Any, path: str = "") -> str | None:
    """The argument (dotted path) holding a NUL character, which PostgreSQL stores nowhere; None if none."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return inner.replace("\x00", "\\u0000")
            found = _nul_argument(item, inner)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_argument(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def validation_error_text(error: ValidationError, schema: dict[str, Any], arguments: dict[str, Any]) -> str:
    """`VALIDATION_ERROR: article_id: must be an integer from 1 to 9223372036854775807; status: unknown
    argument; allowed: ...`: one problem per argument, in the order found, each with the argument's rule
    from the published schema. Never the value itself (the caller's data), only its JSON type."""
    properties: dict[str, Any] = schema.get("properties", {})
    problems: dict[str, str] = {}
    for detail in error.errors(include_url=False):
        location = detail.get("loc") or ("arguments",)
        name = str(location[0])
        if name in problems:
            continue
        if detail["type"] == "extra_forbidden":
            problems[name] = f"unknown argument; allowed: {', '.join(properties) or 'none'}"
        elif detail["type"] == "missing":
            problems[name] = f"required: must be {_rule(properties.get(name, {}))}"
        else:
            rule = properties.get(name, {})
            got = _json_type(arguments.get(name))
            shown = "" if got in _types(rule) else f" (got {_JSON_TYPES[got]})"
            problems[name] = f"must be {_rule(rule)}{shown}"
    return "VALIDATION_ERROR: " + "; ".join(f"{name}: {problem}" for name, problem in problems.items())


def _rule(schema: dict[str, Any]) -> str:
    """What a JSON schema accepts, in words: "an integer from 1 to 100", "a string or null"."""
    if "anyOf" in schema:
        return " or ".join(dict.fromkeys(_rule(option) for option in schema["anyOf"]))
    if "enum" in schema:
        return "one of " + ", ".join(str(value) for value in schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return f"an integer from {low} to {high}"
        if low is not None:
            return f"an integer of at least {low}"
        return "an integer" if high is None else f"an integer of at most {high}"
    if kind == "array":
        items = schema.get("items", {})
        return "a list of strings" if items.get("type") == "string" else "a list"
    return {
        "string": "a string",
        "boolean": "true or false",
        "number": "a number",
        "object": "a JSON object",
        "null": "null",
    }.get(str(kind), "valid")


_JSON_TYPES = {
    "null": "null",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "a list",
    "object": "a JSON object",
}


def _types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema accepts."""
    if "anyOf" in schema:
        return {kind for option in schema["anyOf"] for kind in _types(option)}
    return {str(schema["type"])} if "type" in schema else set(_JSON_TYPES)


def _json_type(value: Any) -> str:
    """The JSON type of a decoded value (a key of _JSON_TYPES)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
