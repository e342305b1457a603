"""Input (issue 13) over a real MCP client connected in process: tool arguments are strict (no unknown
argument, no `true` read as 1, no "5" read as 5), ids stay in the databases' 64-bit range, and every error
starts with its stable code and names the argument and its rule, never a pydantic dump. Resource template
arguments (`audit://logs?page=`, `article://{id}`) too."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from articles.models import Article
from tests.conftest import agent_entry, site_entry

pytestmark = pytest.mark.django_db(transaction=True)

DB_INT_MAX = 2**63 - 1
ALL_SCOPES = ["article:submit", "article:read", "article:revise", "article:review"]
ID_RULE = f"must be an integer from 1 to {DB_INT_MAX}"


@pytest.fixture
def as_agent(loaded_config):
    """Run MCP calls as agent "chief" (every scope) over the SDK's client, connected in process."""
    from mcp_bridge.identity import stdio_identity

    loaded_config(agents=[agent_entry("chief", scopes=ALL_SCOPES)], sites=[site_entry("blog")])

    def run(calls) -> Any:
        async def session() -> Any:
            from mcp_bridge.server import build_server

            async with Client(build_server(with_auth=False)) as client:
                return await calls(client)

        stdio_identity.agent_id = "chief"
        try:
            return anyio.run(session)
        finally:
            stdio_identity.agent_id = None

    return run


def tool_error(as_agent, tool: str, arguments: dict) -> str:
    async def calls(client):
        result = await client.call_tool(tool, arguments)
        assert result.is_error, result.structured_content
        return result.content[0].text

    return as_agent(calls)


def resource_error(as_agent, uri: str) -> str:
    async def calls(client):
        with pytest.raises(MCPError) as raised:
            await client.read_resource(uri)
        return str(raised.value)

    return as_agent(calls)


def test_the_published_schemas_forbid_unknown_arguments_and_state_the_bounds(as_agent):
    async def calls(client):
        return {tool.name: tool.input_schema for tool in (await client.list_tools()).tools}

    schemas = as_agent(calls)
    assert len(schemas) == 12
    assert all(schema["additionalProperties"] is False for schema in schemas.values()), schemas
    article_id = schemas["get_article_status"]["properties"]["article_id"]
    assert (article_id["type"], article_id["minimum"], article_id["maximum"]) == ("integer", 1, DB_INT_MAX)
    limit = schemas["list_articles"]["properties"]["limit"]
    assert (limit["minimum"], limit["maximum"]) == (1, 100)


@pytest.mark.parametrize("article_id", [DB_INT_MAX + 1, 10**30, 0, -1])
def test_an_article_id_outside_the_databases_range_is_refused_naming_the_rule(as_agent, article_id):
    text = tool_error(as_agent, "get_article_status", {"article_id": article_id})
    assert text == f"VALIDATION_ERROR: article_id: {ID_RULE}"


def test_the_largest_id_is_looked_up_and_not_found(as_agent):
    text = tool_error(as_agent, "get_article_status", {"article_id": DB_INT_MAX})
    assert text == f"ARTICLE_NOT_FOUND: article {DB_INT_MAX} not found"


@pytest.mark.parametrize(
    ("value", "got"), [(True, "a boolean"), ("5", "a string"), (5.0, "a number"), ([5], "a list"), (None, "null")]
)
def test_types_are_strict(as_agent, value, got):
    text = tool_error(as_agent, "get_article_status", {"article_id": value})
    assert text == f"VALIDATION_ERROR: article_id: {ID_RULE} (got {got})"


def test_a_boolean_argument_takes_only_true_or_false(as_agent):
    text = tool_error(as_agent, "list_agents", {"include_inactive": "true"})
    assert text == "VALIDATION_ERROR: include_inactive: must be true or false (got a string)"


def test_an_unknown_argument_is_refused_and_nothing_is_written(as_agent):
    arguments = {"title": "Sneaky", "content_markdown": "x", "author_id": 1}
    text = tool_error(as_agent, "submit_article", arguments)
    assert text == (
        "VALIDATION_ERROR: author_id: unknown argument; allowed: title, content_markdown, tags, category, "
        "target_site, agent_metadata, slug, excerpt, categories, status, publish_at, idempotency_key"
    )
    assert not Article.objects.exists()


def test_a_missing_argument_is_named_with_its_rule(as_agent):
    assert tool_error(as_agent, "get_article_status", {}) == f"VALIDATION_ERROR: article_id: required: {ID_RULE}"


def test_every_problem_is_named_once_and_no_pydantic_dump_reaches_the_agent(as_agent):
    text = tool_error(as_agent, "list_articles", {"limit": 0, "offset": "x", "sort": "title"})
    assert text == (
        "VALIDATION_ERROR: limit: must be an integer from 1 to 100; offset: must be an integer from 0 to 1000000 "
        "(got a string); sort: unknown argument; allowed: status, agent_id, target_site, search, limit, offset"
    )
    for dump in ("pydantic", "validation error", "input_value", "Error executing tool", "http"):
        assert dump not in text


def test_a_nul_character_is_refused_before_it_reaches_the_database(as_agent):
    text = tool_error(as_agent, "get_site_health", {"site_id": "blog\x00"})
    assert text == "VALIDATION_ERROR: site_id: must not contain NUL characters (U+0000)"


def test_domain_errors_start_with_their_code(as_agent):
    text = tool_error(as_agent, "get_site_health", {"site_id": "nowhere"})
    assert text.startswith("SITE_NOT_FOUND: "), text


def test_strict_arguments_still_take_every_declared_form(as_agent):
    async def calls(client):
        results = []
        for tags in (["a", "b"], "a, b", '["a", "b"]'):
            result = await client.call_tool(
                "submit_article",
                {"title": "Fine", "content_markdown": "x", "tags": tags, "agent_metadata": {"model": "m"}},
            )
            assert not result.is_error, result.content[0].text
            results.append(result.structured_content["tags"])
        return results

    assert as_agent(calls) == [["a", "b"]] * 3


@pytest.mark.parametrize("page", ["9" * 30, str(DB_INT_MAX), "0", "-1", "two", "1.5"])
def test_an_audit_page_outside_its_range_is_refused_naming_the_rule(as_agent, page):
    from mcp_bridge.resources import AUDIT_PAGE_MAX

    text = resource_error(as_agent, f"audit://logs?page={page}")
    assert text == f"VALIDATION_ERROR: page: must be an integer from 1 to {AUDIT_PAGE_MAX}"


def test_the_last_audit_page_reads_empty(as_agent):
    from mcp_bridge.resources import AUDIT_PAGE_MAX

    async def calls(client):
        return json.loads((await client.read_resource(f"audit://logs?page={AUDIT_PAGE_MAX}")).contents[0].text)

    assert as_agent(calls)["entries"] == []


@pytest.mark.parametrize("article_id", [str(DB_INT_MAX + 1), "0", "x1"])
def test_an_article_resource_id_outside_the_range_is_refused_naming_the_rule(as_agent, article_id):
    assert resource_error(as_agent, f"article://{article_id}") == f"VALIDATION_ERROR: article_id: {ID_RULE}"
