"""A fault-injecting HTTP reverse proxy in front of one real WordPress site, for `make soak`.

wpublisher's publisher is meant to publish every approved article exactly once whatever WordPress does:
answer 5xx, take longer than the client waits, or refuse a request. A real WordPress does none of that on
demand, so the soak puts this proxy between the publisher and a real site (sites.yml points at the proxy)
and has it misbehave on a share of the requests, as a flaky host, a gateway or an overloaded PHP would:

- `error_share`: answer 500/502/503 with a WordPress-like JSON error. A part of them
  (`error_after_forward`) is forwarded first, so WordPress does the work and only the answer is lost, the
  way a gateway that times out on its upstream answers 502 after the post was saved.
- `timeout_share`: keep the client waiting `hold` seconds, past its timeout, in one of three ways
  ("late": forward only after the hold, so WordPress creates the post after the client gave up, which is
  the hard case for exactly-once; "lost": forward at once and withhold the answer; "drop": close without
  forwarding).
- `create_4xx_share`: refuse a share of post creations (POST .../posts) with 400, before WordPress sees
  them; the publisher must not retry those by itself. `refuse_first_creates` refuses the first few
  creations after the plan is set, so that a short run sees the case at least once.
- `delay`: add this many seconds to every request (a slow site).

Every request is logged (arrival time, method, path, the slug of a post creation, the fault, the statuses)
so the soak can check what the publisher sent, and when. Standard library only; one thread per connection.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# Headers that belong to one connection, not to the message: never passed through.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
# A post creation: POST to the collection itself, not to one post (/posts/123 is an update).
CREATE_PATH = re.compile(r"/wp-json/wp/v2/posts/?$")
UPSTREAM_TIMEOUT = 120.0

ERRORS = {
    500: ("internal_server_error", "There has been a critical error on this website."),
    502: ("http_request_failed", "Bad gateway: the upstream server sent an invalid response."),
    503: ("service_unavailable", "The server is temporarily unable to service your request."),
}
REFUSAL = (
    400,
    "rest_invalid_param",
    "Invalid parameter(s): status",
    {"params": {"status": "status is not one of publish, future, draft, pending, private."}},
)


@dataclass(frozen=True)
class FaultPlan:
    """What share of requests misbehave, and how. Shares are of all requests, except `create_4xx_share`,
    which is of post creations; `error_after_forward` and `timeout_modes` split the faults they name."""

    error_share: float = 0.0
    error_after_forward: float = 0.3
    timeout_share: float = 0.0
    timeout_modes: tuple[str, ...] = ("late", "lost", "drop")
    hold: float = 6.0
    create_4xx_share: float = 0.0
    refuse_first_creates: int = 0
    delay: float = 0.0

    def describe(self) -> str:
        parts = []
        if self.error_share:
            parts.append(f"{self.error_share:.0%} 5xx ({self.error_after_forward:.0%} of them after forwarding)")
        if self.timeout_share:
            parts.append(f"{self.timeout_share:.0%} held {self.hold:g}s ({'/'.join(self.timeout_modes)})")
        if self.create_4xx_share or self.refuse_first_creates:
            first = f" (and the first {self.refuse_first_creates})" if self.refuse_first_creates else ""
            parts.append(f"{self.create_4xx_share:.0%} of creates refused 400{first}")
        if self.delay:
            parts.append(f"+{self.delay:g}s per request")
        return ", ".join(parts) or "pass-through"


PASS_THROUGH = FaultPlan()


@dataclass
class LogEntry:
    """One request as the proxy saw it. `t` is time.time() at arrival, the clock the soak records its own
    actions with."""

    t: float
    method: str
    path: str
    slug: str | None = None  # of a post creation
    fault: str = "none"
    upstream_status: int | None = None  # None: not forwarded, or WordPress did not answer
    sent_status: int | None = None  # None: no answer sent (held until the client left, or dropped)
    duration: float = 0.0
    error: str = ""

    @property
    def is_create(self) -> bool:
        return self.method == "POST" and bool(CREATE_PATH.search(self.path))

    def as_json(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "method": self.method,
            "path": self.path,
            "slug": self.slug,
            "fault": self.fault,
            "upstream_status": self.upstream_status,
            "sent_status": self.sent_status,
            "duration": round(self.duration, 3),
            "error": self.error,
        }


@dataclass
class ProxyState:
    plan: FaultPlan = PASS_THROUGH
    log: list[LogEntry] = field(default_factory=list)
    in_flight: int = 0
    creates: int = 0  # post creations since the plan was set
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=random.Random)


class FaultProxy:
    """The proxy for one upstream base URL (scheme://host:port). `start()` binds 127.0.0.1 on a free port;
    `url_for(api_url)` is the site's api_url through the proxy. The plan can be changed at any time."""

    def __init__(self, upstream: str, *, name: str, seed: int | None = None):
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, not {upstream!r}")
        self.name = name
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.state = ProxyState(rng=random.Random(seed))  # noqa: S311 - fault draws, not secrets
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control ----------------------------------------------------------------------------------------

    @property
    def plan(self) -> FaultPlan:
        return self.state.plan

    @plan.setter
    def plan(self, plan: FaultPlan) -> None:
        with self.state.lock:
            self.state.plan = plan
            self.state.creates = 0

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        return self._server.server_address[1]

    def url_for(self, api_url: str) -> str:
        """`api_url` of the upstream site, through this proxy."""
        parts = urlsplit(api_url)
        return parts._replace(netloc=f"127.0.0.1:{self.port}").geturl()

    def start(self) -> int:
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"faultproxy-{self.name}", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def entries(self, since: float = 0.0) -> list[LogEntry]:
        with self.state.lock:
            return [entry for entry in self.state.log if entry.t >= since]

    @property
    def in_flight(self) -> int:
        return self.state.in_flight

    # --- one request ------------------------------------------------------------------------------------

    def _choose(self, entry: LogEntry) -> tuple[FaultPlan, str]:
        """The plan in force and the fault for this request: drawn once, under the lock, so that a run with
        a seed and one client thread repeats itself."""
        with self.state.lock:
            plan, rng = self.state.plan, self.state.rng
            draw = rng.random()
            if entry.is_create:
                self.state.creates += 1
                if self.state.creates <= plan.refuse_first_creates or rng.random() < plan.create_4xx_share:
                    return plan, "4xx"
            if draw < plan.error_share:
                return plan, "5xx-after" if rng.random() < plan.error_after_forward else "5xx"
            if draw < plan.error_share + plan.timeout_share:
                return plan, rng.choice(plan.timeout_modes)
            return plan, "delay" if plan.delay else "none"

    def _error_status(self) -> int:
        with self.state.lock:
            return self.state.rng.choice(sorted(ERRORS))

    def _forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=UPSTREAM_TIMEOUT)
        try:
            out = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() != "host"]
            out.append(("Host", f"{self.upstream_host}:{self.upstream_port}"))
            if body:
                out.append(("Content-Length", str(len(body))))
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for key, value in out:
                connection.putheader(key, value)
            connection.endheaders(body or None)
            response = connection.getresponse()
            data = response.read()
            return response.status, [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP], data
        finally:
            connection.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away between two requests of a kept-alive connection (a worker SIGKILLed by
        the soak) is ordinary here; anything else is printed as the base class does."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    proxy: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """The proxy keeps its own log (FaultProxy.entries); nothing on stderr."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        entry = LogEntry(t=time.time(), method=self.command, path=self.path.split("?", 1)[0])
        if entry.is_create:
            entry.slug = _slug_of(body)
        state = self.proxy.state
        with state.lock:
            state.log.append(entry)
            state.in_flight += 1
        try:
            self._serve(entry, body)
        except Exception as error:  # a proxy bug must show in the log, not kill the thread silently
            entry.error = entry.error or f"{type(error).__name__}: {error}"
            self.close_connection = True
        finally:
            entry.duration = time.monotonic() - started
            with state.lock:
                state.in_flight -= 1

    def _serve(self, entry: LogEntry, body: bytes) -> None:
        plan, fault = self.proxy._choose(entry)
        entry.fault = fault
        if plan.delay:
            time.sleep(plan.delay)
        headers = list(self.headers.items())
        if fault == "4xx":
            status, code, message, data = REFUSAL
            self._answer_error(entry, status, code, message, data)
        elif fault == "5xx":
            self._answer_error(entry, self.proxy._error_status())
        elif fault == "5xx-after":
            entry.upstream_status = self._forward(entry, headers, body)[0]
            self._answer_error(entry, self.proxy._error_status())
        elif fault == "late":
            time.sleep(plan.hold)
            status, response_headers, data = self._forward(entry, headers, body)
            self._answer(entry, status, response_headers, data)  # the client is gone by now, most likely
        elif fault == "lost":
            status, response_headers, data = self._forward(entry, headers, body)
            time.sleep(plan.hold)
            self._answer(entry, status, response_headers, data)
        elif fault == "drop":
            time.sleep(plan.hold)
            self.close_connection = True
        else:
            status, response_headers, data = self._forward(entry, headers, body)
            self._answer(entry, status, response_headers, data)

    def _forward(self, entry: LogEntry, headers: list[tuple[str, str]], body: bytes) -> tuple[int, list, bytes]:
        try:
            status, response_headers, data = self.proxy._forward(self.command, self.path, headers, body)
        except (OSError, http.client.HTTPException) as error:
            entry.error = f"upstream: {type(error).__name__}: {error}"
            return 502, [("Content-Type", "application/json")], _error_body(502, *ERRORS[502])
        entry.upstream_status = status
        return status, response_headers, data

    def _answer_error(self, entry: LogEntry, status: int, code: str = "", message: str = "", data: dict | None = None):
        if not code:
            code, message = ERRORS[status]
        self._answer(
            entry,
            status,
            [("Content-Type", "application/json; charset=UTF-8")],
            _error_body(status, code, message, data),
        )

    def _answer(self, entry: LogEntry, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        try:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            entry.sent_status = status
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            entry.error = entry.error or "client gone before the answer"
            self.close_connection = True


def _error_body(status: int, code: str, message: str, data: dict | None = None) -> bytes:
    return json.dumps({"code": code, "message": message, "data": {"status": status, **(data or {})}}).encode()


def _slug_of(body: bytes) -> str | None:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return None
    slug = payload.get("slug") if isinstance(payload, dict) else None
    return slug if isinstance(slug, str) else None
