"""An agent's configuration changed while its session is open applies to its very next tool call, over
Streamable HTTP (where the gateway hands the tool the agent it authenticated for the request) and over
SSE (where the session outlives the request that opened it, and the tool reads the agent anew), on a live
server whose watcher reloads agents.yml; and in process, where the tool reads the agent the client acts as
(as over stdio) once the configuration is reloaded."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest
import yaml
from asgiref.sync import sync_to_async

from configuration.reload import config_reload
from tests.mcp_bridge.conftest import connect, connect_in_process, make_world

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    created = make_world(tmp_path_factory.mktemp("scopes"), {"promoted": {"scopes": ["article:submit"]}})
    yield created
    created.deployment.close()


def set_scopes(config_dir: Path, scopes: list[str]) -> None:
    path = config_dir / "agents.yml"
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


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_a_scope_granted_and_withdrawn_during_a_session_applies_at_once(world, transport):
    config_dir = world.deployment.config_dir
    set_scopes(config_dir, ["article:submit"])
    async with connect(world, "promoted", transport) as client:
        assert "FORBIDDEN" in await wait_for(client, "FORBIDDEN")
        set_scopes(config_dir, ["article:submit", "article:review"])  # the server's watcher reloads agents.yml
        assert "ARTICLE_NOT_FOUND" in await wait_for(client, "ARTICLE_NOT_FOUND")
        set_scopes(config_dir, ["article:submit"])
        assert "FORBIDDEN" in await wait_for(client, "FORBIDDEN")


@pytest.fixture
def promoted_in_process(load_world):
    return load_world({"promoted": {"scopes": ["article:submit"]}})


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("promoted_in_process")
async def test_a_scope_granted_and_withdrawn_in_process_applies_to_the_next_call(config_files):
    async def reload_with(scopes: list[str]) -> None:  # what the server's watcher does
        set_scopes(config_files.path, scopes)
        assert (await sync_to_async(config_reload)(sync=True)).ok

    async with connect_in_process("promoted") as client:
        assert "FORBIDDEN: agent promoted lacks the scope article:review" in await approve_error(client)
        await reload_with(["article:submit", "article:review"])
        assert "ARTICLE_NOT_FOUND: article 999999 not found" in await approve_error(client)
        await reload_with(["article:submit"])
        assert "FORBIDDEN: agent promoted lacks the scope article:review" in await approve_error(client)
