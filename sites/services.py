"""Writes for WordPress sites: the sync from sites.yml and health checks."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import EventType, Severity
from audit.services import audit_record
from core.cache import ACTIVE_SITES_KEY, invalidate, site_health_key
from core.config.state import config_current
from core.config.types import SiteConfig
from sites.events import site_health_event_send
from sites.exceptions import SiteNotFound, WordPressError
from sites.models import HEALTH_WORDS, HealthStatus, Site, SiteHealthSample
from sites.wordpress import NOT_WORDPRESS, WordPressClient, time_budget, wordpress_client

logger = logging.getLogger(__name__)

# How an audit row rates a site's new health status.
HEALTH_SEVERITY: dict[str, Severity] = {HealthStatus.ERROR: Severity.ERROR, HealthStatus.WARNING: Severity.WARNING}

SITE_CONFIG_FIELDS = (
    "name",
    "api_url",
    "username",
    "default_category",
    "default_tags",
    "max_connections",
    "idle_timeout",
    "health_check_interval",
    "is_default",
    "position",
)


@dataclass
class SiteSyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)

    def changed(self) -> bool:
        return any([self.added, self.updated, self.deactivated])


def _site_values(spec: SiteConfig, position: int) -> dict:
    return {
        "position": position,
        "name": spec.name,
        "api_url": spec.api_url,
        "username": spec.username,
        "default_category": spec.default_category or "",
        "default_tags": list(spec.default_tags),
        "max_connections": spec.max_connections,
        "idle_timeout": spec.idle_timeout,
        "health_check_interval": spec.health_check_interval,
        "is_default": spec.is_default,
    }


def sites_sync(*, sites: Sequence[SiteConfig]) -> SiteSyncReport:
    """Make the database match sites.yml; a site that left the file becomes inactive, its history stays.
    Runs inside the caller's transaction."""
    report = SiteSyncReport()
    existing = {s.id: s for s in Site.objects.all()}
    for position, spec in enumerate(sites):
        values = _site_values(spec, position)
        site = existing.get(spec.id)
        if site is None:
            Site.objects.create(id=spec.id, is_active=True, **values)
            report.added.append(spec.id)
        elif not site.is_active or any(getattr(site, f) != values[f] for f in SITE_CONFIG_FIELDS):
            Site.objects.filter(pk=spec.id).update(is_active=True, updated_at=timezone.now(), **values)
            report.updated.append(spec.id)
    wanted = {s.id for s in sites}
    report.deactivated = [site_id for site_id, s in existing.items() if s.is_active and site_id not in wanted]
    Site.objects.filter(pk__in=report.deactivated).update(is_active=False, updated_at=timezone.now())
    changed = [*report.added, *report.updated, *report.deactivated]
    invalidate(*map(site_health_key, changed), *([ACTIVE_SITES_KEY] if changed else []))
    return report


# An answer slower than this makes a site "warning" even when it succeeded.
SLOW_ANSWER_MS = 2000.0
# How long health samples are kept for the history charts.
HEALTH_HISTORY = timedelta(days=7)
# A health check gives up after this long (or publishing.timeout when that is shorter).
HEALTH_CHECK_TIMEOUT = 10.0
# Kept of a check's full result (`Site.health_detail`, for reviewers).
HEALTH_DETAIL_MAX = 2000


def _health_from_error(error: WordPressError) -> str:
    if error.status in (429,) or (error.status or 0) >= 500:
        return HealthStatus.WARNING
    return HealthStatus.ERROR  # unreachable, timed out, authentication failed, or a wrong api_url


