"""Every resource and prompt of the design over the SDK client, connected in process, with the same rights as
the tools."""

from __future__ import annotations

import json

import pytest
from mcp.shared.exceptions import MCPError

from tests.mcp_bridge.conftest import connect_in_process

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


async def read(client, uri: str):
    result = await client.read_resource(uri)
    return json.loads(result.contents[0].text)


async def test_every_resource(mcp_world):
    async with connect_in_process("writer") as writer, connect_in_process("editor") as editor:
        submitted = await writer.call_tool("submit_article", {"title": "Resource", "content_markdown": "x"})
        article_id = submitted.structured_content["id"]

        listing = await writer.list_resources()
        templates = await writer.list_resource_templates()
        uris = {str(r.uri) for r in listing.resources} | {t.uri_template for t in templates.resource_templates}
        assert {
            "agent://list",
            "site://list",
            "system://metrics",
            "system://events",
            "config://agents",
            "config://sites",
            "agent://{agent_id}",
            "agent://{agent_id}/articles",
            "agent://{agent_id}/stats",
            "site://{site_id}",
            "site://{site_id}/articles",
            "site://{site_id}/health",
            "article://{article_id}",
            "audit://logs{?page,event_type,agent_id,severity}",
        } <= uris

        assert "writer" in {a["id"] for a in await read(writer, "agent://list")}
        assert (await read(writer, "agent://seo"))["role"] == "seo-optimizer"
        assert article_id in [a["id"] for a in await read(writer, "agent://writer/articles")]
        assert (await read(writer, "agent://writer/stats"))["total_articles_submitted"] >= 1
        assert await read(writer, "agent://writer/reports") == []  # written weekly by celery beat
        assert {s["id"] for s in await read(writer, "site://list")} == {"site-a", "site-b", "site-c"}
        assert (await read(writer, "site://site-b"))["default_category"] == "site-b news"
        assert article_id in [a["id"] for a in await read(writer, "site://site-a/articles")]
        assert (await read(writer, "site://site-c/health"))["status"] == "unknown"
        assert (await read(writer, f"article://{article_id}"))["revisions"][0]["agent"] == "writer"
        metrics = await read(writer, "system://metrics")
        assert metrics["articles_by_status"]["pending_review"] >= 1 and metrics["agents"]["connected"] >= 2
        assert isinstance(await read(writer, "system://events"), list)

        config_agents = await read(writer, "config://agents")
        config_sites = await read(writer, "config://sites")
        assert {a["id"] for a in config_agents["agents"]} >= {"writer", "editor"}
        dumped = json.dumps([config_agents, config_sites])
        for secret in [*mcp_world.keys.values(), "abcd efgh ijkl mnop"]:
            assert secret not in dumped

        page = await read(editor, "audit://logs?event_type=article_submitted")
        assert page["page"] == 1 and page["entries"]
        assert all(e["event_type"] == "article_submitted" for e in page["entries"])
        with pytest.raises(MCPError, match="FORBIDDEN: agent writer lacks the scope article:review"):
            await writer.read_resource("audit://logs")


async def test_resources_follow_the_read_rights(mcp_world):
    async with connect_in_process("writer") as writer, connect_in_process("blind") as blind:
        article_id = (
            await writer.call_tool("submit_article", {"title": "Hidden", "content_markdown": "x"})
        ).structured_content["id"]
        with pytest.raises(MCPError, match=f"ARTICLE_NOT_FOUND: article {article_id} not found"):
            await blind.read_resource(f"article://{article_id}")
        assert article_id not in [a["id"] for a in await read(blind, "agent://writer/articles")]
        with pytest.raises(MCPError, match="AGENT_NOT_FOUND"):
            await blind.read_resource("agent://ghost")


async def test_prompts_are_written_from_the_live_configuration(mcp_world):
    async with connect_in_process("seo") as client:
        names = {p.name for p in (await client.list_prompts()).prompts}
        assert names == {"multi_agent_workflow", "agent_specialization_guide"}
        workflow = await client.get_prompt(
            "multi_agent_workflow",
            {
                "content_type": "tutorial",
                "agent_roles": "content-creator, seo-optimizer, editor",
                "target_sites": "site-b",
            },
        )
        text = workflow.messages[0].content.text
        assert "Workflow for tutorial" in text
        assert "seo-optimizer: seo (scopes: article:submit, article:read, article:revise)" in text
        assert "site-b (Site site-b): default category site-b news" in text and "site-a" not in text
        assert "agents editor may approve or reject" in text
        guide = await client.get_prompt("agent_specialization_guide", {"agent_role": "editor", "content_domain": "AI"})
        text = guide.messages[0].content.text
        assert text.startswith("Guide for the editor role in AI")
        assert "Agents with this role here: editor." in text
        assert "article:review: approve_article and reject_article" in text
