"""Two web processes behind round-robin, as deploy/nginx.conf runs them: with MCP_STATELESS_HTTP=1 no
Streamable HTTP session lives in a process, so every client (session-less 2026-07-28 clients and
handshake-era ones alike) can be sent to any process. Shown with two real daphne processes sharing one
database, and a balancer that picks the process for every request; and why: with server-side sessions,
plain round-robin breaks handshake-era clients."""

from __future__ import annotations

import itertools

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.mcp_bridge.conftest import connect, make_world

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


class Balancer(httpx2.AsyncBaseTransport):
    """Sends each request to the next of `ports`, in turn."""

    def __init__(self, ports: list[int]):
        self.turns = itertools.cycle(ports)
        self.inner = httpx2.AsyncHTTPTransport()
        self.used: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self.turns)
        self.used.append(port)
        request.url = request.url.copy_with(port=port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def start_two(directory, *, stateless: bool):
    world = make_world(directory, {"writer": {}}, web_env={"MCP_STATELESS_HTTP": "1" if stateless else "0"})
    deployment = world.deployment
    first_port, first_web = deployment.port, deployment.web
    # A second web process on the same data directory, configuration and database.
    deployment.start_web(env={"MCP_STATELESS_HTTP": "1" if stateless else "0"})
    deployment.workers.append(first_web)  # so that close() stops both
    return world, [first_port, deployment.port]


@pytest.fixture(scope="module")
def stateless_pair(tmp_path_factory):
    world, ports = start_two(tmp_path_factory.mktemp("stateless"), stateless=True)
    yield world, ports
    world.deployment.close()


async def session_work(world, ports, *, mode: str) -> tuple[list[int], list[str]]:
    balancer = Balancer(ports)
    headers = {"Authorization": f"Bearer {world.keys['writer']}"}
    titles = []
    async with (
        httpx2.AsyncClient(headers=headers, transport=balancer, timeout=30) as http,
        Client(streamable_http_client(f"http://127.0.0.1:{ports[0]}/mcp", http_client=http), mode=mode) as client,
    ):
        for n in range(4):
            result = await client.call_tool("submit_article", {"title": f"{mode} {n}", "content_markdown": "x"})
            assert not result.is_error, result.content[0].text
            titles.append(result.structured_content["title"])
    return balancer.used, titles


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_every_client_works_through_plain_round_robin(stateless_pair, mode):
    world, ports = stateless_pair
    used, titles = await session_work(world, ports, mode=mode)
    assert set(used) == set(ports)  # both processes answered
    assert titles == [f"{mode} {n}" for n in range(4)]
    sessions = world.run(
        "from agents.models import McpSession\n"
        "result = list(McpSession.objects.filter(agent_id='writer').values_list('id', flat=True))"
    )
    assert sessions == ["stateless:writer"]  # connected, with no process-bound session


async def test_with_server_side_sessions_plain_round_robin_breaks_handshake_era_clients(tmp_path):
    world, ports = start_two(tmp_path, stateless=False)
    try:
        with pytest.raises(Exception):  # noqa: B017 - the other process does not know the session (404)
            await session_work(world, ports, mode="legacy")
        async with connect(world, "writer", mode="2026-07-28") as client:  # session-less clients still work
            assert not (await client.call_tool("list_sites", {})).is_error
    finally:
        world.deployment.close()
