"""The JSON API for reviewers (django-ninja): session authentication with CSRF, OpenAPI at
/api/openapi.json and interactive docs at /api/docs (served from static files, no CDN).

Each app contributes a router from its api.py; the endpoints are thin adapters over the services and
selectors, and domain errors become 4xx answers with their stable code."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.security import SessionAuthIsStaff

from wpublisher import __version__
from wpublisher.exceptions import DomainError

api = NinjaAPI(
    title="wpublisher",
    version=__version__,
    description="Review and publishing API for the people who run wpublisher (session login + CSRF).",
    auth=SessionAuthIsStaff(),
    urls_namespace="api",
)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, error: DomainError) -> HttpResponse:
    return api.create_response(request, error.as_dict(), status=error.http_status)
