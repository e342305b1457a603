"""Site endpoints of the JSON API: the WordPress sites and their health, and a health check on demand."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema

from api.schemas import ErrorOut, SiteIdPath
from sites.models import HealthStatus
from sites.selectors import site_health, site_list
from sites.serializers import site_summary
from sites.services import site_health_check

router = Router(tags=["sites"])


# --- schemas ------------------------------------------------------------------------------------------


class HealthOut(Schema):
    status: HealthStatus = Field(description="unknown until the first check")
    message: str = Field(description="the status's short reason (all agents are shown)")
    detail: str = Field(description="the last check's full result, which may quote the site's answer (staff only)")
    latency_ms: float | None
    last_check: datetime | None


class SiteOut(Schema):
    id: str
    name: str
    api_url: str
    is_active: bool
    is_default: bool
    default_category: str | None
    default_tags: list[str]
    health: HealthOut
    total_posts_published: int


class SiteHealthOut(HealthOut):
    site_id: str
    name: str
    is_active: bool
    health_check_interval: int = Field(description="seconds between scheduled checks")
    total_posts_published: int
    total_publish_failures: int


# --- endpoints ----------------------------------------------------------------------------------------


@router.get("", response={200: list[SiteOut], 422: ErrorOut})
def list_sites(request: HttpRequest, include_inactive: bool = False) -> list[dict]:
    return [site_summary(site, include_detail=True) for site in site_list(include_inactive=include_inactive)]


@router.get("/{site_id}/health", response={200: SiteHealthOut, 404: ErrorOut, 422: ErrorOut})
def get_site_health(request: HttpRequest, site_id: SiteIdPath) -> dict:
    """The health recorded by the last check."""
    return site_health(site_id=site_id, include_detail=True)


@router.post(
    "/{site_id}/check", response={200: SiteHealthOut, 404: ErrorOut, 415: ErrorOut, 422: ErrorOut, 503: ErrorOut}
)
def check_site(request: HttpRequest, site_id: SiteIdPath) -> dict:
    """Check the site now with its own credentials and record the result. A site that refuses or cannot
    be reached is recorded as `error` (or `warning`) and answered with 200: the check itself worked.
    503 when no valid configuration is loaded."""
    site_health_check(site_id=site_id)
    return site_health(site_id=site_id, include_detail=True)
