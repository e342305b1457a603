"""A small in-memory WordPress REST API on a real socket, for unit tests of the client and the pipeline.

It answers the calls wpublisher makes (users/me, categories, tags, posts) like WordPress does, and can
be told to fail the next calls of a route (status, body, or a delay longer than the client's timeout).
The real WordPress tests prove the same behaviour against WordPress itself; this one reaches the edge
cases WordPress will not produce on demand.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PREFIX = "/wp-json/wp/v2"


@dataclass
class Failure:
    status: int = 503
    body: dict | None = None
    delay: float = 0.0
    # A slow WordPress: after `delay` the request is carried out as usual (the client may have given up).
    lands: bool = False


class FakeWordPress:
    def __init__(self, *, username: str = "publisher", password: str = "abcd efgh ijkl mnop qrst uvwx"):
        self.username, self.password = username, password
        self.posts: list[dict] = []
        self.terms: dict[str, list[dict]] = {
            "categories": [{"id": 1, "name": "Uncategorized", "slug": "uncategorized"}],
            "tags": [],
        }
        self.failures: dict[tuple[str, str], list[Failure]] = defaultdict(list)
        self.calls: list[tuple[str, str]] = []
        self.user_agents: set[str] = set()
        self.client_ports: list[int] = []  # the client side of each request's connection
        self._next_id = 100
        # Settings > General's time zone, as the REST index (`/wp-json/`) gives it.
        self.timezone_string: str = ""
        self.gmt_offset: float | str = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{PREFIX}"

    def start(self) -> FakeWordPress:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, method: str, route: str, *failures: Failure) -> None:
        """The next calls of `method route` (e.g. "POST", "/posts") fail as given, in order."""
        self.failures[(method, route)].extend(failures)

    def count(self, method: str, route: str) -> int:
        return sum(1 for call in self.calls if call == (method, route))

    # --- the API ---------------------------------------------------------------------------------------

    def _settle_slug(self, post: dict) -> None:
        """What WordPress does with a slug: drafts keep the one they were given, even if taken; a post made
        public gets a free one (a taken slug is suffixed), named after its title when it has none (ASCII
        titles only: WordPress's `sanitize_title` percent-encodes the rest)."""
        if post.get("status", "draft") not in ("draft", "pending"):
            if not post.get("slug"):
                post["slug"] = re.sub(r"[^a-z0-9]+", "-", html.unescape(post.get("title", "")).lower()).strip("-")
            while any(p["slug"] == post["slug"] and p["id"] != post["id"] for p in self.posts):
                post["slug"] += "-2"
        post["link"] = f"http://wp.test/{post['slug']}/"

    def untrashed(self) -> list[dict]:
        return [p for p in self.posts if p["status"] != "trash"]

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def handle(self, method: str, route: str, query: dict, body: dict | None, authorized: bool) -> tuple[int, object]:
        if route == "/users/me":
            if not authorized:
                return 401, {
                    "code": "rest_not_logged_in",
                    "message": "You are not currently logged in.",
                    "data": {"status": 401},
                }
            return 200, {"id": 1, "name": "Publisher", "slug": self.username}
        if route in ("/categories", "/tags"):
            kind = route[1:]
            if method == "GET":
                search = query.get("search", [""])[0].lower()
                return 200, [t for t in self.terms[kind] if search in html.unescape(t["name"]).lower()]
            if not authorized:
                return 401, {
                    "code": "rest_cannot_create",
                    "message": "Sorry, you are not allowed to create terms.",
                }
            name = body["name"]
            existing = next((t for t in self.terms[kind] if t["name"].lower() == name.lower()), None)
            if existing:
                return 400, {
                    "code": "term_exists",
                    "message": "A term with the name provided already exists.",
                    "data": {"status": 400, "term_id": existing["id"]},
                }
            term = {"id": self._new_id(), "name": name, "slug": re.sub(r"\W+", "-", name.lower())}
            self.terms[kind].append(term)
            return 201, term
        if route == "/posts":
            if method == "GET":
                slug = query.get("slug", [""])[0]
                if query.get("status") and not authorized:
                    return 400, {  # what WordPress 6.1 answers, details included
                        "code": "rest_invalid_param",
                        "message": "Invalid parameter(s): status",
                        "data": {
                            "status": 400,
                            "params": {"status": "Status is forbidden."},
                            "details": {
                                "status": {
                                    "code": "rest_forbidden_status",
                                    "message": "Status is forbidden.",
                                    "data": {"status": 401},
                                }
                            },
                        },
                    }
                return 200, [p for p in self.posts if p["slug"] == slug and p["status"] != "trash"]
            if not authorized:
                return 401, {
                    "code": "rest_cannot_create",
                    "message": "Sorry, you are not allowed to create posts as this user.",
                }
            post = {**body, "id": self._new_id()}
            self._settle_slug(post)
            self.posts.append(post)
            return 201, post
        if match := re.fullmatch(r"/posts/(\d+)", route):
            post = next((p for p in self.posts if p["id"] == int(match[1])), None)
            if post is None or not authorized:
                return 404, {"code": "rest_post_invalid_id", "message": "Invalid post ID.", "data": {"status": 404}}
            if method == "POST":
                post.update(body or {})
                self._settle_slug(post)
            elif method == "DELETE":
                post["status"] = "trash"
            return 200, post
        if route in ("/wp-json", "/wp-json/") and method == "GET":
            return 200, {"name": "Fake", "timezone_string": self.timezone_string, "gmt_offset": self.gmt_offset}
        return 404, {
            "code": "rest_no_route",
            "message": "No route was found matching the URL and request method.",
        }

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as WordPress behind a web server

            def log_message(self, *args) -> None:
                pass

            def _serve(self, method: str) -> None:
                url = urlparse(self.path)
                route = url.path.removeprefix(PREFIX)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                authorized = (
                    self.headers.get("Authorization")
                    == "Basic " + base64.b64encode(f"{fake.username}:{fake.password}".encode()).decode()
                )
                with fake._lock:
                    fake.calls.append((method, route))
                    fake.client_ports.append(self.client_address[1])
                    fake.user_agents.add(self.headers.get("User-Agent", ""))
                    failure = fake.failures[(method, route)].pop(0) if fake.failures[(method, route)] else None
                if failure and failure.lands:
                    time.sleep(failure.delay)
                    failure = None
                if failure:
                    time.sleep(failure.delay)
                    status = failure.status
                    payload = failure.body if failure.body is not None else {"code": "fake", "message": "injected"}
                else:
                    with fake._lock:
                        status, payload = fake.handle(method, route, parse_qs(url.query), body, authorized)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler
