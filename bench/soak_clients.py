"""The clients of `make soak`: agents speaking MCP over Streamable HTTP, and a reviewer using the console.

The agents are a lean JSON-RPC client over httpx2 rather than the SDK's `Client`: the soak has to see every
HTTP answer as it was (a 503 while the web process restarts, a 404 for a session the restart ended, a
refused connection) and time each call on its own, where the SDK turns all of that into one exception
and retries some of it by itself. The reviewer logs in through the login form and approves, rejects and
retries through the console's own endpoints (the forms a person submits), reading the queue through the
reviewers' JSON API with the same session.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx2

PROTOCOL_VERSION = "2025-11-25"
ACCEPT = "application/json, text/event-stream"
CALL_TIMEOUT = 60.0


# --- What the clients saw -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One HTTP exchange of a client: an MCP tool call (or handshake) or a console/API request.

    `outcome`: "ok"; "tool_error" (the tool answered isError, `error` holds its code); "rpc_error";
    "http_<status>" for a non-2xx answer; "connect" (refused: nothing listens), "timeout", "transport"
    (a connection reset or a malformed answer)."""

    t: float  # time.time() when it was sent
    phase: str
    client: str
    tool: str
    ms: float
    status: int | None
    outcome: str
    error: str = ""


@dataclass
class Recorder:
    """Every call of every client, in memory (a 30-minute soak makes about 100k)."""

    calls: list[Call] = field(default_factory=list)
    phase: str = "setup"

    def add(self, **fields: Any) -> Call:
        call = Call(phase=self.phase, **fields)
        self.calls.append(call)
        return call

    def of(self, phase: str) -> list[Call]:
        return [c for c in self.calls if c.phase == phase]


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def status_counts(calls: list[Call]) -> dict[str, int]:
    return dict(Counter(c.outcome for c in calls))


class TransportFailure(Exception):
    """No usable answer: `outcome` says why (see Call)."""

    def __init__(self, outcome: str, status: int | None = None, detail: str = ""):
        super().__init__(f"{outcome} {detail}".strip())
        self.outcome, self.status, self.detail = outcome, status, detail


class ToolFailed(Exception):
    """The tool ran and refused: `code` is the stable error code (VALIDATION_ERROR, ...)."""

    def __init__(self, code: str, text: str):
        super().__init__(text)
        self.code = code


# --- MCP agents ---------------------------------------------------------------------------------------------


def _sse_messages(text: str) -> list[dict]:
    """The JSON-RPC messages of an SSE body (`data:` lines, events separated by blank lines)."""
    messages, data = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line.strip() and data:
            with contextlib.suppress(ValueError):  # not a message: skipped
                messages.append(json.loads("\n".join(data)))
            data = []
    return messages


