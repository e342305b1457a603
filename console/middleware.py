"""Reviewer sessions end after `global_settings.session_timeout` seconds without a request: the live value,
so that a timeout lowered by a config reload ends sessions already idle longer at their next request."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

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
