"""Reviewer sessions end after `global_settings.session_timeout` seconds without a request."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class SessionIdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from wpublisher.config.services import config_current_or_none

        if request.user.is_authenticated:
            config = config_current_or_none()
            # A sliding expiry: every request moves the end of the session forward.
            request.session.set_expiry(config.global_settings.session_timeout if config else 1800)
        return self.get_response(request)
