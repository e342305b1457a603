"""Writes for WordPress sites: the sync from sites.yml."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils import timezone

from sites.models import Site
from wpublisher.config.schema import SiteConfig

_SITE_FIELDS = (
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
        elif not site.is_active or any(getattr(site, f) != values[f] for f in _SITE_FIELDS):
            Site.objects.filter(pk=spec.id).update(is_active=True, updated_at=timezone.now(), **values)
            report.updated.append(spec.id)
    wanted = {s.id for s in sites}
    report.deactivated = [site_id for site_id, s in existing.items() if s.is_active and site_id not in wanted]
    Site.objects.filter(pk__in=report.deactivated).update(is_active=False, updated_at=timezone.now())
    return report
