"""Every tool over the SDK's own client, connected in process: results, error codes, rights. (What the tool
calls show over HTTP, in /metrics, is in test_transports.)"""

from __future__ import annotations

import pytest

from tests.mcp_bridge.conftest import connect_in_process
from tests.support.mcp import call, error

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("mcp_world")]

ALL_TOOLS = {
    "submit_article",
    "list_articles",
    "get_article_status",
    "get_article",
    "revise_article",
    "approve_article",
    "reject_article",
    "retry_publish",
    "list_agents",
    "list_sites",
    "get_agent_stats",
    "get_site_health",
}


async def test_the_server_lists_every_tool_with_its_schema():
    async with connect_in_process("writer") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == ALL_TOOLS
    submit = tools["submit_article"].input_schema
    assert submit["required"] == ["title", "content_markdown"]
    assert {"tags", "category", "target_site", "agent_metadata"} <= set(submit["properties"])
    assert tools["list_articles"].annotations.read_only_hint is True


async def test_submit_then_follow_an_article():
    async with connect_in_process("writer") as client:
        article = await call(
            client,
            "submit_article",
            title="MCP article",
            content_markdown="# Title\n\n<script>x()</script>Body",
            tags="mcp, tests",
            category="News",
            agent_metadata={"model": "test"},
        )
        assert (article["status"], article["submitting_agent"], article["target_site"]) == (
            "pending_review",
            "writer",
            "site-a",
        )
        assert article["tags"] == ["mcp", "tests"]
        status = await call(client, "get_article_status", article_id=article["id"])
        assert status["status"] == "pending_review" and status["publish_error_message"] is None
        detail = await call(client, "get_article", article_id=article["id"])
        assert "<script" not in detail["content_html"] and "<h1>Title</h1>" in detail["content_html"]
        assert detail["agent_metadata"] == {"model": "test"}
        assert [r["agent"] for r in detail["revisions"]] == ["writer"]
        listed = await call(client, "list_articles", agent_id="writer", search="MCP article")
        assert [a["id"] for a in listed["articles"]] == [article["id"]]


async def test_a_write_retried_with_its_idempotency_key_returns_the_first_result():
    """The answer to a submission was lost; the agent sends it again with the same key."""
    async with connect_in_process("writer") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        for name in ("submit_article", "revise_article", "approve_article", "reject_article", "retry_publish"):
            assert "idempotency_key" in tools[name].input_schema["properties"], name
        request = {"title": "Sent twice", "content_markdown": "Body", "idempotency_key": "a1b2c3-sent-twice"}
        first = await call(client, "submit_article", **request)
        again = await call(client, "submit_article", **request)
        assert again["id"] == first["id"]
        listed = await call(client, "list_articles", agent_id="writer", search="Sent twice")
        assert [a["id"] for a in listed["articles"]] == [first["id"]]
        refused = await error(client, "submit_article", **{**request, "title": "Something else"})
        assert refused.startswith("VALIDATION_ERROR: idempotency_key 'a1b2c3-sent-twice' was used")


async def test_list_articles_filters_and_pages():
    async with connect_in_process("narrow") as client:
        ids = [
            (await call(client, "submit_article", title=f"Paged {n}", content_markdown="x", target_site="site-b"))["id"]
            for n in range(3)
        ]
        first = await call(client, "list_articles", agent_id="narrow", target_site="site-b", limit=2)
        second = await call(client, "list_articles", agent_id="narrow", target_site="site-b", limit=2, offset=2)
        assert [a["id"] for a in first["articles"] + second["articles"]] == ids[::-1]
        pending = await call(client, "list_articles", agent_id="narrow", status="pending_review", limit=100)
        assert len(pending["articles"]) == 3
        assert await error(client, "list_articles", limit=101) == (
            "VALIDATION_ERROR: limit: must be an integer from 1 to 100"
        )


async def test_error_codes_name_the_field_or_rule():
    async with connect_in_process("narrow") as narrow:
        assert await error(narrow, "submit_article", title="", content_markdown="x") == (
            "VALIDATION_ERROR: title must be 1 to 200 characters (got 0)"
        )
        assert await error(narrow, "submit_article", title="t", content_markdown="x", target_site="site-a") == (
            "FORBIDDEN: agent narrow may not publish to site 'site-a' (allowed: site-b)"
        )
        assert await error(narrow, "submit_article", title="t", content_markdown="x", target_site="nope") == (
            "SITE_NOT_FOUND: site 'nope' is not configured"
        )
        assert await error(narrow, "get_site_health", site_id="nope") == (
            "SITE_NOT_FOUND: site 'nope' not configured or inactive"
        )
        assert await error(narrow, "get_agent_stats", agent_id="ghost") == (
            "AGENT_NOT_FOUND: agent 'ghost' not found or inactive"
        )
        assert await error(narrow, "get_article", article_id=999999) == "ARTICLE_NOT_FOUND: article 999999 not found"
        assert (await error(narrow, "approve_article", article_id=1, expected_revision=1)).startswith(
            "FORBIDDEN: agent narrow lacks the scope article:review"
        )


