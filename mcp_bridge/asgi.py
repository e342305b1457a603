"""The MCP endpoints inside the project's ASGI application: Streamable HTTP at /mcp, the legacy HTTP+SSE
transport at /sse and /messages/.

`McpGateway` stands in front of the SDK's apps and does what they cannot know about: the client IP
(behind trusted proxies only), brute-force blocking, refusing keys in URLs, authenticating every request
with the client IP for the audit log, admission against max_concurrent_agents, and recording sessions
(who is connected). The SDK then checks Host/Origin (421/403), body size (413) and that a session is
used only by the agent that opened it.

daphne sends no ASGI lifespan events, so the SDK's Streamable HTTP session manager is started on the
first MCP request and stopped from a Twisted shutdown trigger; under uvicorn the lifespan events do it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from agents.exceptions import AuthFailed
from agents.models import Agent
from agents.services import agent_authenticate, agent_authenticate_cached
from agents.throttling import client_ip_auth_failure_record, client_ip_check
from mcp_bridge.exceptions import TooManyAgents
from mcp_bridge.models import Transport
from mcp_bridge.services import (
    TOUCH_INTERVAL,
    mcp_session_admit,
    mcp_session_close,
    mcp_session_open,
    mcp_session_touch,
    mcp_sessions_close_orphaned,
    mcp_sessions_expire,
)
from mcp_bridge.threads import run_sync
from wpublisher.events import console_events_loop_set
from wpublisher.metrics import AUTH_FAILURES, IPS_BLOCKED, MCP_REQUEST_DURATION, MCP_REQUESTS

logger = logging.getLogger(__name__)

# Set by the gateway for the request it authenticated; read by the SDK's token verifier.
authenticated_request: ContextVar[tuple[str, Agent] | None] = ContextVar("mcp_authenticated_request", default=None)
# The agent authenticated for the Streamable HTTP POST being served, for its tool call to use without
# reading it again. It sits in a box that is emptied when the request ends, so that a task the SDK spawned
# while serving it (a session's, which outlives the request) finds the box empty and reads the agent anew.
request_agent: ContextVar[list[Agent | None] | None] = ContextVar("mcp_request_agent", default=None)

MCP_PATHS = ("/mcp", "/sse", "/messages")
URL_KEY_PARAMS = frozenset({"api_key", "apikey", "key", "token", "access_token", "auth", "authorization"})
SWEEP_INTERVAL = 30.0


def is_mcp_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in MCP_PATHS)


async def _db(fn, /, **kwargs: Any) -> Any:
    """Run a sync service on the MCP threads (which keep their database connections)."""
    return await run_sync(fn, **kwargs)


def _header(scope: dict, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == name), None)


async def _respond(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _drain(receive) -> None:
    """Read the request body before answering early, so the connection stays usable."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


def client_ip(scope: dict, trusted_proxy_count: int) -> str:
    """The socket's address, or with N trusted proxies in front the address the nearest of them saw;
    X-Forwarded-For is ignored otherwise, so a client cannot forge it."""
    peer = (scope.get("client") or ("0.0.0.0", 0))[0]  # noqa: S104 - a placeholder, never bound
    if trusted_proxy_count <= 0:
        return peer
    forwarded = [part.strip() for part in (_header(scope, b"x-forwarded-for") or "").split(",") if part.strip()]
    if len(forwarded) >= trusted_proxy_count:
        return forwarded[-trusted_proxy_count]
    return forwarded[0] if forwarded else peer


class McpGateway:
    def __init__(self) -> None:
        self._apps: tuple[Any, Any] | None = None
        self._manager = None
        self._runner: asyncio.Task | None = None
        self._stop_event: asyncio.Event | None = None
        self._start_lock: asyncio.Lock | None = None
        self._touched: dict[str, float] = {}
        self._sse_activity: dict[str, float] = {}

    # --- lifecycle ----------------------------------------------------------------------------------

    def _build(self) -> None:
        from mcp_bridge.server import build_server
        from wpublisher.config.services import config_current

        config = config_current()
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(settings.MCP_ALLOWED_HOSTS),
            allowed_origins=list(settings.MCP_ALLOWED_ORIGINS),
        )
        server = build_server()
        body_limit = config.system.max_request_bytes
        streamable = server.streamable_http_app(
            streamable_http_path="/mcp",
            stateless_http=settings.MCP_STATELESS_HTTP,
            transport_security=security,
            max_request_body_size=body_limit,
            session_idle_timeout=float(config.global_settings.session_timeout),
            max_sessions=None,
        )
        sse = server.sse_app(
            sse_path="/sse", message_path="/messages/", transport_security=security, max_request_body_size=body_limit
        )
        self._apps = (streamable, sse)
        self._manager = server.session_manager

    async def start(self) -> None:
        """Start the SDK's session manager (once) and the session sweeper."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._runner is not None:
                return
            await _db(self._build_and_reset)
            console_events_loop_set(asyncio.get_running_loop())  # tools' console events go through it
            started = asyncio.get_running_loop().create_future()
            self._stop_event = asyncio.Event()
            self._runner = asyncio.get_running_loop().create_task(self._run(started))
            await started
            _stop_on_twisted_shutdown(self)

    def _build_and_reset(self) -> None:
        self._build()
        # Sessions of processes that died are over (their state died with them).
        mcp_sessions_close_orphaned(reason="server restarted")

    async def _run(self, started: asyncio.Future) -> None:
        from wpublisher.config.services import config_current

        async with self._manager.run():
            started.set_result(None)
            while not self._stop_event.is_set():
                try:
                    await asyncio.wait_for(self._stop_event.wait(), timeout=SWEEP_INTERVAL)
                except TimeoutError:
                    try:
                        timeout = config_current().global_settings.session_timeout
                        await _db(mcp_sessions_expire, idle_seconds=timeout)
                        await _db(mcp_sessions_close_orphaned, reason="server restarted")
                    except Exception:
                        logger.exception("MCP session sweep failed")

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._stop_event.set()
        try:
            await asyncio.wait_for(self._runner, timeout=10)
        except (TimeoutError, asyncio.CancelledError):
            self._runner.cancel()
        self._runner = None
        try:
            await _db(mcp_sessions_close_orphaned, reason="server stopped", current_process=True)
        except Exception:
            logger.exception("could not close this process's MCP sessions")

    # --- requests -----------------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        transport = "sse" if scope["path"] in ("/sse",) or scope["path"].startswith("/messages") else "streamable-http"
        answered: dict[str, int] = {}

        async def counting(message: dict) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
                if scope["path"] != "/sse":  # a stream lasts as long as the client stays
                    MCP_REQUEST_DURATION.labels(transport).observe(time.perf_counter() - started)
            await send(message)

        started = time.perf_counter()
        try:
            await self._serve(scope, receive, counting)
        finally:
            MCP_REQUESTS.labels(transport, str(answered.get("status", 0))).inc()

    async def _serve(self, scope: dict, receive, send) -> None:
        await self.start()
        from wpublisher.config.services import config_current

        config = config_current()
        ip = client_ip(scope, config.system.trusted_proxy_count)
        user_agent = _header(scope, b"user-agent") or ""

        blocked_for, generation = client_ip_check(ip_address=ip)
        if blocked_for:
            await _drain(receive)
            await _respond(
                send,
                429,
                {
                    "error": "too_many_requests",
                    "error_description": f"too many failed authentications from {ip}; "
                    f"blocked for another {blocked_for}s",
                },
                [(b"retry-after", str(blocked_for).encode())],
            )
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if URL_KEY_PARAMS & {name.lower() for name in query}:
            await _drain(receive)
            await _respond(
                send,
                400,
                {
                    "error": "invalid_request",
                    "error_description": "API keys in the URL are refused (URLs end up in logs); "
                    "send the header Authorization: Bearer <key>",
                },
            )
            return

        authorization = _header(scope, b"authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await _drain(receive)
            await _unauthorized(send, "missing bearer token: send Authorization: Bearer <API key>")
            return
        token = token.strip()
        try:
            # Most requests come from an agent verified moments ago: the cache answers without a thread.
            agent = agent_authenticate_cached(token=token, generation=generation) or await _db(
                agent_authenticate, token=token, ip_address=ip, user_agent=user_agent
            )
        except AuthFailed:
            AUTH_FAILURES.inc()
            if await _db(client_ip_auth_failure_record, ip_address=ip, user_agent=user_agent):
                IPS_BLOCKED.inc()
            await _drain(receive)
            await _unauthorized(send, "invalid, expired or revoked API key", error="invalid_token")
            return

        reset = authenticated_request.set((token, agent))
        box = [agent] if scope["method"] == "POST" and scope["path"] == "/mcp" else None
        reset_box = request_agent.set(box)
        try:
            await self._dispatch(scope, receive, send, agent=agent, ip=ip, user_agent=user_agent, config=config)
        finally:
            if box is not None:
                box[0] = None
            request_agent.reset(reset_box)
            authenticated_request.reset(reset)

    async def _dispatch(self, scope, receive, send, *, agent: Agent, ip: str, user_agent: str, config) -> None:
        streamable, sse = self._apps
        path, method = scope["path"], scope["method"]
        opening = dict(agent=agent, ip_address=ip, user_agent=user_agent)
        max_agents = config.global_settings.max_concurrent_agents
        if path == "/mcp" or path.startswith("/mcp/"):
            session_id = _header(scope, b"mcp-session-id")
            version = _header(scope, b"mcp-protocol-version")
            if settings.MCP_STATELESS_HTTP or (version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS):
                # A session-less (stateless protocol) client: its session is its run of requests.
                if not await self._touch_or_admit(
                    f"stateless:{agent.id}",
                    max_agents,
                    send,
                    receive,
                    transport=Transport.STREAMABLE_HTTP,
                    in_process=False,
                    **opening,
                ):
                    return
                await streamable(scope, receive, send)
            elif session_id is None and method == "POST":
                if not await self._admit(agent, max_agents, send, receive):
                    return
                await streamable(scope, receive, self._capture_new_session(send, opening))
            else:
                if session_id:
                    await self._touch(session_id)
                status = await _status_of(streamable, scope, receive, send)
                if method == "DELETE" and session_id and status is not None and status < 400:
                    await _db(mcp_session_close, session_id=session_id, reason="closed by client")
            return
        if path == "/sse" and method == "GET":
            if not await self._admit(agent, max_agents, send, receive):
                return
            await self._serve_sse_stream(sse, scope, receive, send, opening, config.global_settings.session_timeout)
            return
        if path.startswith("/messages"):
            session_id = (parse_qs(scope.get("query_string", b"").decode()).get("session_id") or [""])[0]
            if session_id:
                self._sse_activity[session_id] = time.monotonic()
                await self._touch(session_id)
        await sse(scope, receive, send)

    async def _admit(self, agent: Agent, max_agents: int, send, receive) -> bool:
        try:
            await _db(mcp_session_admit, agent=agent, max_concurrent_agents=max_agents)
        except TooManyAgents as error:
            await _drain(receive)
            await _respond(
                send, 503, {"error": "too_many_agents", "error_description": error.message}, [(b"retry-after", b"60")]
            )
            return False
        return True

    async def _touch_or_admit(self, session_id, max_agents, send, receive, *, agent: Agent, **opening) -> bool:
        if session_id in self._touched and time.monotonic() - self._touched[session_id] < TOUCH_INTERVAL.seconds:
            return True
        from mcp_bridge.models import McpSession

        is_open = await _db(lambda: McpSession.objects.filter(pk=session_id, closed_at__isnull=True).exists())
        if is_open:
            await self._touch(session_id)
            return True
        if not await self._admit(agent, max_agents, send, receive):
            return False
        await _db(mcp_session_open, session_id=session_id, agent=agent, **opening)
        self._touched[session_id] = time.monotonic()
        return True

    async def _touch(self, session_id: str) -> None:
        now = time.monotonic()
        if now - self._touched.get(session_id, 0.0) < TOUCH_INTERVAL.seconds:
            return
        self._touched[session_id] = now
        await _db(mcp_session_touch, session_id=session_id)

    def _capture_new_session(self, send, opening: dict):
        """Wrap `send` to record the session the SDK opens (its id is in the response header)."""

        async def capturing(message: dict) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                session_id = next(
                    (v.decode() for k, v in message.get("headers", []) if k.lower() == b"mcp-session-id"), None
                )
                if session_id:
                    await _db(mcp_session_open, session_id=session_id, transport=Transport.STREAMABLE_HTTP, **opening)
                    self._touched[session_id] = time.monotonic()
            await send(message)

        return capturing

    async def _serve_sse_stream(self, sse, scope, receive, send, opening: dict, idle_timeout: int) -> None:
        """An SSE stream is the session: recorded when the SDK announces its id, closed when the stream
        ends, and ended after `idle_timeout` seconds without a message from the client."""
        session: dict[str, str] = {}

        async def capturing(message: dict) -> None:
            if message["type"] == "http.response.body" and "id" not in session:
                text = message.get("body", b"").decode("utf-8", "replace")
                if "session_id=" in text:
                    session["id"] = text.split("session_id=", 1)[1].split()[0].strip()
                    self._sse_activity[session["id"]] = time.monotonic()
                    await _db(mcp_session_open, session_id=session["id"], transport=Transport.SSE, **opening)
            await send(message)

        stream = asyncio.ensure_future(sse(scope, receive, capturing))
        reason = "disconnected"
        try:
            while not stream.done():
                await asyncio.wait({stream}, timeout=min(30.0, idle_timeout / 4))
                last = self._sse_activity.get(session.get("id", ""), time.monotonic())
                if not stream.done() and time.monotonic() - last > idle_timeout:
                    reason = "idle timeout"
                    stream.cancel()
                    break
            await asyncio.gather(stream, return_exceptions=True)
        finally:
            if "id" in session:
                self._sse_activity.pop(session["id"], None)
                await _db(mcp_session_close, session_id=session["id"], reason=reason)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _unauthorized(send, description: str, *, error: str = "invalid_request") -> None:
    challenge = f'Bearer realm="wpublisher", error="{error}", error_description="{description}"'
    await _respond(
        send, 401, {"error": error, "error_description": description}, [(b"www-authenticate", challenge.encode())]
    )


async def _status_of(app, scope, receive, send) -> int | None:
    status: dict[str, int] = {}

    async def watching(message: dict) -> None:
        if message["type"] == "http.response.start":
            status["code"] = message["status"]
        await send(message)

    await app(scope, receive, watching)
    return status.get("code")


def _stop_on_twisted_shutdown(gateway: McpGateway) -> None:
    """Under daphne (Twisted's asyncio reactor), stop the session manager before the reactor stops: its
    task group and worker threads would otherwise keep the process from exiting on SIGTERM."""
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None:
        return
    from twisted.internet.defer import Deferred

    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: Deferred.fromFuture(asyncio.ensure_future(gateway.stop()))
    )


gateway = McpGateway()
