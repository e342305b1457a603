"""Keep secrets out of logs and audit rows.

Code never passes secrets on purpose; this is the second line of defence. The running config registers
every API key and application password it holds, and anything shaped like a generated key is masked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

MASK = "[redacted]"
_GENERATED_KEY_RE = re.compile(r"\b(wpk_[a-z0-9]{12})_[A-Za-z0-9_-]{43}\b")
_BEARER_RE = re.compile(r"(?i)\b(bearer\s+)\S+")

_known_secrets: frozenset[str] = frozenset()


def secrets_register(values: Iterable[str]) -> None:
    """Replace the set of known secrets (the running config's keys and passwords)."""
    global _known_secrets
    # Very short values would mask ordinary words; config validation refuses such secrets anyway.
    _known_secrets = frozenset(v for v in values if v and len(v) >= 8)


def redact(text: str) -> str:
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _GENERATED_KEY_RE.sub(rf"\1_{MASK}", text)
    return _BEARER_RE.sub(rf"\1{MASK}", text)


def redact_data(value: Any) -> Any:
    """`redact` applied to every string inside JSON-like data."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


def _redact_record(record: logging.LogRecord) -> None:
    message = record.getMessage()
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[1] is not None:
        # Tracebacks are formatted later, by each handler; mask the exception text they will show.
        exc = record.exc_info[1]
        exc_text = redact(str(exc))
        if exc_text != str(exc):
            exc.args = (exc_text,)


def log_redaction_install() -> None:
    """Mask secrets in every log record as it is made, so that every handler (Django's, Celery's,
    daphne's, a test's) only ever sees the masked text. Records below a logger's level are never made."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "wpublisher_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    factory.wpublisher_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
