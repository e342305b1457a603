"""The MCP endpoints inside the project's ASGI application: Streamable HTTP at /mcp, the legacy HTTP+SSE
transport at /sse and /messages/.

`McpGateway` stands in front of the SDK's apps and does what they cannot know about: the client IP
(behind trusted proxies only), brute-force blocking, refusing keys in URLs, authenticating every request
with the client IP for the audit log, admission against max_concurrent_agents and the agent's
sessions_per_agent (a new session counts against its rate limit too), recording sessions (who is connected)
and ending those idle longer than the live session_timeout. The SDK then checks Host/Origin (421/403),
body size (413, which the gateway answers in its JSON shape naming the limit) and that a session is used
only by the agent that opened it.

daphne sends no ASGI lifespan events, so the SDK's Streamable HTTP session manager is started on the
first MCP request (concurrent first requests wait for that one start); under uvicorn the lifespan startup
event starts it. The application (wpublisher.asgi) stops it at shutdown, after draining: from
`drain_begin()` on, and while it is starting, an MCP request is answered 503 with Retry-After rather than
reaching the SDK's app without its task group (the SDK answers that with a 500), and tool calls already
running are counted (`calls_in_flight`) so the drain can wait for their answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import functools
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.db import connections
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from agents.exceptions import AuthFailed, RateLimited
from agents.models import STATELESS_SESSION_PREFIX, Agent, McpSession, Transport
from agents.services import agent_authenticate, agent_authenticate_cached, agent_key_known
from agents.throttling import (
    AttemptEnd,
    AttemptOutcome,
    agent_request_allow,
    client_ip_auth_attempt_begin,
    client_ip_auth_attempt_release,
    client_ip_auth_failure_record,
    client_ip_blocked_error,
    client_ip_check,
)
from core.config.state import config_current
from core.events import console_events_loop_set
from mcp_bridge.exceptions import TooManyAgents
from mcp_bridge.identity import authenticated_request, request_agent
from mcp_bridge.metrics import AUTH_FAILURES, IPS_BLOCKED, MCP_REQUEST_DURATION, MCP_REQUESTS
from mcp_bridge.server import build_server
from mcp_bridge.services import (
    TOUCH_INTERVAL,
    mcp_session_admission_end,
    mcp_session_admit,
    mcp_session_close,
    mcp_session_open,
    mcp_session_touch,
    mcp_sessions_close_orphaned,
    mcp_sessions_expire,
)
from mcp_bridge.threads import run_sync

logger = logging.getLogger(__name__)

MCP_PATHS = ("/mcp", "/sse", "/messages")
# A query parameter whose name, lowercased and without "-"/"_", holds one of these looks like a credential:
# refused with 400 (?api_key=, ?Access-Token=, ?bearer=, ?client_secret=, ...) before any authentication.
URL_KEY_PARAMS = ("key", "token", "bearer", "auth", "secret", "password", "passwd", "credential", "signature")


def url_key_param(name: str) -> bool:
    normalized = name.lower().replace("-", "").replace("_", "")
    return any(fragment in normalized for fragment in URL_KEY_PARAMS)


SWEEP_INTERVAL = 30.0
# How long a request waits for the session manager's first start before it is answered 503 (starting).
START_WAIT_SECONDS = 10.0
# How long stop() waits for a start under way, and then for the session manager's task group to end.
STOP_WAIT_SECONDS = 2.0
# At stop, this process's sessions are closed in the database if that takes at most this long: a busy SQLite
# (a writer holding the lock, 20 s busy timeout) must not hold the process. Sessions left open are closed as
# orphaned by the next start or another process's sweep.
SESSIONS_CLOSE_SECONDS = 1.0
# What a 503 tells clients to wait before retrying: a restarted server is up again in a few seconds.
RETRY_AFTER = {"starting": 2, "shutting_down": 5}
# Key verifications (each may cost a bcrypt check, about 0.3 s of a core) running at once in this process, per
# client address and in all, so that guesses never take the threads tool calls need. A request waits at most
# VERIFY_WAIT_SECONDS for a place, then gets 429 (its address has enough under way) or 503 (the process has).
VERIFICATIONS_PER_ADDRESS = 2
VERIFICATIONS_TOTAL = max(1, min(4, settings.MCP_WORKER_THREADS - 1))
VERIFY_WAIT_SECONDS = 5.0


class GatewayState(enum.Enum):
    IDLE = "idle"  # no MCP request yet (daphne), or a start that failed (the next request tries again)
    STARTING = "starting"
    RUNNING = "running"
    DRAINING = "draining"  # shutting down: new requests get 503, requests and tool calls under way finish
    STOPPED = "stopped"


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


async def respond_unavailable(receive, send, reason: str) -> None:
    """503 with Retry-After: the server is starting ("starting") or shutting down ("shutting_down"). Clients
    retry (a restarted server, or another instance behind the same proxy, answers then)."""
    description = {
        "starting": "the MCP server is starting; retry in a moment",
        "shutting_down": "the server is shutting down; retry in a moment",
    }[reason]
    await _drain(receive)
    await _respond(
        send,
        503,
        {"error": reason, "error_description": description},
        [(b"retry-after", str(RETRY_AFTER[reason]).encode())],
    )


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
        self._manager: StreamableHTTPSessionManager | None = None
        self._state = GatewayState.IDLE
        self._starting: asyncio.Task | None = None
        self._stopping: asyncio.Event | None = None
        self._runner: asyncio.Task | None = None
        self._stop_event: asyncio.Event | None = None
        self._calls = 0
        self._touched: dict[str, float] = {}
        self._sse_activity: dict[str, float] = {}
        # Streamable HTTP sessions of this process: when their last request ended, and requests under way (an
        # open GET stream is one); idle sessions are ended here, with the live session_timeout.
        self._activity: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}
        self._body_limit = 0  # the SDK's apps' max_request_body_size, set when they are built

    # --- lifecycle ----------------------------------------------------------------------------------

    @property
    def state(self) -> GatewayState:
        return self._state

    @property
    def calls_in_flight(self) -> int:
        """JSON-RPC requests (tool calls, reads...) being handled by the SDK, over any transport. Over SSE
        the answer goes out on the session's stream, not on the request that carried the call, so a drain
        has to count calls, not HTTP requests."""
        return self._calls

    async def _count_calls(self, ctx: Any, call_next: Callable) -> Any:
        """SDK middleware around every inbound message: counts the requests (notifications have no id)."""
        if ctx.request_id is None:
            return await call_next(ctx)
        self._calls += 1
        try:
            return await call_next(ctx)
        finally:
            self._calls -= 1

    def _build(self) -> None:
        config = config_current()
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(settings.MCP_ALLOWED_HOSTS),
            allowed_origins=list(settings.MCP_ALLOWED_ORIGINS),
        )
        server = build_server()
        server.middleware.append(self._count_calls)
        body_limit = self._body_limit = config.system.max_request_bytes
        streamable = server.streamable_http_app(
            streamable_http_path="/mcp",
            stateless_http=settings.MCP_STATELESS_HTTP,
            transport_security=security,
            max_request_body_size=body_limit,
            # Idle sessions are ended by the gateway (`_sessions_sweep`, `_ended_if_idle`) with the live
            # global_settings.session_timeout, which a config reload may change: the SDK's is fixed at start.
            session_idle_timeout=None,
            max_sessions=None,
        )
        sse = server.sse_app(
            sse_path="/sse", message_path="/messages/", transport_security=security, max_request_body_size=body_limit
        )
        self._apps = (streamable, sse)
        self._manager = server.session_manager

    def _stopping_event(self) -> asyncio.Event:
        if self._stopping is None:
            self._stopping = asyncio.Event()
        return self._stopping

    async def start(self) -> bool:
        """Start the SDK's session manager (once) and the session sweeper. Concurrent callers wait for the
        same start, for at most START_WAIT_SECONDS; True once it runs, False if it did not start in time,
        failed (the next call tries again) or the gateway is shutting down."""
        if self._state is GatewayState.RUNNING:
            return True
        if self._state in (GatewayState.DRAINING, GatewayState.STOPPED):
            return False
        if self._starting is None or self._starting.done():
            self._state = GatewayState.STARTING
            # A task of its own: a caller that is cancelled (its client went away) does not cancel the start
            # the others are waiting for.
            self._starting = asyncio.get_running_loop().create_task(self._start())
        stopping = asyncio.ensure_future(self._stopping_event().wait())
        try:
            await asyncio.wait(
                {self._starting, stopping}, timeout=START_WAIT_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopping.cancel()
        return self._state is GatewayState.RUNNING

    async def _start(self) -> None:
        try:
            await _db(self._build_and_reset)
            loop = asyncio.get_running_loop()
            console_events_loop_set(loop)  # tools' console events go through it
            started = loop.create_future()
            self._stop_event = asyncio.Event()
            self._runner = loop.create_task(self._run(started))
            await started  # the task group runs: requests may reach the SDK's apps
        except Exception:
            logger.exception("the MCP session manager did not start")
            if self._state is GatewayState.STARTING:
                self._state = GatewayState.IDLE
            return
        if self._state is GatewayState.STARTING:
            self._state = GatewayState.RUNNING

    def _build_and_reset(self) -> None:
        self._build()
        # Sessions of processes that died are over (their state died with them).
        mcp_sessions_close_orphaned(reason="server restarted")

    async def _run(self, started: asyncio.Future) -> None:
        manager, stop_event = self._manager, self._stop_event
        if manager is None or stop_event is None:
            raise RuntimeError("the gateway runs only after it was built")
        try:
            async with manager.run():
                started.set_result(None)
                while not stop_event.is_set():
                    try:
                        await asyncio.wait_for(stop_event.wait(), timeout=SWEEP_INTERVAL)
                    except TimeoutError:
                        try:
                            timeout = config_current().global_settings.session_timeout
                            await self._sessions_sweep(timeout)
                            await _db(mcp_sessions_expire, idle_seconds=timeout)
                            await _db(mcp_sessions_close_orphaned, reason="server restarted")
                        except Exception:
                            logger.exception("MCP session sweep failed")
        except BaseException as error:
            if not started.done():  # failed before the task group ran: the start must not wait forever
                started.set_exception(error if isinstance(error, Exception) else RuntimeError(repr(error)))
            raise

    def drain_begin(self) -> None:
        """Shutting down: from now on every MCP request is answered 503 (with Retry-After); requests and
        tool calls under way go on. Synchronous, so that it takes effect before anything else of the
        shutdown runs."""
        if self._state is not GatewayState.STOPPED:
            self._state = GatewayState.DRAINING
        self._stopping_event().set()

    async def stop(self) -> None:
        """Stop the session manager (its task group cancels what still runs in it) and close this process's
        sessions. Every wait is bounded: this runs while the process is exiting."""
        self.drain_begin()
        self._state = GatewayState.STOPPED
        if self._starting is not None and not self._starting.done():
            _, pending = await asyncio.wait({self._starting}, timeout=STOP_WAIT_SECONDS)
            for task in pending:
                task.cancel()
        if self._runner is not None and self._stop_event is not None:
            self._stop_event.set()
            _, pending = await asyncio.wait({self._runner}, timeout=STOP_WAIT_SECONDS)
            if pending:
                logger.warning("the MCP session manager did not stop in %ss; cancelling it", STOP_WAIT_SECONDS)
                self._runner.cancel()
                await asyncio.wait({self._runner}, timeout=STOP_WAIT_SECONDS)
            self._runner = None
            try:
                await _on_daemon_thread(
                    mcp_sessions_close_orphaned,
                    timeout=SESSIONS_CLOSE_SECONDS,
                    reason="server stopped",
                    current_process=True,
                )
            except TimeoutError:
                logger.warning("this process's MCP sessions were not closed in %ss", SESSIONS_CLOSE_SECONDS)
            except Exception:
                logger.exception("could not close this process's MCP sessions")
        logger.info("MCP gateway stopped")

    # --- requests -----------------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive, send) -> None:
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
        if self._state is not GatewayState.RUNNING and not await self.start():
            reason = "starting" if self._state in (GatewayState.IDLE, GatewayState.STARTING) else "shutting_down"
            await respond_unavailable(receive, send, reason)
            return

        config = config_current()
        ip = client_ip(scope, config.system.trusted_proxy_count)
        user_agent = _header(scope, b"user-agent") or ""

        blocked_for, generation = client_ip_check(ip_address=ip)
        if blocked_for:
            await _drain(receive)
            await _too_many(send, client_ip_blocked_error(ip_address=ip, blocked_for=blocked_for))
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if any(url_key_param(name) for name in query):
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
        # Most requests come from an agent verified moments ago: the cache answers without a thread.
        agent = agent_authenticate_cached(token=token, generation=generation) or await self._authenticate(
            receive, send, token=token, ip=ip, user_agent=user_agent, generation=generation
        )
        if agent is None:
            return  # answered: 401, 429 or 503

        reset = authenticated_request.set((token, agent))
        box: list[Agent | None] | None = [agent] if scope["method"] == "POST" and scope["path"] == "/mcp" else None
        reset_box = request_agent.set(box)
        try:
            await self._dispatch(scope, receive, send, agent=agent, ip=ip, user_agent=user_agent, config=config)
        finally:
            if box is not None:
                box[0] = None
            request_agent.reset(reset_box)
            authenticated_request.reset(reset)

    async def _authenticate(
        self, receive, send, *, token: str, ip: str, user_agent: str, generation: str
    ) -> Agent | None:
        """The agent owning `token`, or None once the request has been answered (401, 429 or 503).

        A token is an attempt, counted against the client address before its key is verified
        (`client_ip_auth_attempt_begin`) and verified within `verification_slots`: a flood of guesses gets at
        most `security.auth_failure_limit` answers from bcrypt, the rest 429, and never takes the threads tool
        calls need. A key this process has verified before is no guess: it is neither counted nor made to
        wait. Nor is a stored key that no longer works (revoked, expired, agent inactive), which is told so."""
        known = agent_key_known(token=token)
        attempt = client_ip_auth_attempt_begin(ip_address=ip, token=token, generation=generation, known=known)
        if attempt.refusal is not None:
            await _drain(receive)
            await _too_many(send, attempt.refusal)
            return None
        if attempt.outcome is AttemptOutcome.FAILED:  # the same guess again: counted and audited once
            AUTH_FAILURES.inc()
            await _drain(receive)
            await _unauthorized(send, AuthFailed("unknown key").detail, error="invalid_token")
            return None
        verify = run_sync if known else functools.partial(verification_slots.run, ip)
        try:
            agent = await verify(
                agent_authenticate, token=token, ip_address=ip, user_agent=user_agent, audit_failure=attempt.first
            )
        except VerificationBusy as busy:
            client_ip_auth_attempt_release(attempt=attempt, end=AttemptEnd.NOT_VERIFIED)
            await _drain(receive)
            status, error = (503, "busy") if busy.whole_process else (429, "too_many_requests")
            retry = str(int(VERIFY_WAIT_SECONDS)).encode()
            await _respond(send, status, {"error": error, "error_description": busy.message}, [(b"retry-after", retry)])
            return None
        except AuthFailed as error:
            AUTH_FAILURES.inc()
            if not error.is_guess:
                client_ip_auth_attempt_release(attempt=attempt, end=AttemptEnd.KEY_FAILED)
            elif await _db(client_ip_auth_failure_record, ip_address=ip, user_agent=user_agent, attempt=attempt):
                IPS_BLOCKED.inc()
            await _drain(receive)
            await _unauthorized(send, error.detail, error="invalid_token")
            return None
        except BaseException:
            client_ip_auth_attempt_release(attempt=attempt, end=AttemptEnd.NOT_VERIFIED)  # the client went away
            raise
        client_ip_auth_attempt_release(attempt=attempt, end=AttemptEnd.AUTHENTICATED)
        return agent

    async def _dispatch(self, scope, receive, send, *, agent: Agent, ip: str, user_agent: str, config) -> None:
        if self._state is GatewayState.STOPPED:  # stopped while this request was being authenticated
            await respond_unavailable(receive, send, "shutting_down")
            return
        if self._apps is None:  # built before the gateway reports itself started
            raise RuntimeError("the gateway serves requests only once built")
        streamable, sse = self._apps
        send = _body_limit_explained(send, self._body_limit)
        path, method = scope["path"], scope["method"]
        opening: dict[str, Any] = {"agent": agent, "ip_address": ip, "user_agent": user_agent}
        if path == "/mcp" or path.startswith("/mcp/"):
            session_id = _header(scope, b"mcp-session-id")
            version = _header(scope, b"mcp-protocol-version")
            if settings.MCP_STATELESS_HTTP or (version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS):
                # A session-less (stateless protocol) client: its session is its run of requests.
                if not await self._touch_or_admit(
                    f"{STATELESS_SESSION_PREFIX}{agent.id}",
                    config,
                    send,
                    receive,
                    transport=Transport.STREAMABLE_HTTP,
                    in_process=False,
                    **opening,
                ):
                    return
                await streamable(scope, receive, send)
            elif session_id is None and method == "POST":
                if not await self._admit(agent, config, send, receive):
                    return
                try:
                    await streamable(scope, receive, self._capture_new_session(send, opening))
                finally:
                    await _db(mcp_session_admission_end, agent_id=agent.id)
            else:
                if session_id and await self._ended_if_idle(session_id, config.global_settings.session_timeout):
                    await _drain(receive)
                    description = (
                        f"session ended: idle longer than {config.global_settings.session_timeout}s "
                        "(global_settings.session_timeout); start a new session"
                    )
                    await _respond(send, 404, {"error": "session_expired", "error_description": description})
                    return
                if session_id:
                    await self._touch(session_id)
                with self._request_in(session_id):
                    status = await _status_of(streamable, scope, receive, send)
                if method == "DELETE" and session_id and status is not None and status < 400:
                    self._activity.pop(session_id, None)
                    self._touched.pop(session_id, None)
                    await _db(mcp_session_close, session_id=session_id, reason="closed by client")
            return
        if path == "/sse" and method == "GET":
            if not await self._admit(agent, config, send, receive):
                return
            await self._serve_sse_stream(sse, scope, receive, send, opening)
            return
        if path.startswith("/messages"):
            session_id = (parse_qs(scope.get("query_string", b"").decode()).get("session_id") or [""])[0]
            if session_id:
                self._sse_activity[session_id] = time.monotonic()
                await self._touch(session_id)
        await sse(scope, receive, send)

    async def _admit(self, agent: Agent, config, send, receive) -> bool:
        """Admit a new session (answered 503 or 429 if not): it counts as a request of the agent (its rate
        limit), against max_concurrent_agents, and against the agent's sessions_per_agent; an admitted one
        holds its place until `mcp_session_admission_end`."""
        try:
            await _db(agent_request_allow, agent_id=agent.id)
            await _db(_stale_sessions_close, idle_timeout=config.global_settings.session_timeout)
            await _db(
                mcp_session_admit,
                agent=agent,
                max_concurrent_agents=config.global_settings.max_concurrent_agents,
                sessions_per_agent=config.system.sessions_per_agent,
            )
        except TooManyAgents as error:
            await _drain(receive)
            await _respond(
                send, 503, {"error": "too_many_agents", "error_description": error.message}, [(b"retry-after", b"60")]
            )
            return False
        except RateLimited as error:
            await _drain(receive)
            await _respond(
                send,
                429,
                {"error": "too_many_requests", "error_description": f"{error.code}: {error.message}"},
                [(b"retry-after", str(error.retry_after).encode())],
            )
            return False
        return True

    async def _touch_or_admit(self, session_id, config, send, receive, *, agent: Agent, **opening: Any) -> bool:
        if session_id in self._touched and time.monotonic() - self._touched[session_id] < TOUCH_INTERVAL.seconds:
            return True

        is_open = await _db(lambda: McpSession.objects.filter(pk=session_id, closed_at__isnull=True).exists())
        if is_open:
            await self._touch(session_id)
            return True
        if not await self._admit(agent, config, send, receive):
            return False
        try:
            await _db(mcp_session_open, session_id=session_id, agent=agent, **opening)
        finally:
            await _db(mcp_session_admission_end, agent_id=agent.id)
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
                    self._touched[session_id] = self._activity[session_id] = time.monotonic()
            await send(message)

        return capturing

    @contextlib.contextmanager
    def _request_in(self, session_id: str | None):
        """A request of a Streamable HTTP session under way: the session is not idle until it ends."""
        if not session_id or session_id not in self._activity:
            yield
            return
        self._in_flight[session_id] = self._in_flight.get(session_id, 0) + 1
        try:
            yield
        finally:
            self._in_flight[session_id] -= 1
            if not self._in_flight[session_id]:
                del self._in_flight[session_id]
            if session_id in self._activity:
                self._activity[session_id] = time.monotonic()

    def _sdk_sessions(self) -> dict[str, Any]:
        """The SDK's open Streamable HTTP sessions of this process, by id."""
        return getattr(self._manager, "_server_instances", None) or {}

    async def _ended_if_idle(self, session_id: str, idle_timeout: int) -> bool:
        """End the session if no request of it has been under way for more than `idle_timeout` seconds (the
        live global_settings.session_timeout); True if it was ended."""
        last = self._activity.get(session_id)
        if last is None or self._in_flight.get(session_id) or time.monotonic() - last <= idle_timeout:
            return False
        await self._session_end(session_id, reason="idle timeout")
        return True

    async def _session_end(self, session_id: str, *, reason: str) -> None:
        self._activity.pop(session_id, None)
        self._touched.pop(session_id, None)
        transport = self._sdk_sessions().get(session_id)
        if transport is not None:
            await transport.terminate()  # its requests get 404; the SDK forgets it as its server task ends
        await _db(mcp_session_close, session_id=session_id, reason=reason)

    async def _sessions_sweep(self, idle_timeout: int) -> None:
        """End this process's Streamable HTTP sessions idle longer than `idle_timeout` seconds (the live
        value); sessions with a request under way are recorded as active."""
        now, open_ids = time.monotonic(), set(self._sdk_sessions())
        for session_id in open_ids - self._activity.keys():
            self._activity[session_id] = now  # none should be unknown; if one is, its idle time starts now
        for session_id, last in list(self._activity.items()):
            if session_id not in open_ids:  # the SDK ended it (its server task ended or crashed)
                self._activity.pop(session_id, None)
                self._touched.pop(session_id, None)
                await _db(mcp_session_close, session_id=session_id, reason="ended by the server")
            elif self._in_flight.get(session_id):
                await self._touch(session_id)
            elif now - last > idle_timeout:
                await self._session_end(session_id, reason="idle timeout")

    async def _serve_sse_stream(self, sse, scope, receive, send, opening: dict) -> None:
        """An SSE stream is the session: recorded when the SDK announces its id (its admission's place is
        given back then), closed when the stream ends, and ended after global_settings.session_timeout seconds
        (the live value) without a message from the client."""

        session: dict[str, str] = {}
        admitted = [True]

        async def admission_end() -> None:
            if admitted[0]:
                admitted[0] = False
                await _db(mcp_session_admission_end, agent_id=opening["agent"].id)

        async def capturing(message: dict) -> None:
            if message["type"] == "http.response.body" and "id" not in session:
                text = message.get("body", b"").decode("utf-8", "replace")
                if "session_id=" in text:
                    session["id"] = text.split("session_id=", 1)[1].split()[0].strip()
                    self._sse_activity[session["id"]] = time.monotonic()
                    await _db(mcp_session_open, session_id=session["id"], transport=Transport.SSE, **opening)
                    await admission_end()
            await send(message)

        stream = asyncio.ensure_future(sse(scope, receive, capturing))
        reason = "disconnected"
        try:
            while not stream.done():
                idle_timeout = config_current().global_settings.session_timeout
                await asyncio.wait({stream}, timeout=min(30.0, idle_timeout / 4))
                idle_timeout = config_current().global_settings.session_timeout
                last = self._sse_activity.get(session.get("id", ""), time.monotonic())
                if not stream.done() and time.monotonic() - last > idle_timeout:
                    reason = "idle timeout"
                    stream.cancel()
                    break
            await asyncio.gather(stream, return_exceptions=True)
        finally:
            await admission_end()
            if "id" in session:
                self._sse_activity.pop(session["id"], None)
                self._touched.pop(session["id"], None)
                # At shutdown stop() closes all of this process's sessions at once, within a bound.
                if self._state not in (GatewayState.DRAINING, GatewayState.STOPPED):
                    await _db(mcp_session_close, session_id=session["id"], reason=reason)


def _stale_sessions_close(*, idle_timeout: int) -> None:
    """Close the sessions that no longer count as open (agents.selectors.mcp_sessions_live): idle longer than
    `idle_timeout` seconds, or held by a process that died. Run before an admission counts an agent's open
    sessions, so that a session its client left without ending never holds a place past its expiry, even
    between sweeps."""
    mcp_sessions_expire(idle_seconds=idle_timeout)
    mcp_sessions_close_orphaned(reason="server restarted")


class VerificationBusy(Exception):
    """No place for a key verification came free in time: for the client's address, or in the whole process."""

    def __init__(self, message: str, *, whole_process: bool):
        super().__init__(message)
        self.message = message
        self.whole_process = whole_process


@dataclasses.dataclass
class _AddressPlaces:
    semaphore: asyncio.Semaphore
    users: int = 0


async def _acquire(semaphore: asyncio.Semaphore, deadline: float) -> bool:
    try:
        async with asyncio.timeout_at(deadline):
            await semaphore.acquire()
    except TimeoutError:
        return False
    return True


class VerificationSlots:
    """Places for key verifications in this process, per client address and in all (asyncio semaphores, one
    set per event loop). A place is given back when the verification ends on its thread, not when its caller
    stops waiting: clients that hang up cannot free places while their bcrypt checks still run."""

    def __init__(self, *, per_address: int, total: int) -> None:
        self.per_address = per_address
        self.total = total
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[asyncio.Semaphore, dict[str, _AddressPlaces]]
        ] = weakref.WeakKeyDictionary()

    async def run(self, ip: str, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        """`fn(**kwargs)` on the MCP threads once `ip` and the process each have a place free, waiting at most
        VERIFY_WAIT_SECONDS (else VerificationBusy)."""
        loop = asyncio.get_running_loop()
        if loop not in self._loops:
            self._loops[loop] = (asyncio.Semaphore(self.total), {})
        total, addresses = self._loops[loop]
        places = addresses.setdefault(ip, _AddressPlaces(asyncio.Semaphore(self.per_address)))
        places.users += 1
        held: list[asyncio.Semaphore] = []

        def give_back(*_: Any) -> None:
            for semaphore in held:
                semaphore.release()
            places.users -= 1
            if not places.users:
                addresses.pop(ip, None)

        try:
            deadline = loop.time() + VERIFY_WAIT_SECONDS
            if not await _acquire(places.semaphore, deadline):
                raise VerificationBusy(
                    f"{self.per_address} key verifications from {ip} are under way; "
                    f"retry in {int(VERIFY_WAIT_SECONDS)}s",
                    whole_process=False,
                )
            held.append(places.semaphore)
            if not await _acquire(total, deadline):
                raise VerificationBusy(
                    f"{self.total} key verifications are under way on this server; "
                    f"retry in {int(VERIFY_WAIT_SECONDS)}s",
                    whole_process=True,
                )
            held.append(total)
            task = asyncio.ensure_future(run_sync(fn, **kwargs))
        except BaseException:
            give_back()
            raise
        task.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved, even if unawaited
        task.add_done_callback(give_back)
        return await asyncio.shield(task)


verification_slots = VerificationSlots(per_address=VERIFICATIONS_PER_ADDRESS, total=VERIFICATIONS_TOTAL)


async def _too_many(send, error: RateLimited) -> None:
    await _respond(
        send,
        429,
        {"error": "too_many_requests", "error_description": error.message},
        [(b"retry-after", str(error.retry_after).encode())],
    )


async def _unauthorized(send, description: str, *, error: str = "invalid_request") -> None:
    challenge = f'Bearer realm="wpublisher", error="{error}", error_description="{description}"'
    await _respond(
        send, 401, {"error": error, "error_description": description}, [(b"www-authenticate", challenge.encode())]
    )


def _body_limit_explained(send, limit: int):
    """`send` for the SDK's apps, whose 413 for a body over `max_request_body_size` is a bare "Request body
    too large": answered instead in the gateway's JSON shape, saying the limit and the setting that sets it."""
    replaced = [False]

    async def sending(message: dict) -> None:
        if message["type"] == "http.response.start" and message["status"] == 413:
            replaced[0] = True
        elif not replaced[0]:
            await send(message)
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            description = (
                f"VALIDATION_ERROR: request body: larger than {limit} bytes, the limit that "
                "limits.max_request_bytes in system.yml sets"
            )
            await _respond(send, 413, {"error": "request_too_large", "error_description": description})

    return sending


async def _status_of(app, scope, receive, send) -> int | None:
    status: dict[str, int] = {}

    async def watching(message: dict) -> None:
        if message["type"] == "http.response.start":
            status["code"] = message["status"]
        await send(message)

    await app(scope, receive, watching)
    return status.get("code")


async def _on_daemon_thread(fn: Callable[..., Any], /, *, timeout: float, **kwargs: Any) -> Any:
    """Run `fn` on a daemon thread of its own and wait at most `timeout` seconds (TimeoutError). For work at
    shutdown: the MCP pool's threads are joined when the interpreter exits, so work stuck there (a busy
    database) would hold the process; a daemon thread is left behind."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    def work() -> None:
        result, error = None, None
        try:
            result = fn(**kwargs)
        except Exception as exc:
            error = exc
        finally:
            connections.close_all()
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="mcp-gateway-stop", daemon=True).start()
    return await asyncio.wait_for(asyncio.shield(future), timeout=timeout)


gateway = McpGateway()
