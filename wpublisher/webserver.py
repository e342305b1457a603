"""The web server: daphne, with the same arguments (`python -m wpublisher.webserver -b HOST -p PORT
wpublisher.asgi:application`), but its access log redacts query strings as every other log does. daphne
writes the request line of every request, query string included, to stdout: a key sent as `/mcp?api_key=…`
(refused with 400) would be kept there in clear."""

from __future__ import annotations

import sys
from typing import Any

from daphne import cli
from daphne.access import AccessLogGenerator

from wpublisher.logformat import query_redact


class RedactingAccessLogGenerator(AccessLogGenerator):
    """daphne's access log (NCSA-like lines), with `?name=[redacted]` for every query value."""

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if isinstance(details.get("path"), str):
            details = {**details, "path": query_redact(details["path"])}
        super().__call__(protocol, action, details)


def main(argv: list[str] | None = None) -> None:
    # daphne's command line builds its access log from this module-level name.
    cli.AccessLogGenerator = RedactingAccessLogGenerator
    cli.CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
