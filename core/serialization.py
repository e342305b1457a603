"""Helpers every app's serializers share: values as JSON writes them."""

from __future__ import annotations

from datetime import datetime


def time_iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