class McpAgent:
    """One agent: its key, its own HTTP connection pool and MCP session. `call()` makes one tool call and
    records it; a session the server forgot (404) or a server that is away is the caller's to handle
    (`call_retrying`)."""

    _ids = itertools.count(1)

    def __init__(self, *, base_url: str, agent_id: str, key: str, recorder: Recorder):
        self.agent_id = agent_id
        self.url = f"{base_url}/mcp"
        self.recorder = recorder
        self.http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {key}", "Accept": ACCEPT}, timeout=CALL_TIMEOUT
        )
        self.session_id: str | None = None

    async def aclose(self) -> None:
        if self.session_id:
            with contextlib.suppress(httpx2.HTTPError):  # a server going away ends its sessions itself
                await self.http.delete(self.url, headers=self._session_headers(), timeout=5)
            self.session_id = None
        await self.http.aclose()

    def _session_headers(self) -> dict[str, str]:
        headers = {"mcp-protocol-version": PROTOCOL_VERSION}
        if self.session_id:
            headers["mcp-session-id"] = self.session_id
        return headers

    async def _post(self, payload: dict, *, label: str) -> tuple[httpx2.Response, float, float]:
        sent = time.time()
        started = time.perf_counter()
        try:
            response = await self.http.post(self.url, json=payload, headers=self._session_headers())
        except httpx2.ConnectError as error:
            self._record(sent, started, label, None, "connect", str(error)[:200])
            raise TransportFailure("connect", detail=str(error)[:200]) from None
        except httpx2.TimeoutException as error:
            self._record(sent, started, label, None, "timeout", type(error).__name__)
            raise TransportFailure("timeout") from None
        except httpx2.HTTPError as error:
            self._record(sent, started, label, None, "transport", f"{type(error).__name__}: {error}"[:200])
            raise TransportFailure("transport", detail=str(error)[:200]) from None
        return response, sent, started

    def _record(self, sent: float, started: float, tool: str, status: int | None, outcome: str, error: str = ""):
        ms = (time.perf_counter() - started) * 1000
        self.recorder.add(t=sent, client=self.agent_id, tool=tool, ms=ms, status=status, outcome=outcome, error=error)

    async def connect(self) -> None:
        """initialize, then notifications/initialized: a new session."""
        self.session_id = None
        payload = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "wpublisher-soak", "version": "1"},
            },
        }
        response, sent, started = await self._post(payload, label="initialize")
        if response.status_code != 200:
            self._record(sent, started, "initialize", response.status_code, f"http_{response.status_code}")
            raise TransportFailure(f"http_{response.status_code}", response.status_code, response.text[:200])
        self._rpc_result(response, payload["id"], sent, started, "initialize")
        self.session_id = response.headers.get("mcp-session-id")
        if not self.session_id:
            raise TransportFailure("transport", 200, "initialize answered without an mcp-session-id")
        notified, sent, started = await self._post(
            {"jsonrpc": "2.0", "method": "notifications/initialized"}, label="initialized"
        )
        if notified.status_code >= 300:
            self._record(sent, started, "initialized", notified.status_code, f"http_{notified.status_code}")
            raise TransportFailure(f"http_{notified.status_code}", notified.status_code)

    def _rpc_result(self, response: httpx2.Response, request_id: int, sent: float, started: float, label: str):
        """The JSON-RPC result for `request_id` (JSON or SSE body); records the call."""
        content_type = response.headers.get("content-type", "")
        try:
            messages = _sse_messages(response.text) if "event-stream" in content_type else [response.json()]
        except ValueError:
            messages = []
        message = next((m for m in messages if isinstance(m, dict) and m.get("id") == request_id), None)
        if message is None:
            self._record(sent, started, label, response.status_code, "transport", "no JSON-RPC answer")
            raise TransportFailure("transport", response.status_code, "no JSON-RPC answer in the body")
        if "error" in message:
            error = message["error"]
            self._record(sent, started, label, response.status_code, "rpc_error", str(error.get("message"))[:200])
            raise ToolFailed("RPC_ERROR", str(error.get("message")))
        result = message.get("result") or {}
        if result.get("isError"):
            text = " ".join(c.get("text", "") for c in result.get("content", []) if isinstance(c, dict))
            code = text.split(":", 1)[0].strip() or "TOOL_ERROR"
            self._record(sent, started, label, response.status_code, "tool_error", code)
            raise ToolFailed(code, text)
        self._record(sent, started, label, response.status_code, "ok")
        return result

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """One tools/call; returns its structured result (the JSON the tool returned)."""
        if self.session_id is None:
            await self.connect()
        payload = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        response, sent, started = await self._post(payload, label=tool)
        if response.status_code != 200:
            self._record(sent, started, tool, response.status_code, f"http_{response.status_code}")
            if response.status_code == 404:
                self.session_id = None  # the server no longer knows this session (it restarted)
            raise TransportFailure(f"http_{response.status_code}", response.status_code, response.text[:200])
        result = self._rpc_result(response, payload["id"], sent, started, tool)
        structured = result.get("structuredContent")
        if isinstance(structured, dict):
            return structured
        text = "".join(c.get("text", "") for c in result.get("content", []) if isinstance(c, dict))
        return json.loads(text) if text else {}

    async def call_retrying(self, tool: str, arguments: dict[str, Any], *, deadline: float) -> dict[str, Any]:
        """`call`, again after a transport failure or a 5xx, on a new session when the old one is gone,
        until `deadline` (time.monotonic()). For writes, `arguments` must carry an idempotency_key: a retry
        after a lost answer then returns the first write's result."""
        pause = 0.2
        while True:
            try:
                return await self.call(tool, arguments)
            except TransportFailure as failure:
                if time.monotonic() + pause >= deadline:
                    raise
                if failure.outcome in ("connect", "timeout", "transport") or (failure.status or 0) >= 500:
                    self.session_id = None
                await asyncio.sleep(pause)
                pause = min(2.0, pause * 2)


# --- The reviewer -------------------------------------------------------------------------------------------

_PASSWORD_LINE = re.compile(r"password \(shown once\): (\S+)")


