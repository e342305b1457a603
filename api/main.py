"""The JSON API for reviewers (django-ninja): session authentication with CSRF, OpenAPI at
/api/openapi.json and interactive docs at /api/docs (served from static files, no CDN).

Each app contributes a router from its api.py; the endpoints are thin adapters over the services and
selectors, and domain errors become 4xx answers with their stable code."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.http.request import RawPostDataException
from ninja import Field, NinjaAPI, Schema, Swagger
from ninja.errors import ValidationError
from ninja.operation import Operation
from ninja.security import SessionAuthIsStaff

from api.agents import router as agents_router
from api.articles import router as articles_router
from api.sites import router as sites_router
from articles.models import ArticleStatus
from articles.selectors import system_metrics
from core.exceptions import DomainError, ValidationFailed
from core.version import __version__
from sites.models import HealthStatus


class AgentCountsOut(Schema):
    active: int
    connected: int = Field(description="agents with an open MCP session")


class StatsOut(Schema):
    """What an operator watches (`articles.selectors.system_metrics`): statuses absent from a count are 0."""

    articles_by_status: dict[ArticleStatus, int]
    agents: AgentCountsOut
    sites_by_health: dict[HealthStatus, int] = Field(description="active sites only")
    last_24h: dict[str, int] = Field(description="submissions, publishes, failures and failed logins by event type")


class ReviewAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        """Operation ids as published since the first release, whatever module holds the code:
        `<area>_api_<function>` (`sites_api_check_site`), `wpublisher_api_<function>` for this module's."""
        module = operation.view_func.__module__.rsplit(".", 1)[-1]
        return f"{'wpublisher' if module == 'main' else module}_api_{operation.view_func.__name__}"


api = ReviewAPI(
    title="wpublisher",
    version=__version__,
    description="Review and publishing API for the people who run wpublisher (session login + CSRF).",
    auth=SessionAuthIsStaff(),
    urls_namespace="api",
    # Swagger UI would otherwise send the schema's URL to validator.swagger.io (for its badge) whenever the
    # server is not on localhost; its scripts and styles come from our static files (ninja in INSTALLED_APPS).
    docs=Swagger(settings={"validatorUrl": None}),
)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, error: DomainError) -> HttpResponse:
    return api.create_response(request, error.as_dict(), status=error.http_status)


@api.exception_handler(ValidationError)
def input_error(request: HttpRequest, error: ValidationError) -> HttpResponse:
    """Parameters and bodies that do not fit their declared types answer like the services' own
    validation errors (VALIDATION_ERROR, the field at fault), so a client handles one error shape."""
    problems = [(_field_name(e.get("loc", ())), e.get("msg", "invalid")) for e in error.errors]
    message = "; ".join(f"{field}: {msg}" if field else msg for field, msg in problems)
    return domain_error(request, ValidationFailed(message, field=problems[0][0] if problems else None))


@api.exception_handler(RawPostDataException)
@api.exception_handler(MultiPartParserError)
def form_body(request: HttpRequest, error: Exception) -> HttpResponse:
    """The CSRF check reads a multipart form (and fails on a malformed one) before the operation can read
    its JSON body; the API takes JSON bodies only, so say that instead of failing."""
    body = {"code": "UNSUPPORTED_MEDIA_TYPE", "message": "send the request body as application/json"}
    return api.create_response(request, body, status=415)


def _field_name(location: tuple | list) -> str | None:
    """The innermost named part of a pydantic error location: ("body", "body", "tags", 0) is "tags"."""
    names = [part for part in location if isinstance(part, str)]
    return names[-1] if names else None


api.add_router("/articles", articles_router)
api.add_router("/agents", agents_router)
api.add_router("/sites", sites_router)


@api.get("/stats", response=StatsOut, tags=["stats"])
def stats(request: HttpRequest) -> dict:
    """Articles by status, agents active and connected, active sites by health, the last day's activity."""
    return system_metrics()
