"""Project-level endpoints: /health, and the console's configuration editor."""

from __future__ import annotations

import time

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse

from core.config.state import config_status
from core.supervision import supervision_status
from core.version import __version__
from sites.selectors import site_list
from wpublisher.celery import app


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
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return {"transport": conn.transport.driver_name}


def _channel_layer() -> dict:
    """A message sent to the channel layer comes back (Redis), or the layer is this process's memory."""
    from asgiref.sync import async_to_sync
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        return {"backend": "in-memory"}

    async def round_trip() -> None:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "health.ping"})
        await layer.receive(channel)

    async_to_sync(round_trip)()
    return {"backend": type(layer).__name__}


def _sites() -> list[dict]:
    return [
        {
            "id": site.id,
            "status": site.health_status,
            "latency_ms": site.health_latency_ms,
            "last_check": site.last_health_check.isoformat() if site.last_health_check else None,
        }
        for site in site_list()
    ]


def _staff(request: HttpRequest) -> bool:
    """A logged-in staff user; False when the session cannot be read (the database is down)."""
    try:
        return bool(request.user.is_authenticated and request.user.is_staff)
    except DatabaseError:
        return False


def health(request: HttpRequest) -> JsonResponse:
    """Serving status: 200 while the database answers, 503 when it does not. A worker or beat that is down
    (serve is restarting it) degrades the status but not the code: this process still serves. Anyone gets
    the overall status and each check's name and status; the details (latencies, errors, the config
    directory and its last error, processes, sites) only a logged-in staff user."""
    checks = {"database": _check(_database), "broker": _check(_broker), "channel_layer": _check(_channel_layer)}
    config = config_status()
    processes = supervision_status().as_json()
    healthy = checks["database"]["status"] == "ok"
    all_ok = (
        all(check["status"] == "ok" for check in checks.values())
        and config["status"] == "ok"
        and processes["status"] != "degraded"
    )
    overall = "ok" if all_ok else "degraded"
    status = overall if healthy else "error"
    code = 200 if healthy else 503
    if not _staff(request):
        named = {**checks, "config": config, "processes": processes}
        return JsonResponse(
            {"status": status, **{name: {"status": c["status"]} for name, c in named.items()}}, status=code
        )
    sites = _sites() if healthy else []
    body = {
        "status": status,
        "version": __version__,
        **checks,
        "config": config,
        "processes": processes,
        "sites": sites,
    }
    return JsonResponse(body, status=code)
