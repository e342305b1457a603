"""An agent's configuration changed while its session is open applies to its very next tool call, over
Streamable HTTP (where the gateway hands the tool the agent it authenticated for the request) and over
SSE (where the session outlives the request that opened it, and the tool reads the agent anew)."""

from __future__ import annotations

import time

import anyio
import pytest
import yaml

from tests.mcp_bridge.conftest import connect, make_world

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    created = make_world(tmp_path_factory.mktemp("scopes"), {"promoted": {"scopes": ["article:submit"]}})
    yield created
    created.deployment.close()


def set_scopes(world, scopes: list[str]) -> None:
    path = world.deployment.config_dir / "agents.yml"
    document = yaml.safe_load(path.read_text())
    document["agents"][0]["scopes"] = scopes
    path.write_text(yaml.safe_dump(document))


async def approve_error(client) -> str:
    result = await client.call_tool("approve_article", {"article_id": 999_999, "expected_revision": 1})
    assert result.is_error
    return result.content[0].text


async def wait_for(client, expected: str) -> str:
    deadline = time.monotonic() + 20
    text = await approve_error(client)
    while expected not in text and time.monotonic() < deadline:
        await anyio.sleep(0.3)
        text = await approve_error(client)
    return text


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_a_scope_granted_and_withdrawn_during_a_session_applies_at_once(world, transport):
    set_scopes(world, ["article:submit"])
    async with connect(world, "promoted", transport) as client:
        assert "FORBIDDEN" in await wait_for(client, "FORBIDDEN")
        set_scopes(world, ["article:submit", "article:review"])  # the server's watcher reloads agents.yml
        assert "ARTICLE_NOT_FOUND" in await wait_for(client, "ARTICLE_NOT_FOUND")
        set_scopes(world, ["article:submit"])
        assert "FORBIDDEN" in await wait_for(client, "FORBIDDEN")
