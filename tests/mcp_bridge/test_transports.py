"""The same agent work over every transport, what the HTTP layer refuses, what MCP requests show in /metrics,
and the AUTH_FAILED and CONFIG_ERROR codes over stdio."""

from __future__ import annotations

import json

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from tests.mcp_bridge.conftest import connect
from tests.support.mcp import call, error

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("transport", "mode"),
    [("http", "2026-07-28"), ("http", "auto"), ("http", "legacy"), ("sse", "legacy"), ("stdio", "legacy")],
)
async def test_an_agent_works_the_same_over_every_transport(world, transport, mode):
    async with connect(world, "seo", transport=transport, mode=mode) as client:
        submitted = await client.call_tool("submit_article", {"title": f"Over {transport}", "content_markdown": "x"})
        assert not submitted.is_error, submitted.content[0].text
        article = submitted.structured_content
        assert article["submitting_agent"] == "seo"
        status = await client.call_tool("get_article_status", {"article_id": article["id"]})
        assert status.structured_content["status"] == "pending_review"
        refused = await client.call_tool("approve_article", {"article_id": article["id"], "expected_revision": 1})
        assert refused.is_error and "FORBIDDEN: agent seo lacks the scope article:review" in refused.content[0].text
        resource = await client.read_resource(f"article://{article['id']}")
        assert json.loads(resource.contents[0].text)["title"] == f"Over {transport}"
        prompt = await client.get_prompt("agent_specialization_guide", {"agent_role": "seo-optimizer"})
        assert "Agents with this role here: seo." in prompt.messages[0].content.text
        tools = await client.list_tools()
        assert len(tools.tools) == 12