async def test_review_by_an_agent_and_invalid_transitions():
    async with connect_in_process("writer") as writer, connect_in_process("editor") as editor:
        article = await call(writer, "submit_article", title="To review", content_markdown="x")
        approved = await call(
            editor, "approve_article", article_id=article["id"], expected_revision=1, reviewer_notes="fine"
        )
        assert (approved["status"], approved["reviewer_notes"]) == ("publishing", "fine")
        assert await error(editor, "reject_article", article_id=article["id"], rejection_reason="late") == (
            f"INVALID_TRANSITION: article {article['id']} is publishing; only pending_review articles can be rejected"
        )
        other = await call(writer, "submit_article", title="To reject", content_markdown="x")
        rejected = await call(editor, "reject_article", article_id=other["id"], rejection_reason="off-topic")
        assert (rejected["status"], rejected["rejection_reason"]) == ("rejected", "off-topic")
        assert await error(writer, "retry_publish", article_id=other["id"]) == (
            f"INVALID_TRANSITION: article {other['id']} is rejected; only publish_failed articles can be retried"
        )


async def test_no_agent_approves_its_own_article():
    async with connect_in_process("editor") as editor:
        own = await call(editor, "submit_article", title="Mine", content_markdown="x")
        assert await error(editor, "approve_article", article_id=own["id"], expected_revision=1) == (
            f"FORBIDDEN: agent editor cannot approve its own article {own['id']}"
        )
        assert (await call(editor, "get_article_status", article_id=own["id"]))["status"] == "pending_review"


async def test_object_level_rights():
    async with (
        connect_in_process("writer") as writer,
        connect_in_process("seo") as seo,
        connect_in_process("blind") as blind,
    ):
        article = await call(writer, "submit_article", title="Draft", content_markdown="draft body")
        article_id = article["id"]
        # The SEO agent reads and revises the writer's draft (article:read, article:revise).
        revised = await call(seo, "revise_article", article_id=article_id, title="Draft: 7 tips", note="SEO title")
        assert [(r["number"], r["agent"], r["note"]) for r in revised["revisions"]] == [
            (1, "writer", "submitted"),
            (2, "seo", "SEO title"),
        ]
        # The writer revises its own pending article.
        await call(writer, "revise_article", article_id=article_id, content_markdown="better body")
        # An agent without article:read does not see it at all; one without article:revise cannot change it.
        assert await error(blind, "get_article", article_id=article_id) == (
            f"ARTICLE_NOT_FOUND: article {article_id} not found"
        )
        listed = await call(blind, "list_articles", limit=100)
        assert all(a["submitting_agent"] == "blind" for a in listed["articles"])
        async with connect_in_process("narrow") as reader:
            assert (await error(reader, "revise_article", article_id=article_id, title="Mine")).startswith(
                f"FORBIDDEN: agent narrow may not revise article {article_id}: only its submitter"
            )
        assert (await call(writer, "get_article", article_id=article_id))["title"] == "Draft: 7 tips"


async def test_agents_sites_stats_and_health():
    async with connect_in_process("writer") as client:
        agents = {a["id"]: a for a in (await call(client, "list_agents"))["agents"]}
        assert agents["editor"]["scopes"] == ["article:submit", "article:read", "article:revise", "article:review"]
        assert agents["writer"]["connected"] is True
        assert "api_key" not in str(agents)
        sites = {s["id"]: s for s in (await call(client, "list_sites"))["sites"]}
        assert set(sites) == {"site-a", "site-b", "site-c"}
        assert sites["site-a"]["health"]["status"] == "unknown" and "app_password" not in str(sites)
        await call(client, "submit_article", title="Counted", content_markdown="x")
        stats = await call(client, "get_agent_stats")
        assert stats["agent_id"] == "writer" and stats["total_articles_submitted"] >= 1
        assert stats["articles_by_status"]["pending_review"] >= 1
        health = await call(client, "get_site_health", site_id="site-b")
        assert (health["site_id"], health["status"]) == ("site-b", "unknown")
