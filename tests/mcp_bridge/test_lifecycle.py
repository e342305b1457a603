"""The web process's start and shutdown as clients see them, with real daphne and uvicorn processes: a
start raced by many first requests, tool calls under way when SIGTERM arrives, requests that arrive while
the server drains, and clients on every transport that must not hold the process."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client

from core.keys import key_generate
from tests.mcp_bridge.conftest import World, connect, fake_sites
from tests.support.deployment import Deployment

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

# submit_article with the title "slow <seconds> <name>" leaves a file <name> in $SLOW_MARKS when it starts,
# then takes that long; so does GET /health?slow=<seconds> (a Django view), with the file "django".
SLOW_TOOLS = """
import os, pathlib, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wpublisher.settings")
import django
django.setup()
import articles.services as services
_submit = services.article_submit
def article_submit(*args, **kwargs):
    words = str(kwargs.get("title", "")).split()
    if words[:1] == ["slow"]:
        pathlib.Path(os.environ["SLOW_MARKS"], words[2]).touch()
        time.sleep(float(words[1]))
    return _submit(*args, **kwargs)
services.article_submit = article_submit
import wpublisher.views as views
_health = views.health
def health(request):
    if request.GET.get("slow"):
        pathlib.Path(os.environ["SLOW_MARKS"], "django").touch()
        time.sleep(float(request.GET["slow"]))
    return _health(request)
views.health = health
"""
# The session manager's first start takes a second and fails (as with a database locked all along); the
# next one succeeds.
FIRST_START_FAILS = """
import os, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wpublisher.settings")
import django
django.setup()
from django.db import OperationalError
import mcp_bridge.services as services
_close_orphaned = services.mcp_sessions_close_orphaned
_calls = []
def mcp_sessions_close_orphaned(**kwargs):
    _calls.append(kwargs)
    time.sleep(1.0)
    if len(_calls) == 1:
        raise OperationalError("database is locked")
    return _close_orphaned(**kwargs)
services.mcp_sessions_close_orphaned = mcp_sessions_close_orphaned
"""
STAFF_SESSION = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
user = User.objects.create_user("reviewer", password="unused-password-1", is_staff=True)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
result = session.session_key
"""


def start_world(
    directory: Path, agents: list[str], *, server: str = "daphne", preload: str = "", system: dict | None = None
) -> World:
    """A deployment with `agents` (content creators) and a web server run after `preload` (`system`: the
    contents of system.yml, if any)."""
    keys = {agent_id: key_generate()[1] for agent_id in agents}
    entries = [
        {"id": agent_id, "name": f"Agent {agent_id}", "role": "content-creator", "api_key": key}
        for agent_id, key in keys.items()
    ]
    deployment = Deployment(directory, agents=entries, sites=fake_sites("site-a"), system=system)
    (directory / "marks").mkdir()
    try:
        deployment.start_web(server=server, preload=preload, env={"SLOW_MARKS": str(directory / "marks")})
    except BaseException:
        deployment.close()
        raise
    return World(deployment=deployment, keys=keys)


@pytest.fixture
def worlds():
    started: list[World] = []
    yield started
    for world in started:
        world.deployment.close()


async def wait_for_mark(world: World, name: str, timeout: float = 30) -> None:
    mark = world.deployment.directory / "marks" / name
    for _ in range(int(timeout / 0.05)):
        if mark.exists():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the slow tool call {name} did not start in {timeout}s")


async def logged(deployment: Deployment, text: str, timeout: float = 10) -> bool:
    """Whether the web server logs `text` within `timeout` seconds (a test goes on either way, to fail on
    what it checks rather than on the wait)."""
    for _ in range(int(timeout / 0.05)):
        if text in deployment.web_log():
            return True
        await asyncio.sleep(0.05)
    return False


async def post_initialize(world: World, agent_id: str) -> httpx2.Response:
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {world.keys[agent_id]}"}
    async with httpx2.AsyncClient(timeout=30) as http:
        return await http.post(f"{world.url}/mcp", json=INITIALIZE, headers=headers)


def _has_assertion(error: BaseException) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return any(_has_assertion(inner) for inner in error.exceptions)
    return isinstance(error, AssertionError)


@contextlib.asynccontextmanager
async def client_of_a_stopping_server(world: World, agent_id: str, transport: str) -> AsyncIterator[Client]:
    """An SDK client whose server shuts down under it: once the test's code is done with it, its streams
    having ended and closing its session failing are expected; anything before that fails the test."""
    done = False
    try:
        async with connect(world, agent_id, transport=transport) as client:
            yield client
            done = True
    except Exception as error:
        if not done or _has_assertion(error):
            raise


