"""Sign-in lockouts of the console (/login/) and the admin (/admin/login/), counted by django-axes per username
and address (settings AXES_*): what a locked-out sign-in is shown, and the audit row when a lockout begins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from audit.models import EventType, Severity
from audit.services import audit_record


def login_lockout_end(*, request: HttpRequest, username: str | None, ip_address: str | None) -> datetime:
    """When the lockout of `username` at `ip_address` ends, rounded up to the minute: the last failure it
    counted plus the cool-off (tries while locked out do not move it)."""
    attempts = AccessAttempt.objects.filter(username=username, ip_address=ip_address)
    last = attempts.aggregate(last=Max("attempt_time"))["last"] or timezone.now()
    end = last + (get_cool_off(request) or timedelta(0))
    if end.second or end.microsecond:
        end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return end


def _username(request: HttpRequest, *candidates: Any) -> str | None:
    credentials = next((c for c in candidates if isinstance(c, dict)), None)
    return get_client_username(request, credentials)


def login_locked_out_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """The console's login page saying until when sign-ins are refused (429, with Retry-After), for a locked-out
    sign-in on either login page (AXES_LOCKOUT_CALLABLE)."""
    until = login_lockout_end(
        request=request,
        username=_username(request, credentials, original_response),
        ip_address=getattr(request, "axes_ip_address", None),
    )
    context = {"lockout_until": f"{until.astimezone(UTC):%H:%M}", "next": request.POST.get("next", "")}
    response = render(request, "console/login.html", context, status=429)
    response["Retry-After"] = str(max(1, int((until - timezone.now()).total_seconds())))
    return response


def login_lockout_audit(
    sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **_: Any
) -> None:
    """Audit a lockout when it begins (axes' `user_locked_out`, which also fires for each try while locked out:
    those are not audited again). Never the password."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    until = login_lockout_end(request=request, username=username, ip_address=ip_address)
    audit_record(
        event_type=EventType.LOGIN_LOCKED_OUT,
        severity=Severity.WARNING,
        message=f"sign-ins of {username!r} from {ip_address} refused until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC "
        f"after {failures} failed attempts (at {request.path})",
        username=username or "",
        ip_address=ip_address,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        metadata={"failures": failures, "until": until.isoformat(), "path": request.path},
    )