def reviewer_password(init_output: str) -> str:
    """The password `manage.py init --reviewer` printed."""
    match = _PASSWORD_LINE.search(init_output)
    if not match:
        raise RuntimeError(f"manage.py init printed no reviewer password:\n{init_output[-2000:]}")
    return match.group(1)


class Reviewer:
    """A person at the console: logged in with the session cookie and CSRF token, acting through the
    console's forms (`articles/<id>/action`, `articles/batch`) and reading through /api/."""

    def __init__(self, *, base_url: str, username: str, password: str, recorder: Recorder):
        self.base_url = base_url
        self.username, self.password = username, password
        self.recorder = recorder
        self.http = httpx2.AsyncClient(base_url=base_url, timeout=CALL_TIMEOUT, follow_redirects=False)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _request(self, method: str, path: str, label: str, **kwargs: Any) -> httpx2.Response:
        sent, started = time.time(), time.perf_counter()
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx2.ConnectError as error:
            self._record(sent, started, label, None, "connect", str(error)[:200])
            raise TransportFailure("connect") from None
        except httpx2.TimeoutException:
            self._record(sent, started, label, None, "timeout")
            raise TransportFailure("timeout") from None
        except httpx2.HTTPError as error:
            self._record(sent, started, label, None, "transport", str(error)[:200])
            raise TransportFailure("transport") from None
        ok = response.status_code < 400
        self._record(sent, started, label, response.status_code, "ok" if ok else f"http_{response.status_code}")
        if response.status_code >= 400:
            raise TransportFailure(f"http_{response.status_code}", response.status_code, response.text[:300])
        return response

    def _record(self, sent: float, started: float, label: str, status: int | None, outcome: str, error: str = ""):
        ms = (time.perf_counter() - started) * 1000
        self.recorder.add(t=sent, client="reviewer", tool=label, ms=ms, status=status, outcome=outcome, error=error)

    def _csrf(self) -> str:
        token = self.http.cookies.get("csrftoken")
        if not token:
            raise RuntimeError("no CSRF cookie: log in first")
        return token

    async def login(self) -> None:
        """The login form, as a browser fills it: GET for the CSRF cookie, POST the credentials."""
        self.http.cookies.clear()
        await self._request("GET", "/login/", "console:login-form")
        response = await self._request(
            "POST",
            "/login/",
            "console:login",
            data={"username": self.username, "password": self.password, "csrfmiddlewaretoken": self._csrf()},
        )
        if response.status_code != 302 or "sessionid" not in self.http.cookies:
            raise RuntimeError(f"console login failed (HTTP {response.status_code})")

    async def articles(self, *, search: str, status: str | None = None) -> list[dict]:
        """Every article matching `search` (and `status`), through /api/articles, 100 a page."""
        found: list[dict] = []
        for offset in itertools.count(0, 100):
            params: dict[str, Any] = {"search": search, "limit": 100, "offset": offset}
            if status:
                params["status"] = status
            page = (await self._request("GET", "/api/articles", "api:list", params=params)).json()
            found.extend(page)
            if len(page) < 100:
                return found
        return found

    async def article(self, article_id: int) -> dict:
        return (await self._request("GET", f"/api/articles/{article_id}", "api:get")).json()

    async def _form(self, path: str, label: str, fields: dict[str, str | list[str]]) -> httpx2.Response:
        token = self._csrf()
        return await self._request(
            "POST", path, label, data={**fields, "csrfmiddlewaretoken": token}, headers={"X-CSRFToken": token}
        )

    async def approve(self, article: dict) -> None:
        await self._form(
            f"/articles/{article['id']}/action",
            "console:approve",
            {"action": "approve", "revision": str(article["revision"]), "reviewer_notes": "soak: fine"},
        )

    async def reject(self, article: dict) -> None:
        await self._form(
            f"/articles/{article['id']}/action",
            "console:reject",
            {"action": "reject", "revision": str(article["revision"]), "rejection_reason": "soak: not this one"},
        )

    async def retry(self, article_id: int) -> None:
        await self._form(f"/articles/{article_id}/action", "console:retry", {"action": "retry"})

    async def batch(self, action: str, articles: list[dict], reason: str = "") -> None:
        """The queue's batch form: each article at the revision the reviewer read ("<id>:<revision>")."""
        fields: dict[str, str | list[str]] = {
            "action": action,
            "article": [f"{a['id']}:{a['revision']}" for a in articles],
        }
        if reason:
            fields["rejection_reason"] = reason
        await self._form("/articles/batch", f"console:batch-{action}", fields)
