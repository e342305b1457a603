from __future__ import annotations

from django.db.models import QuerySet

from core.cache import ACTIVE_SITES_KEY, cached, site_health_key
from sites.exceptions import SiteNotFound
from sites.models import Site


def site_get(*, site_id: str, include_inactive: bool = True) -> Site:
    sites = Site.objects.all() if include_inactive else Site.objects.filter(is_active=True)
    site = sites.filter(pk=site_id).first()
    if site is None:
        raise SiteNotFound(site_id)
    return site


def site_list(*, include_inactive: bool = False) -> QuerySet[Site]:
    sites = Site.objects.all()
    return sites if include_inactive else sites.filter(is_active=True)


def site_active_ids() -> list[str]:
    """Ids of the active sites, the default first, then in the order of sites.yml (cached; every sync of
    the sites invalidates). An agent's submission goes to the first of these it may use."""
    return cached(
        ACTIVE_SITES_KEY,
        lambda: list(site_list().order_by("-is_default", "position", "id").values_list("id", flat=True)),
    )


def site_health(*, site_id: str, include_detail: bool = False) -> dict:
    """The last recorded health of a site (cached; health checks and publishes invalidate). Its `message`
    is a short reason of our own; `include_detail` (reviewers only, never agents) adds `detail`, the last
    check's full result, which may quote whatever the site's server answered."""
    health = cached(site_health_key(site_id), lambda: _site_health(site_id))
    if include_detail:
        return {**health, "detail": health.get("detail", "")}
    return {key: value for key, value in health.items() if key != "detail"}


def _site_health(site_id: str) -> dict:
    site = site_get(site_id=site_id)
    return {
        "site_id": site.id,
        "name": site.name,
        "is_active": site.is_active,
        "status": site.health_status,
        "message": site.health_message,
        "detail": site.health_detail,
        "latency_ms": site.health_latency_ms,
        "last_check": site.last_health_check.isoformat() if site.last_health_check else None,
        "health_check_interval": site.health_check_interval,
        "total_posts_published": site.total_posts_published,
        "total_publish_failures": site.total_publish_failures,
    }
