"""Reading request parameters (console query strings and forms, MCP resource URIs) into values the code and
the databases take, or refusing them with `ParameterInvalid`: VALIDATION_ERROR, answered 400, naming the
parameter and its rule ("grace: must be an integer from 0 to 2592000").

Every view parses its parameters here rather than with its own int()/isdigit(): an id past 64 bits (which
neither database stores), a date that does not exist ("2026-02-30T00:00") or a NUL character (which
PostgreSQL refuses) would otherwise end as a 500 or be silently ignored."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import overload

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.exceptions import ParameterInvalid

# The largest integer both databases store (signed 64 bits: SQLite INTEGER, PostgreSQL bigint).
DB_INT_MAX = 2**63 - 1
DB_INT_MIN = -(2**63)
# An integer as a person or a client writes it: ASCII digits, an optional sign, nothing around it.
_INTEGER = re.compile(r"[+-]?[0-9]{1,25}")
DATETIME_EXAMPLE = "2026-01-15T08:00 (ISO 8601; UTC unless an offset is given)"


def int_check(number: int | None, *, name: str, minimum: int = DB_INT_MIN, maximum: int = DB_INT_MAX) -> int:
    """`number` when it is from `minimum` to `maximum` (a URL's <int:id> has no bound), else ParameterInvalid
    naming `name` and the range."""
    if number is None or not minimum <= number <= maximum:
        raise ParameterInvalid(f"{name}: must be an integer from {minimum} to {maximum}", field=name)
    return number


def int_parse(value: str, *, name: str, minimum: int = DB_INT_MIN, maximum: int = DB_INT_MAX) -> int:
    """`value` as an integer from `minimum` to `maximum`, or ParameterInvalid naming `name` and the range."""
    number = int(value) if _INTEGER.fullmatch(value) else None
    return int_check(number, name=name, minimum=minimum, maximum=maximum)


def datetime_parse(value: str, *, name: str) -> datetime:
    """`value` as an aware date-time (ISO 8601; UTC when it has no offset), or ParameterInvalid."""
    try:
        parsed = parse_datetime(value.strip())
        if parsed is not None:
            parsed = parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)
            parsed.astimezone(UTC)  # the databases store UTC: 9999-12-31T23:00-05:00 has none
    except (ValueError, OverflowError):  # well formed, but no such date or time: 2026-02-30, 25:00
        parsed = None
    if parsed is None:
        raise ParameterInvalid(f"{name}: must be a date-time like {DATETIME_EXAMPLE}", field=name)
    return parsed


def text_parse(value: str, *, name: str, max_length: int = 1000) -> str:
    """`value` if the databases can compare it: no NUL character, at most `max_length` characters."""
    if "\x00" in value or len(value) > max_length:
        raise ParameterInvalid(
            f"{name}: must be text of at most {max_length} characters without NUL characters", field=name
        )
    return value


@overload
def param_int(params: Mapping[str, str], name: str, *, default: int, minimum: int = ..., maximum: int = ...) -> int: ...


@overload
def param_int(
    params: Mapping[str, str], name: str, *, default: None = None, minimum: int = ..., maximum: int = ...
) -> int | None: ...


def param_int(
    params: Mapping[str, str],
    name: str,
    *,
    default: int | None = None,
    minimum: int = DB_INT_MIN,
    maximum: int = DB_INT_MAX,
) -> int | None:
    """The integer parameter `name` of a query string or form; `default` when absent or empty."""
    value = params.get(name)
    return default if value is None or value == "" else int_parse(value, name=name, minimum=minimum, maximum=maximum)


def param_datetime(params: Mapping[str, str], name: str) -> datetime | None:
    """The date-time parameter `name` (an `<input type="datetime-local">`, or ISO 8601); None when empty."""
    value = params.get(name)
    return None if value is None or not value.strip() else datetime_parse(value, name=name)


def param_text(params: Mapping[str, str], name: str, *, max_length: int = 1000) -> str | None:
    """The text parameter `name` (a filter); None when absent or empty."""
    value = params.get(name)
    return None if value is None or value == "" else text_parse(value, name=name, max_length=max_length)
