"""Admin for WordPress sites: read-only (they come from sites.yml), with an on-demand health check.

A site's application password lives only in the config files and process memory; the model has no field
for it and neither has this admin."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_helpers import ViewOnlyMixin, domain_error_text
from core.exceptions import DomainError
from sites.models import HealthStatus, Site
from sites.services import SITE_CONFIG_FIELDS, site_health_check

CONFIG_NOTE = (
    "These fields come from sites.yml and are read-only here: the file is the source of truth, and any edit "
    "made in the admin would be overwritten on the next configuration reload. Change the file instead "
    "(the application password is kept there only, never in the database)."
)

# A health status as the sentence "Site blog …" says it.
_HEALTH_WORDS: dict[str, str] = {
    HealthStatus.HEALTHY: "is healthy",
    HealthStatus.WARNING: "has a warning",
    HealthStatus.ERROR: "is failing",
    HealthStatus.UNKNOWN: "is not checked yet",
}

_HEALTH_LEVELS: dict[str, int] = {
    HealthStatus.HEALTHY: messages.SUCCESS,
    HealthStatus.WARNING: messages.WARNING,
    HealthStatus.ERROR: messages.ERROR,
}


@admin.register(Site)
class SiteAdmin(ViewOnlyMixin, admin.ModelAdmin):
    # View-only (ViewOnlyMixin): every field below is shown read-only.
    list_display = (
        "id",
        "name",
        "is_active",
        "is_default",
        "health_status",
        "health_latency_ms",
        "last_health_check",
        "total_posts_published",
        "total_publish_failures",
    )
    list_filter = ("health_status", "is_active")
    search_fields = ("id", "name")
    ordering = ("position", "id")
    fieldsets = (
        (
            "Configuration (sites.yml)",
            {
                "description": CONFIG_NOTE,
                "fields": ("id", *SITE_CONFIG_FIELDS, "is_active"),
            },
        ),
        (
            "Health",
            {
                "fields": (
                    "health_status",
                    "health_message",
                    "health_detail",
                    "health_latency_ms",
                    "last_health_check",
                )
            },
        ),
        ("Activity", {"fields": ("total_posts_published", "total_publish_failures", "created_at", "updated_at")}),
    )
    actions = ("check_health",)

    @admin.action(description="Check health now", permissions=["change"])
    def check_health(self, request: HttpRequest, queryset: QuerySet[Site]) -> None:
        for site_id in queryset.order_by("position", "id").values_list("pk", flat=True):
            try:
                site = site_health_check(site_id=site_id)
            except DomainError as error:
                self.message_user(request, f"Site {site_id}: {domain_error_text(error)}", messages.ERROR)
                continue
            latency = f"{site.health_latency_ms:.0f} ms" if site.health_latency_ms is not None else "no answer"
            self.message_user(
                request,
                f"Site {site.pk} {_HEALTH_WORDS.get(site.health_status, site.health_status)} ({latency}): "
                f"{site.health_detail or site.health_message}",
                _HEALTH_LEVELS.get(site.health_status, messages.INFO),
            )