def console_websocket(world: World) -> socket.socket:
    """A console page's websocket (a logged-in reviewer), open."""
    session_key = world.run(STAFF_SESSION)
    port = world.deployment.port
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/console/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
            f"Cookie: sessionid={session_key}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "the websocket handshake got no answer"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def websocket_close_code(sock: socket.socket) -> int | None:
    """Read server frames until a close frame (its code) or the end of the connection (None)."""

    def exactly(count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    try:
        while True:
            first, second = exactly(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", exactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", exactly(8))[0]
            payload = exactly(length)
            if first & 0x0F == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    except (EOFError, ConnectionError):
        return None


async def test_calls_under_way_at_sigterm_are_answered_and_new_requests_get_503(tmp_path, worlds):
    """SIGTERM while a tool call runs over Streamable HTTP, another over SSE and a Django request: all three
    answers arrive, a new MCP request meanwhile gets 503 with Retry-After, and the process exits once they
    are done."""
    world = start_world(tmp_path, ["writer", "seo"], preload=SLOW_TOOLS)
    worlds.append(world)
    deployment = world.deployment
    async with (
        client_of_a_stopping_server(world, "writer", "http") as over_http,
        client_of_a_stopping_server(world, "seo", "sse") as over_sse,
    ):
        # The SDK checks a structured result against the tool's schema, listing the tools first if it has
        # not yet: here that would be a new request, refused while the server drains.
        await over_http.list_tools()
        await over_sse.list_tools()
        calls = [
            asyncio.ensure_future(
                client.call_tool("submit_article", {"title": f"slow 3 {name}", "content_markdown": "Body"})
            )
            for client, name in ((over_http, "http"), (over_sse, "sse"))
        ]
        async with httpx2.AsyncClient(timeout=30) as http:
            page = asyncio.ensure_future(http.get(f"{world.url}/health?slow=3"))
            await wait_for_mark(world, "http")
            await wait_for_mark(world, "sse")
            await wait_for_mark(world, "django")
            signalled = deployment.web_signal()
            await logged(deployment, "shutting down: draining")
            refused = await post_initialize(world, "writer")
            answers = await asyncio.gather(*calls)
            health = await page
    exited = deployment.web_wait_exit(20)

    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "5"
    assert refused.json()["error"] == "shutting_down"
    for answer, name in zip(answers, ("http", "sse"), strict=True):
        assert not answer.is_error, answer.content[0].text
        assert answer.structured_content["title"] == f"slow 3 {name}"
    assert health.status_code == 200 and health.json()["database"]["status"] == "ok"
    assert exited - signalled < 8, f"exited {exited - signalled:.1f}s after SIGTERM"
    assert deployment.web.returncode == 0, deployment.web_log()[-3000:]
    titles = deployment.run(
        "from articles.models import Article\nresult = sorted(Article.objects.values_list('title'))"
    )
    assert titles == [["slow 3 http"], ["slow 3 sse"]]
    assert "Task group is not initialized" not in deployment.web_log()


async def test_a_call_still_running_past_the_drain_does_not_hold_the_process(tmp_path, worlds):
    """A tool call that outlasts the drain (a database locked for a minute, say) is given up on: the
    process exits soon after the drain's deadline, within `manage.py serve`'s stop timeout, instead of
    when the call ends."""
    from wpublisher.supervisor import STOP_TIMEOUT

    world = start_world(tmp_path, ["writer"], preload=SLOW_TOOLS)
    worlds.append(world)
    deployment = world.deployment
    async with client_of_a_stopping_server(world, "writer", "http") as client:
        await client.list_tools()
        call = asyncio.ensure_future(
            client.call_tool("submit_article", {"title": "slow 60 stuck", "content_markdown": "Body"})
        )
        await wait_for_mark(world, "stuck")
        signalled = deployment.web_signal()
        exited = deployment.web_wait_exit(45)
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
    assert exited - signalled < STOP_TIMEOUT, f"exited {exited - signalled:.1f}s after SIGTERM"
    assert exited - signalled >= 9.5  # it did wait for the call, as long as the drain allows (10 s)


async def test_clients_on_every_transport_do_not_hold_the_process(tmp_path, worlds):
    """Streamable HTTP sessions (with their GET streams), SSE sessions (an SDK client's, a raw stream) and a
    console websocket stay connected through SIGTERM (after a session-less client came and went): the
    process exits promptly and cleanly, the SSE stream ends as a stream ends, the websocket is dropped
    without a close frame (a browser sees 1006, on which htmx reconnects; daphne cannot send 1012) and the
    process's sessions are closed."""
    world = start_world(tmp_path, ["one", "two", "stateless", "legacy", "raw"])
    worlds.append(world)
    deployment = world.deployment
    websocket = console_websocket(world)
    headers = {"Authorization": f"Bearer {world.keys['raw']}", "Accept": "text/event-stream"}
    sse_outcome: dict[str, object] = {}

    async def hold_an_sse_stream(ready: asyncio.Event) -> None:
        async with httpx2.AsyncClient(timeout=60) as http, http.stream("GET", f"{world.url}/sse", headers=headers) as s:
            lines = s.aiter_lines()
            try:
                async for line in lines:
                    if "session_id=" in line:
                        ready.set()
                sse_outcome["ended"] = "cleanly"
            except httpx2.HTTPError as error:
                sse_outcome["ended"] = repr(error)

    async with (
        client_of_a_stopping_server(world, "one", "http") as one,
        client_of_a_stopping_server(world, "two", "http") as two,
        client_of_a_stopping_server(world, "legacy", "sse") as legacy,
    ):
        async with connect(world, "stateless", mode="2026-07-28") as stateless:
            assert not (await stateless.call_tool("list_sites", {})).is_error
        for client in (one, two, legacy):
            assert not (await client.call_tool("list_sites", {})).is_error
        ready = asyncio.Event()
        raw_sse = asyncio.ensure_future(hold_an_sse_stream(ready))
        await asyncio.wait_for(ready.wait(), 30)
        await asyncio.sleep(0.5)  # the SDK clients' GET streams are open by now
        signalled = deployment.web_signal()
        exited = await asyncio.to_thread(deployment.web_wait_exit, 20)
        close_code = await asyncio.to_thread(websocket_close_code, websocket)
        await asyncio.wait_for(raw_sse, 10)
    websocket.close()

    assert exited - signalled < 5, f"exited {exited - signalled:.1f}s after SIGTERM"
    assert deployment.web.returncode == 0, deployment.web_log()[-3000:]
    assert close_code is None
    assert sse_outcome["ended"] == "cleanly"
    still_open = deployment.run(
        "from agents.models import McpSession\n"
        "result = list(McpSession.objects.filter(closed_at__isnull=True).exclude(process='').values_list('id'))"
    )
    assert still_open == []


async def test_requests_racing_the_first_start_get_answers_or_503_never_500(tmp_path, worlds):
    """Twenty first requests at once while the session manager's first start takes a second and fails:
    each gets 503 (starting) with Retry-After, none a 500; the next twenty wait for one start and all
    succeed."""
    # Forty sessions of one agent: more than the default rate_limits.sessions_per_agent (20), which is not what
    # this test is about.
    world = start_world(
        tmp_path, ["writer"], preload=FIRST_START_FAILS, system={"rate_limits": {"sessions_per_agent": 100}}
    )
    worlds.append(world)

    first = await asyncio.gather(*(post_initialize(world, "writer") for _ in range(20)))
    second = await asyncio.gather(*(post_initialize(world, "writer") for _ in range(20)))

    statuses = sorted(response.status_code for response in first)
    assert set(statuses) <= {200, 503}, statuses
    for response in first:
        if response.status_code == 503:
            assert response.headers["retry-after"] == "2"
            assert response.json()["error"] == "starting"
    assert [response.status_code for response in second] == [200] * 20
    log = world.deployment.web_log()
    assert "Task group is not initialized" not in log
    assert "Exception inside application" not in log


async def test_under_uvicorn_calls_under_way_at_sigterm_are_answered(tmp_path, worlds):
    """uvicorn (lifespan events): a tool call running when SIGTERM arrives gets its answer over Streamable
    HTTP and over SSE, although sse_starlette would end every SSE response at once, and the process exits
    promptly with its clients still connected."""
    world = start_world(tmp_path, ["writer", "seo"], server="uvicorn", preload=SLOW_TOOLS)
    worlds.append(world)
    deployment = world.deployment
    async with (
        client_of_a_stopping_server(world, "writer", "http") as over_http,
        client_of_a_stopping_server(world, "seo", "sse") as over_sse,
    ):
        await over_http.list_tools()
        await over_sse.list_tools()
        calls = [
            asyncio.ensure_future(
                client.call_tool("submit_article", {"title": f"slow 2 {name}", "content_markdown": "Body"})
            )
            for client, name in ((over_http, "http"), (over_sse, "sse"))
        ]
        await wait_for_mark(world, "http")
        await wait_for_mark(world, "sse")
        signalled = deployment.web_signal()
        answers = await asyncio.gather(*calls)
        exited = await asyncio.to_thread(deployment.web_wait_exit, 20)

    for answer, name in zip(answers, ("http", "sse"), strict=True):
        assert not answer.is_error, answer.content[0].text
        assert answer.structured_content["title"] == f"slow 2 {name}"
    assert exited - signalled < 7, f"exited {exited - signalled:.1f}s after SIGTERM"
    assert "MCP gateway stopped" in deployment.web_log()
