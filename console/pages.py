"""What every console view shares: access for reviewers, the partial-or-page rule, domain errors shown
as messages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, user_passes_test
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render

from core.exceptions import DomainError, ParameterInvalid


def reviewer_required(view: Callable) -> Callable:
    """Logged-in staff only (reviewers are Django staff users). A parameter the view cannot read
    (core.params) is answered 400 with its code, the parameter and the rule."""

    @functools.wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ParameterInvalid as error:
            return HttpResponseBadRequest(f"{error.code}: {error.message}", content_type="text/plain; charset=utf-8")

    return login_required(user_passes_test(lambda user: user.is_staff)(checked))


def is_htmx(request: HttpRequest) -> bool:
    """Whether htmx sent the request (django_htmx's middleware tells)."""
    return bool(getattr(request, "htmx", None))


def render_page(request: HttpRequest, page: str, partial: str, context: dict[str, Any]) -> HttpResponse:
    """One view per page: an htmx request gets the partial, a full load the page that includes it."""
    htmx = getattr(request, "htmx", None)  # django_htmx's middleware sets it
    template = partial if htmx and not htmx.boosted else page
    return render(request, template, {**context, "partial_template": partial})


def sentence(text: str) -> str:
    """A message as people read it: a capital first letter (service messages start lower case, after their
    code in the API and MCP)."""
    return text[:1].upper() + text[1:]


def run_action(request: HttpRequest, action: Callable[[], Any], success: str | Callable[[Any], str]) -> bool:
    """Run one service call for the console: success and refusals (domain errors) become messages shown with
    the re-rendered page, in words: the refusal's message without its code. True when it succeeded."""
    try:
        result = action()
    except DomainError as error:
        messages.error(request, sentence(error.message))
        return False
    messages.success(request, sentence(success(result) if callable(success) else success))
    return True