def site_health_check(*, site_id: str) -> Site:
    """Check a site with its own credentials and record the result.

    `GET /users/me` needs a valid application password (a public GET would succeed with a wrong one):
    healthy when it answers 200 quickly with a WordPress user, warning when slow or answering 5xx/429, error
    when the password is refused, the site cannot be reached, its address is refused (sites/urlguard.py),
    it redirects elsewhere or it is not a WordPress REST API.

    The recorded `health_message` is the status's short reason in our own words, what agents see (and the
    audit row and console event say); the remote answer is kept in `health_detail`, for reviewers only."""

    config = config_current()
    site = Site.objects.filter(pk=site_id).first()
    spec = config.site(site_id)
    if site is None or spec is None or not site.is_active:
        raise SiteNotFound(site_id)
    client = wordpress_client(spec, timeout=config.publishing.timeout)
    budget = min(HEALTH_CHECK_TIMEOUT, config.publishing.timeout)
    started = time.perf_counter()
    try:
        with time_budget(budget):
            user = client.me()
    except WordPressError as error:
        status, message, detail = _health_from_error(error), error.reason, error.message
    else:
        detail = ""
        latency = (time.perf_counter() - started) * 1000
        if not isinstance(user, dict) or not isinstance(user.get("id"), int):
            status, message = HealthStatus.ERROR, NOT_WORDPRESS
            detail = f"site {site_id} answered GET /users/me with something that is not a WordPress user: {user!r}"
        elif latency > SLOW_ANSWER_MS:
            status, message = HealthStatus.WARNING, f"slow: authenticated as {spec.username} in {latency:.0f} ms"
        else:
            status, message = HealthStatus.HEALTHY, f"authenticated as {spec.username}"
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    if status != HealthStatus.ERROR and not detail:  # it answered as WordPress with our user
        _site_time_zone_refresh(site=site, client=client, budget=budget)
    return _site_health_record(site=site, status=status, message=message, detail=detail, latency_ms=latency_ms)


def _site_time_zone_refresh(*, site: Site, client: WordPressClient, budget: float) -> None:
    """Store the site's time zone as WordPress says now (Settings > General may change it); a read that
    fails keeps the last one, and says nothing about the site's health."""
    try:
        with time_budget(budget):
            zone = client.time_zone()
    except WordPressError as error:
        logger.info("site %s: its time zone was not read: %s", site.pk, error.message)
        return
    if zone != site.time_zone:
        Site.objects.filter(pk=site.pk).update(time_zone=zone)
        site.time_zone = zone


def _site_health_record(*, site: Site, status: str, message: str, latency_ms: float, detail: str = "") -> Site:
    """Record a check's result: `message` (our words, agents see it) and `detail` (the full result, the
    message when empty; reviewers only)."""
    previous = site.health_status
    now = timezone.now()
    with transaction.atomic():
        Site.objects.filter(pk=site.pk).update(
            health_status=status,
            health_message=message[:500],
            health_detail=(detail or message)[:HEALTH_DETAIL_MAX],
            health_latency_ms=latency_ms,
            last_health_check=now,
            health_check_queued_at=None,
        )
        invalidate(site_health_key(site.pk))
        SiteHealthSample.objects.create(site=site, checked_at=now, status=status, latency_ms=latency_ms)
        SiteHealthSample.objects.filter(site=site, checked_at__lt=now - HEALTH_HISTORY).delete()
        if status != previous:
            now_words, was_words = HEALTH_WORDS.get(status, status), HEALTH_WORDS.get(previous, previous)
            audit_record(
                event_type=EventType.SITE_HEALTH_CHANGED,
                severity=HEALTH_SEVERITY.get(status, Severity.INFO),
                message=f"site {site.id} is {now_words} (was {was_words}): {message}",
                site_id=site.id,
                metadata={"status": status, "previous": previous, "latency_ms": latency_ms},
            )
            site_health_event_send(site_id=site.id, status=status, previous=previous, message=message)
    site.refresh_from_db()
    return site


def site_health_checks_due(*, now: datetime | None = None) -> list[str]:
    """Claim the active sites whose health check is due (each at its own interval) and return their ids.
    A claimed site is not returned again until its check ran or the claim is an interval old."""
    now = now or timezone.now()
    due = []
    for site in Site.objects.filter(is_active=True):
        interval = timedelta(seconds=site.health_check_interval)
        if site.last_health_check and site.last_health_check > now - interval:
            continue
        unclaimed = Q(health_check_queued_at__isnull=True) | Q(health_check_queued_at__lt=now - interval)
        if Site.objects.filter(unclaimed, pk=site.pk).update(health_check_queued_at=now):
            due.append(site.id)
    return due
