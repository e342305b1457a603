"""Project-level endpoints: /health."""

from __future__ import annotations

import time

from django.db import connection
from django.http import HttpRequest, JsonResponse

from wpublisher import __version__
from wpublisher.config.services import config_status


def _check(probe) -> dict:
    started = time.perf_counter()
    try:
        detail = probe() or {}
        status = "ok"
    except Exception as error:  # any failure is the answer here, reported by type and message
        detail, status = {"error": f"{type(error).__name__}: {error}"}, "error"
    return {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 2), **detail}


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"vendor": connection.vendor}


def _broker() -> dict:
    from wpublisher.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return {"transport": conn.transport_cls if isinstance(conn.transport_cls, str) else conn.transport.driver_name}


def health(request: HttpRequest) -> JsonResponse:
    """Serving status: 200 while the database answers, 503 when it does not."""
    checks = {"database": _check(_database), "broker": _check(_broker)}
    config = config_status()
    healthy = checks["database"]["status"] == "ok"
    overall = "ok" if healthy and checks["broker"]["status"] == "ok" and config["status"] == "ok" else "degraded"
    body = {"status": overall if healthy else "error", "version": __version__, **checks, "config": config}
    return JsonResponse(body, status=200 if healthy else 503)