async def raw(world, method: str, path: str, *, key: str | None = None, headers: dict | None = None, **kwargs):
    all_headers = {**MCP_HEADERS, **({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    async with httpx2.AsyncClient(timeout=30) as http:
        return await http.request(method, f"{world.url}{path}", headers=all_headers, **kwargs)


async def test_requests_without_a_valid_key_get_401_with_a_bearer_challenge(world):
    missing = await raw(world, "POST", "/mcp", json=INITIALIZE)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith('Bearer realm="wpublisher"')
    wrong = await raw(world, "POST", "/mcp", key="wpk_aaaaaaaaaaaa_" + "A" * 43, json=INITIALIZE)
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    sse = await raw(world, "GET", "/sse", key="nope-nope-nope")
    assert sse.status_code == 401


async def test_a_key_in_the_query_string_is_refused(world):
    response = await raw(world, "POST", f"/mcp?api_key={world.keys['writer']}", json=INITIALIZE)
    assert response.status_code == 400
    assert "API keys in the URL are refused" in response.json()["error_description"]


async def test_host_origin_and_body_size_are_checked(world):
    key = world.keys["writer"]
    assert (
        await raw(world, "POST", "/mcp", key=key, headers={"Host": "evil.example"}, json=INITIALIZE)
    ).status_code == 421
    foreign = await raw(world, "POST", "/mcp", key=key, headers={"Origin": "http://evil.example"}, json=INITIALIZE)
    assert foreign.status_code == 403
    huge = await raw(world, "POST", "/mcp", key=key, content=b"x" * (1024 * 1024 + 1))
    assert huge.status_code == 413


async def test_a_streamable_session_belongs_to_the_agent_that_opened_it(world):
    opened = await raw(world, "POST", "/mcp", key=world.keys["writer"], json=INITIALIZE)
    assert opened.status_code == 200
    session_id = opened.headers["mcp-session-id"]
    headers = {"mcp-session-id": session_id, "mcp-protocol-version": "2025-06-18"}
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    hijack = await raw(world, "POST", "/mcp", key=world.keys["seo"], headers=headers, json=listing)
    assert hijack.status_code == 404
    await raw(
        world,
        "POST",
        "/mcp",
        key=world.keys["writer"],
        headers=headers,
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
    )
    own = await raw(world, "POST", "/mcp", key=world.keys["writer"], headers=headers, json=listing)
    assert own.status_code == 200 and "submit_article" in own.text


async def test_an_sse_session_belongs_to_the_agent_that_opened_it(world):
    async with httpx2.AsyncClient(timeout=30) as http:
        headers = {"Authorization": f"Bearer {world.keys['writer']}", "Accept": "text/event-stream"}
        async with http.stream("GET", f"{world.url}/sse", headers=headers) as stream:
            lines = stream.aiter_lines()  # read by hand: leaving an `async for` would close the stream
            endpoint = None
            while endpoint is None:
                line = await anext(lines)
                if line.startswith("data:") and "session_id=" in line:
                    endpoint = line.removeprefix("data:").strip()
            hijack = await http.post(
                f"{world.url}{endpoint}", json=INITIALIZE, headers={"Authorization": f"Bearer {world.keys['seo']}"}
            )
            assert hijack.status_code == 404
            own = await http.post(
                f"{world.url}{endpoint}", json=INITIALIZE, headers={"Authorization": f"Bearer {world.keys['writer']}"}
            )
            assert own.status_code == 202


async def test_a_revoked_key_fails_on_its_next_request(world):
    async with connect(world, "revokee") as client:
        assert not (await client.call_tool("list_sites", {})).is_error
        world.run(
            "from agents.actors import Actor\nfrom agents.services import agent_key_revoke\n"
            "result = agent_key_revoke(agent_id='revokee', actor=Actor(system='tests'))"
        )
        with pytest.raises(Exception):  # noqa: B017 - the client fails on the 401, whatever its type
            await client.call_tool("list_sites", {})
    response = await raw(world, "POST", "/mcp", key=world.keys["revokee"], json=INITIALIZE)
    assert response.status_code == 401


async def test_ten_agents_at_once_each_submitting_and_polling_twenty_articles(world):
    outcomes: dict[str, list[dict]] = {}

    async def agent_run(agent_id: str, mode: str) -> None:
        async with connect(world, agent_id, mode=mode) as client:
            mine = []
            for n in range(20):
                submitted = await client.call_tool(
                    "submit_article", {"title": f"{agent_id} #{n}", "content_markdown": f"body {n}"}
                )
                assert not submitted.is_error, submitted.content[0].text
                status = await client.call_tool(
                    "get_article_status", {"article_id": submitted.structured_content["id"]}
                )
                mine.append(status.structured_content)
            listed = await client.call_tool("list_articles", {"agent_id": agent_id, "limit": 100})
            outcomes[agent_id] = mine
            assert sorted(a["id"] for a in listed.structured_content["articles"]) == sorted(a["id"] for a in mine)

    async with anyio.create_task_group() as group:
        for n in range(1, 11):
            group.start_soon(agent_run, f"load-{n:02d}", "auto" if n % 2 else "legacy")

    assert len(outcomes) == 10
    all_ids = [a["id"] for articles in outcomes.values() for a in articles]
    assert len(all_ids) == len(set(all_ids)) == 200
    for agent_id, articles in outcomes.items():
        assert all(a["submitting_agent"] == agent_id and a["title"].startswith(agent_id) for a in articles)


async def test_a_session_less_client_is_recorded_as_connected(world):
    async with connect(world, "narrow", mode="2026-07-28") as client:
        assert not (await client.call_tool("list_sites", {})).is_error
        sessions = world.run(
            "from agents.models import McpSession\n"
            "result = list(McpSession.objects.filter(agent_id='narrow', closed_at__isnull=True)"
            ".values_list('id', 'transport', 'process'))"
        )
    assert ["stateless:narrow", "streamable-http", ""] in sessions


async def test_retry_publish_over_mcp(world):
    async with connect(world, "writer") as client:
        article_id = (
            await client.call_tool("submit_article", {"title": "Retry me", "content_markdown": "x"})
        ).structured_content["id"]
        world.run(
            "from articles.models import Article\n"
            f"Article.objects.filter(pk={article_id}).update(status='publish_failed', publish_error_message='boom')"
        )
        retried = await client.call_tool("retry_publish", {"article_id": article_id})
        assert not retried.is_error, retried.content[0].text
        assert retried.structured_content["status"] == "publishing"


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_the_server_serves_mcp_and_stops_promptly_after_sync_tools_ran(tmp_path, server):
    """The SDK's session manager starts on the first request under daphne (no lifespan events) and from
    the lifespan events under uvicorn; after sync tools ran on worker threads, SIGTERM still stops it."""
    import signal
    import time

    from tests.mcp_bridge.conftest import make_world

    world = make_world(tmp_path, {"solo": {}}, server=server)
    try:
        async with connect(world, "solo") as client:
            assert not (await client.call_tool("list_sites", {})).is_error
        async with connect(world, "solo", transport="sse") as client:
            assert not (await client.call_tool("get_agent_stats", {})).is_error
        web = world.deployment.web
        started = time.monotonic()
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=20)
        assert time.monotonic() - started < 15
    finally:
        world.deployment.close()


async def test_metrics_count_mcp_requests_and_tool_calls(world):
    async with connect(world, "writer") as client:
        await call(client, "list_sites")
        await error(client, "get_article", article_id=999999)
    async with httpx2.AsyncClient() as http:
        text = (await http.get(f"{world.url}/metrics")).text
    assert 'wpublisher_mcp_tool_calls_total{outcome="ok",tool="list_sites"}' in text
    assert 'wpublisher_mcp_tool_calls_total{outcome="ARTICLE_NOT_FOUND",tool="get_article"}' in text
    assert 'wpublisher_mcp_requests_total{status="200",transport="streamable-http"}' in text
    assert "wpublisher_mcp_request_duration_seconds_bucket" in text


async def test_a_key_revoked_during_a_stdio_session_fails_with_auth_failed(world):
    async with connect(world, "stdio-revokee", transport="stdio") as client:
        assert not (await client.call_tool("list_sites", {})).is_error
        world.run(
            "from agents.actors import Actor\nfrom agents.services import agent_key_revoke\n"
            "result = agent_key_revoke(agent_id='stdio-revokee', actor=Actor(system='tests'))"
        )
        failed = await client.call_tool("list_sites", {})
    assert failed.is_error
    assert failed.content[0].text.endswith("AUTH_FAILED: invalid, expired or revoked API key")


async def test_an_invalid_config_surfaces_as_config_error(world, tmp_path):
    broken = tmp_path / "broken-config"
    broken.mkdir()
    (broken / "agents.yml").write_text("agents: [")
    (broken / "sites.yml").write_text("sites: []\n")
    async with connect(world, "writer", transport="stdio", env={"WPUBLISHER_CONFIG_DIR": str(broken)}) as client:
        with pytest.raises(MCPError, match=r"CONFIG_ERROR: agents.yml: line 1, column \d+"):
            await client.read_resource("config://agents")
