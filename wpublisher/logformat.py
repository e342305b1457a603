"""JSON log lines (LOG_FORMAT=json): one object a line, with the agent, article and site when known; and
query strings redacted in every line (a key sent in a URL must not reach a log)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

CONTEXT_FIELDS = ("agent", "article", "site", "event")
REDACTED = "[redacted]"
# The query part of a URL inside any text: from "?" to the next space, quote or fragment.
_QUERY_RE = re.compile(r"\?[^\s\"'<>#]+")
_QUERY_ITEM_RE = re.compile(r"[^&;]+")


def _query_item_redact(item: re.Match[str]) -> str:
    name, equals, _ = item[0].partition("=")
    return f"{name}={REDACTED}" if equals else REDACTED


def query_redact(text: str) -> str:
    """`text` with every query string's values replaced: `/mcp?api_key=s3cret&x` becomes
    `/mcp?api_key=[redacted]&[redacted]`. Names stay (they tell what was sent); values and bare items, which
    may be keys, never reach a log."""
    if "?" not in text:
        return text
    return _QUERY_RE.sub(lambda query: "?" + _QUERY_ITEM_RE.sub(_query_item_redact, query[0][1:]), text)


class QueryStringRedactingFilter(logging.Filter):
    """On a handler: every record it writes has its query strings redacted (see `query_redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = query_redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        line.update({field: getattr(record, field) for field in CONTEXT_FIELDS if getattr(record, field, None)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
