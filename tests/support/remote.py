"""A local HTTP server for tests that need something on the other end of a URL: what a site's `api_url`
points at, or what an `[embed]` names. It answers GET and HEAD from `routes` and records every path asked."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = tuple[int, dict[str, str], bytes]
NOT_FOUND: Answer = (404, {"Content-Type": "application/json"}, b"{}")


class Remote:
    """`routes` maps a path (without its query) to (status, headers, body); any other path gets `default`.
    Listens on 127.0.0.1 on a free port until `close()`."""

    def __init__(self, routes: dict[str, Answer] | None = None, *, default: Answer = NOT_FOUND):
        self.routes = routes or {}
        self.default = default
        self.requests: list[str] = []
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                remote.requests.append(self.path)
                status, headers, body = remote.routes.get(self.path.split("?")[0], remote.default)
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def requested(self, marker: str) -> bool:
        return any(marker in path for path in self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
