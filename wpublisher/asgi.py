"""The ASGI application served by daphne: Django, the MCP endpoints (/mcp, /sse, /messages/), and the
console's websocket (/ws/console/, Channels).

Importing it loads and syncs the configuration and starts watching the config files, so the web
process is the one that keeps the database in step with the YAML.

Shutdown (SIGTERM, Ctrl-C) drains instead of dropping work: new MCP requests get 503 with Retry-After,
requests under way (tool calls, console pages) get up to DRAIN_TIMEOUT to finish and send their answers,
then open streams (SSE, Streamable HTTP GET streams, console websockets) are closed and the MCP session
manager stops. Under daphne that happens in a Twisted "before shutdown" trigger, registered here so that it
runs before daphne's own, which cancels every connection at once: `GracefulApplication` holds those
cancellations back while the drain runs. Under uvicorn the same sequence starts when uvicorn's server is
told to exit (it stops accepting then, so there is no 503 to give), instead of sse_starlette ending every
SSE response at once, a tool call's answer stream included.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wpublisher.settings")
django.setup()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.db import connections  # noqa: E402
from django.urls import path  # noqa: E402

from configuration.reload import config_reload  # noqa: E402
from configuration.watcher import config_watch_start  # noqa: E402
from console.consumers import ConsoleConsumer  # noqa: E402
from core.events import console_events_served_here  # noqa: E402
from mcp_bridge.asgi import GatewayState, McpGateway, gateway, is_mcp_path, respond_unavailable  # noqa: E402

logger = logging.getLogger(__name__)

# Requests under way at shutdown (tool calls, with their answers) get this long to finish. `manage.py serve`
# waits STOP_TIMEOUT (15 s) for the process: this, plus CLOSE_TIMEOUT and the session manager's stop (about
# 4 s at worst), has to fit in it.
DRAIN_TIMEOUT = 10.0
# After the drain, the connections still open (streams, requests past the deadline) get this long to end
# once cancelled.
CLOSE_TIMEOUT = 2.0
# Over SSE a tool call's answer is written to the session's stream a few steps after the call returns: the
# streams stay open this much longer once no call is running.
STREAM_FLUSH_SECONDS = 0.2
# The code of the websocket.disconnect a console's consumer receives when the shutdown closes it ("service
# restart"). No close frame is sent: daphne (autobahn) lets an application close with 1000 or 3000-4999
# only, and htmx's ws extension reconnects after 1006, 1011, 1012 or 1013, so the browser, which sees 1006
# when the process closes the connection, reconnects (to the restarted server) with backoff.
WS_SERVICE_RESTART = 1012
POLL_SECONDS = 0.02
# How often the drain's start is looked for under uvicorn (its own main loop looks every 0.1 s).
UVICORN_WATCH_SECONDS = 0.1

django_application = get_asgi_application()

config_reload(sync=True)
config_watch_start(settings.CONFIG_DIR, sync=True)
console_events_served_here()
connections.close_all()  # this thread serves no request: its connection would idle (or hold a pool slot)


async def http_application(scope, receive, send) -> None:
    if is_mcp_path(scope["path"]):
        await gateway(scope, receive, send)
    else:
        await django_application(scope, receive, send)


websocket_application = AllowedHostsOriginValidator(
    AuthMiddlewareStack(URLRouter([path("ws/console/", ConsoleConsumer.as_asgi())]))
)


def _is_stream(scope: dict) -> bool:
    """Connections that last as long as the client stays (they have no end of their own to wait for)."""
    if scope["type"] == "websocket":
        return True
    return scope["method"] == "GET" and scope["path"] in ("/sse", "/mcp")


class _Connection:
    """One connection being served: its task, and enough of its response to end it cleanly."""

    __slots__ = ("closing", "ended", "hangup", "scope", "started", "stream", "task")

    def __init__(self, scope: dict) -> None:
        self.scope = scope
        self.stream = _is_stream(scope)
        self.task: asyncio.Task | None = None
        self.started = False  # HTTP: the response has begun
        self.ended = False  # HTTP: the response is complete
        self.closing = False  # ended by the shutdown (not an error)
        self.hangup: asyncio.Future | None = None  # websocket: set to make the consumer see a disconnect

    @property
    def finished(self) -> bool:
        """Whether its task ended (a connection is listed only once its task runs)."""
        return self.task is not None and self.task.done()


class GracefulApplication:
    """Runs each connection of `app` in a task of its own, so that a shutdown can let it finish while
    daphne's "cancel every application" is held back, end it cleanly (the last chunk of a streamed
    response; for a websocket, a disconnect its consumer handles as usual) and know when all are done."""

    def __init__(self, app, mcp_gateway: McpGateway) -> None:
        self.app = app
        self.gateway = mcp_gateway
        self.shutting_down = False  # draining: requests under way go on, new MCP requests get 503
        self.closed = False  # drained: every new connection is refused at once
        self._connections: set[_Connection] = set()
        self._shutdown: asyncio.Task | None = None
        self._uvicorn_watch: asyncio.Task | None = None

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self.closed or (self.shutting_down and scope["type"] == "websocket"):
            await _refuse(scope, receive, send)
            return
        connection = _Connection(scope)
        if scope["type"] == "http" and scope["method"] == "GET":
            send = self._watching(connection, send)  # a stream's response, or a streamed Django response
        elif scope["type"] == "websocket":
            receive = self._hangable(connection, receive)
        task = asyncio.ensure_future(self.app(scope, receive, send))
        connection.task = task
        self._connections.add(connection)
        try:
            while True:
                try:
                    await asyncio.shield(task)
                    break
                except asyncio.CancelledError:
                    if task.cancelled():
                        if connection.closing:
                            break
                        raise
                    if not self.shutting_down:  # daphne gave up on a client that went away
                        if not task.done():
                            task.cancel()
                            await asyncio.wait({task})
                        raise
                    # daphne cancels every connection when its shutdown starts; the drain ends this one.
                    current = asyncio.current_task()
                    if current is not None:
                        current.uncancel()
            if connection.closing:
                await self._finish(connection, send)
        finally:
            self._connections.discard(connection)

    @staticmethod
    def _watching(connection: _Connection, send):
        async def watching(message: dict) -> None:
            if message["type"] == "http.response.start":
                connection.started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                connection.ended = True
            await send(message)

        return watching

    @staticmethod
    def _hangable(connection: _Connection, receive):
        """A websocket's `receive` that the shutdown can answer with a disconnect, so that the consumer
        leaves its groups as when the browser goes away."""
        connection.hangup = asyncio.get_running_loop().create_future()
        hangup = connection.hangup

        async def receiving() -> dict:
            if not hangup.done():
                message = asyncio.ensure_future(receive())
                try:
                    await asyncio.wait({message, hangup}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not message.done():
                        message.cancel()
                if not message.cancelled():
                    return message.result()
            return {"type": "websocket.disconnect", "code": WS_SERVICE_RESTART}

        return receiving

    @staticmethod
    async def _finish(connection: _Connection, send) -> None:
        """End an HTTP response the shutdown cancelled with its last chunk, so that the client sees the
        stream end rather than a broken connection."""
        if connection.scope["type"] != "http" or not connection.started or connection.ended:
            return
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception:  # the client is gone already
            logger.debug("could not end %s cleanly", connection.scope.get("path"), exc_info=True)

    def shutdown_begin(self) -> asyncio.Task:
        """Start the shutdown (once) and return it. The first steps are synchronous: when daphne's own
        shutdown trigger cancels every connection right after this one, they are held back already."""
        if self._shutdown is None:
            self.shutting_down = True
            self.gateway.drain_begin()
            self._shutdown = asyncio.ensure_future(self._shutdown_run())
        return self._shutdown

    async def _shutdown_run(self) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        # 1. Requests under way finish: HTTP requests (an MCP POST carries its tool call's answer) and the
        # tool calls of SSE sessions, whose answers go out on their streams.
        under_way = {c for c in self._connections if not c.stream}
        while loop.time() - began < DRAIN_TIMEOUT:
            under_way = {c for c in under_way if not c.finished}
            if not under_way and not self.gateway.calls_in_flight:
                break
            await asyncio.sleep(POLL_SECONDS)
        else:
            logger.warning(
                "shutdown: %d requests and %d tool calls still running after %ss; cancelling them",
                len(under_way),
                self.gateway.calls_in_flight,
                DRAIN_TIMEOUT,
            )
        if any(c.stream and c.scope["type"] == "http" for c in self._connections):
            await asyncio.sleep(STREAM_FLUSH_SECONDS)
        drained = loop.time() - began
        # 2. Close what is still open: streams (SSE, Streamable HTTP GET, websockets) and anything past the
        # deadline. From here on new connections are refused without being served.
        self.closed = True
        remaining = [c for c in self._connections if not c.finished]
        for connection in remaining:
            connection.closing = True
            if connection.hangup is not None:  # a websocket: its consumer ends as on a disconnect
                connection.hangup.set_result(None)
            elif connection.task is not None:
                connection.task.cancel()
        if remaining:
            _, stuck = await asyncio.wait({c.task for c in remaining if c.task is not None}, timeout=CLOSE_TIMEOUT)
            for task in stuck:
                task.cancel()
            if stuck:
                logger.warning("shutdown: %d connections did not end in %ss", len(stuck), CLOSE_TIMEOUT)
        # 3. The session manager: nothing reaches it any more.
        await self.gateway.stop()
        # The connections closed in step 2 end once they have sent their last chunk (a loop turn or two):
        # none must be left running when the loop stops.
        closed_by = loop.time() + CLOSE_TIMEOUT
        while self._connections and loop.time() < closed_by:
            await asyncio.sleep(POLL_SECONDS)
        logger.info(
            "shutdown: drained in %.1fs, closed %d connections, done in %.1fs (%d still open)",
            drained,
            len(remaining),
            loop.time() - began,
            len(self._connections),
        )

    async def _lifespan(self, receive, send) -> None:
        """uvicorn: start the session manager before serving, and drain from the moment uvicorn is told to
        exit; the lifespan shutdown (uvicorn has waited for its connections) finishes that drain."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                started = await self.gateway.start()
                if not started and self.gateway.state is GatewayState.IDLE:
                    await send({"type": "lifespan.startup.failed", "message": "the MCP server did not start"})
                    return
                self._watch_uvicorn()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown_begin()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _watch_uvicorn(self) -> None:
        """uvicorn waits for the connections under way before its lifespan shutdown, but sse_starlette ends
        every SSE response (over Streamable HTTP, a tool call's answer is one) as soon as uvicorn is told to
        exit. So: watch uvicorn's server ourselves, as sse_starlette does (its SIGTERM handler is a bound
        method of it), drain from that moment, and turn sse_starlette's own ending off; the drain ends the
        streams that remain."""
        server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
        if server is None or not hasattr(server, "should_exit") or self._uvicorn_watch is not None:
            return
        from sse_starlette.sse import AppStatus

        AppStatus.disable_automatic_graceful_drain()

        async def watch() -> None:
            while not server.should_exit:
                await asyncio.sleep(UVICORN_WATCH_SECONDS)
            self.shutdown_begin()

        self._uvicorn_watch = asyncio.get_running_loop().create_task(watch())


