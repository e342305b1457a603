"""The console's per-request rules: reviewer sessions end after `global_settings.session_timeout` seconds
without a request (the live value, so that a timeout lowered by a config reload ends sessions already idle
longer at their next request); times are shown in the reviewer's time zone."""

from __future__ import annotations

import functools
import time
import zoneinfo
from collections.abc import Callable

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from core.config.state import global_settings

# When the session's last request came (Unix time), kept in the session.
LAST_SEEN_KEY = "_wpub_last_seen"


def session_timeout_live() -> int:
    """global_settings.session_timeout of the running config (its default before one is loaded)."""
    return global_settings().session_timeout


class SessionIdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            timeout, now = session_timeout_live(), int(time.time())
            last_seen = request.session.get(LAST_SEEN_KEY)
            if last_seen is not None and now - last_seen > timeout:
                logout(request)  # idle too long for the timeout now in force (its websockets close too)
            else:
                request.session[LAST_SEEN_KEY] = now
                # A sliding expiry: every request moves the end of the session forward.
                request.session.set_expiry(timeout)
        return self.get_response(request)


# The reviewer's time zone, an IANA name the console's script stores from the browser (Intl) in this cookie.
TIME_ZONE_COOKIE = "wpub_tz"


class ReviewerTimeZoneMiddleware:
    """Times on console and admin pages are shown in the reviewer's time zone (the browser's, from the
    `wpub_tz` cookie), else in TIME_ZONE (UTC). An unknown zone name is ignored."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = reviewer_time_zone(request.COOKIES.get(TIME_ZONE_COOKIE, ""))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


@functools.lru_cache(maxsize=256)
def reviewer_time_zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone named `name`, or None for an empty, overlong or unknown name."""
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
