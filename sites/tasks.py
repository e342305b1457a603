"""Celery tasks for sites. Thin: they take ids and call the services."""

from __future__ import annotations

from celery import shared_task

from sites.exceptions import SiteNotFound
from sites.services import site_health_check, site_health_checks_due


@shared_task(name="sites.check_site_health", acks_late=True)
def check_site_health(site_id: str) -> str:
    try:
        return site_health_check(site_id=site_id).health_status
    except SiteNotFound:
        return "skipped"  # removed or deactivated since it was queued


@shared_task(name="sites.schedule_health_checks")
def schedule_health_checks() -> list[str]:
    due = site_health_checks_due()
    for site_id in due:
        check_site_health.delay(site_id)
    return due
