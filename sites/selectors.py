from __future__ import annotations

from django.db.models import QuerySet

from core.cache import ACTIVE_SITES_KEY, cached, site_health_key
from sites.exceptions import SiteNotFound
from sites.models import HealthStatus, Site, SiteHealthSample


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


def site_id_list() -> list[str]:
    """Every site's id, inactive ones included, in the order of sites.yml: the choices of the review queue's
    site filter."""
    return list(Site.objects.order_by("position", "id").values_list("id", flat=True))


def site_failing_list() -> list[Site]:
    """The active sites whose last health check failed or warned, in the order of sites.yml: the
    monitoring page's alerts."""
    return list(site_list().filter(health_status__in=[HealthStatus.ERROR, HealthStatus.WARNING]))


# SQLite allows up to 500 SELECTs in one compound statement.
HISTORY_SITES_PER_QUERY = 200


def site_health_history(*, site_ids: list[str] | None, points: int) -> dict[str, list[SiteHealthSample]]:
    """The last `points` health checks of each site in `site_ids` (of every site when None), oldest first,
    by site id: what the latency charts draw. One query for up to HISTORY_SITES_PER_QUERY sites (None costs
    one more, for the ids), each site read through its own index range however long its history is; a site
    without a check yet has an empty list."""
    if site_ids is None:
        site_ids = list(Site.objects.values_list("id", flat=True))
    history: dict[str, list[SiteHealthSample]] = {site_id: [] for site_id in site_ids}
    if points < 1:
        return history
    for first in range(0, len(history), HISTORY_SITES_PER_QUERY):
        # A UNION ALL of one "newest `points` of this site" per site: a window function over the history
        # (ROW_NUMBER() per site) would read every sample kept, ~10,000 a site, on every page load.
        per_site = [
            SiteHealthSample.objects.filter(id__in=_site_newest_sample_ids(site_id, points)).order_by()
            for site_id in list(history)[first : first + HISTORY_SITES_PER_QUERY]
        ]
        for sample in per_site[0].union(*per_site[1:], all=True):
            history[sample.site_id].append(sample)
    for samples in history.values():
        samples.sort(key=lambda sample: (sample.checked_at, sample.id))
    return history


def _site_newest_sample_ids(site_id: str, points: int) -> QuerySet[SiteHealthSample, int]:
    samples = SiteHealthSample.objects.filter(site_id=site_id).order_by("-checked_at", "-id")
    return samples.values_list("id", flat=True)[:points]
