""" "Connected" is true only while an MCP session is really open: in process, through the gateway (the ASGI app
daphne serves) with its Streamable HTTP and SSE transports, and over stdio (`connect_in_process`). An agent
stops being connected when its client ends the session, when the client simply goes away (its SSE stream
closed, its stdio ended), and when its session has been idle past global_settings.session_timeout, closed or
not; the wpublisher_agents_connected gauge and the sessions_per_agent admission follow the same rule."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from mcp_types.version import LATEST_MODERN_VERSION
from prometheus_client import CollectorRegistry, generate_latest

from agents.models import Agent, McpSession
from agents.selectors import connected_agent_ids
from mcp_bridge.asgi import McpGateway, _stale_sessions_close
from mcp_bridge.services import mcp_session_admission_end, mcp_session_admit, mcp_session_open
from tests.mcp_bridge.conftest import connect_in_process

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}


@pytest.fixture
async def gateway():
    started = McpGateway()
    yield started
    await started.stop()


@sync_to_async
def connected() -> set[str]:
    return connected_agent_ids()


@sync_to_async
def open_sessions(agent_id: str) -> list[str]:
    return list(McpSession.objects.filter(agent_id=agent_id, closed_at=None).values_list("pk", flat=True))


@sync_to_async
def idle_for(session_id: str, seconds: int) -> None:
    McpSession.objects.filter(pk=session_id).update(last_activity_at=timezone.now() - timedelta(seconds=seconds))


class Exchange:
    """One HTTP request to an ASGI app, as a client that may go away (disconnect) while it is answered."""

    def __init__(
        self,
        app,
        method: str,
        path: str,
        key: str,
        body: dict | None = None,
        session: str | None = None,
        protocol: str | None = None,
    ):
        self.messages: list[dict] = []
        self.gone = asyncio.Event()
        payload = json.dumps(body).encode() if body is not None else b""
        headers = [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"accept", b"application/json, text/event-stream"),
            (b"content-type", b"application/json"),
        ]
        if session:
            headers += [(b"mcp-session-id", session.encode()), (b"mcp-protocol-version", b"2025-06-18")]
        elif protocol:  # a session-less client names its protocol version and method on every request
            headers += [(b"mcp-protocol-version", protocol.encode()), (b"mcp-method", body["method"].encode())]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = [False]

        async def receive() -> dict:
            if not sent[0]:
                sent[0] = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await self.gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            self.messages.append(message)

        self.task = asyncio.ensure_future(app(scope, receive, send))

    def header(self, name: bytes) -> str | None:
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        return next((v.decode() for k, v in start["headers"] if k.lower() == name), None)

    def text(self) -> str:
        return b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body").decode()

    async def until(self, predicate, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.task.done():
                self.task.result()
            assert time.monotonic() < deadline, self.messages
            await asyncio.sleep(0.02)

    async def leave(self) -> None:
        """The client goes away (closes its connection)."""
        self.gone.set()
        await asyncio.wait_for(self.task, 10)


async def open_http_session(gateway: McpGateway, key: str) -> str:
    opening = Exchange(gateway, "POST", "/mcp", key, INITIALIZE)
    await asyncio.wait_for(opening.task, 10)
    assert '"result"' in opening.text(), opening.messages
    session_id = opening.header(b"mcp-session-id")
    assert session_id
    return session_id


async def test_streamable_http_connected_while_open_not_after_delete_nor_after_idle_expiry(mcp_world, gateway):
    key = mcp_world.keys["writer"]
    first = await open_http_session(gateway, key)
    assert await connected() == {"writer"} and await open_sessions("writer") == [first]

    deleted = Exchange(gateway, "DELETE", "/mcp", key, session=first)
    await asyncio.wait_for(deleted.task, 10)
    assert await connected() == set() and await open_sessions("writer") == []

    # A client that goes away without DELETE: nothing tells the server, so the session is idle until it
    # expires. Once idle past session_timeout it is not connected, even before any sweep closes it...
    second = await open_http_session(gateway, key)
    assert await connected() == {"writer"}
    await idle_for(second, 1801)
    assert await connected() == set()
    assert await open_sessions("writer") == [second]
    # ...and the gateway's sweep ends it (the SDK forgets it too).
    await gateway._sessions_sweep(0)
    assert await open_sessions("writer") == [] and second not in gateway._sdk_sessions()


async def test_a_session_less_client_is_connected_while_its_requests_keep_coming(mcp_world, gateway):
    # What the SDK client negotiates by default: no session id, no DELETE when it leaves. `make run` showed
    # such an agent "connected" for the whole session_timeout (30 min) after its client had exited.
    key = mcp_world.keys["writer"]
    envelope = {
        "io.modelcontextprotocol/protocolVersion": LATEST_MODERN_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    call = dict(INITIALIZE, method="tools/list", params={"_meta": envelope})
    listing = Exchange(gateway, "POST", "/mcp", key, call, protocol=LATEST_MODERN_VERSION)
    await asyncio.wait_for(listing.task, 10)
    assert '"submit_article"' in listing.text(), listing.messages
    assert await open_sessions("writer") == ["stateless:writer"] and await connected() == {"writer"}
    await idle_for("stateless:writer", 60)  # between two calls of a working agent
    assert await connected() == {"writer"}
    await idle_for("stateless:writer", 91)  # its client has left
    assert await connected() == set()
    assert await open_sessions("writer") == ["stateless:writer"]  # no close: nothing said it left


async def test_sse_connected_while_its_stream_is_open_and_not_after_the_client_goes_away(mcp_world, gateway):
    stream = Exchange(gateway, "GET", "/sse", mcp_world.keys["seo"])
    await stream.until(lambda: "session_id=" in stream.text())
    assert await connected() == {"seo"} and len(await open_sessions("seo")) == 1
    await stream.leave()  # no DELETE on SSE: the stream closing is the client leaving
    assert await connected() == set() and await open_sessions("seo") == []


async def test_stdio_connected_while_the_client_runs_not_after_it_ends_nor_when_idle(mcp_world):
    async with connect_in_process("editor") as client:
        assert await connected() == {"editor"}
        await client.call_tool("list_agents", {})
        (session_id,) = await open_sessions("editor")
        await idle_for(session_id, 1801)
        assert await connected() == set()  # open, but idle past session_timeout
        await idle_for(session_id, 0)
    assert await connected() == set() and await open_sessions("editor") == []


@sync_to_async
def gauge() -> str:
    from wpublisher.metrics import DatabaseCollector

    registry = CollectorRegistry()
    registry.register(DatabaseCollector())
    return next(
        line
        for line in generate_latest(registry).decode().splitlines()
        if line.startswith("wpublisher_agents_connected ")
    )


async def test_the_gauge_follows_connected(mcp_world):
    @sync_to_async
    def sessions() -> None:
        for n, agent_id in enumerate(("writer", "seo", "editor")):
            mcp_session_open(session_id=f"s{n}", agent=Agent.objects.get(pk=agent_id), transport="streamable-http")

    await sessions()
    assert await gauge() == "wpublisher_agents_connected 3.0"
    await idle_for("s0", 1801)
    await idle_for("s1", 1801)
    assert await gauge() == "wpublisher_agents_connected 1.0"


async def test_a_leaked_session_holds_no_admission_place_past_its_expiry(mcp_world):
    @sync_to_async
    def admit_after_a_leak() -> list[str]:
        agent = Agent.objects.get(pk="writer")
        mcp_session_open(session_id="leaked", agent=agent, transport="streamable-http")
        McpSession.objects.filter(pk="leaked").update(last_activity_at=timezone.now() - timedelta(seconds=1801))
        _stale_sessions_close(idle_timeout=1800)  # what the gateway does before admitting
        mcp_session_admit(agent=agent, max_concurrent_agents=10, sessions_per_agent=1)
        mcp_session_admission_end(agent_id="writer")
        return list(McpSession.objects.filter(pk="leaked").values_list("close_reason", flat=True))

    assert await admit_after_a_leak() == ["idle timeout"]


async def test_a_stdio_call_is_activity_of_the_stdio_session(mcp_world, monkeypatch):
    from mcp_bridge import calls
    from mcp_bridge.identity import stdio_session_id

    monkeypatch.setattr(calls, "_stdio_touched", [-1e9])

    @sync_to_async
    def stdio_session_idle() -> None:  # as manage.py mcp_stdio records it, then a quiet while
        mcp_session_open(session_id=stdio_session_id(), agent=Agent.objects.get(pk="narrow"), transport="stdio")
        McpSession.objects.filter(pk=stdio_session_id()).update(
            last_activity_at=timezone.now() - timedelta(seconds=1700)
        )

    await stdio_session_idle()
    async with connect_in_process("narrow") as client:
        await client.call_tool("list_sites", {})

    @sync_to_async
    def idle_seconds() -> float:
        return (timezone.now() - McpSession.objects.get(pk=stdio_session_id()).last_activity_at).total_seconds()

    assert await idle_seconds() < 5 and await connected() == {"narrow"}