async def _refuse(scope: dict, receive, send) -> None:
    """A connection that arrives once the shutdown has closed everything (or a websocket during it)."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close"})  # before the handshake completes: refused (403)
    elif scope["type"] == "http":
        await respond_unavailable(receive, send, "shutting_down")


def _drain_on_twisted_shutdown(app: GracefulApplication) -> None:
    """Under daphne (Twisted's asyncio reactor), run the shutdown in a "before shutdown" trigger: Twisted
    waits for it before it closes the connections and stops the loop. Registered at import, before daphne
    registers its own trigger (which cancels every connection), so that this one runs first."""
    reactor: Any = sys.modules.get("twisted.internet.reactor")
    if reactor is None:
        return
    from twisted.internet.defer import Deferred

    if reactor.running:
        logger.warning("the reactor runs already: daphne's shutdown may cancel requests before they drain")

    def on_shutdown() -> Deferred:
        logger.info("shutting down: draining (at most %ss)", DRAIN_TIMEOUT)
        started = time.monotonic()
        task = app.shutdown_begin()
        task.add_done_callback(lambda _: logger.info("shut down in %.1fs", time.monotonic() - started))
        return Deferred.fromFuture(task)

    reactor.addSystemEventTrigger("before", "shutdown", on_shutdown)


application = GracefulApplication(
    ProtocolTypeRouter({"http": http_application, "websocket": websocket_application}), gateway
)
_drain_on_twisted_shutdown(application)
