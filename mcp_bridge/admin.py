"""Admin for MCP sessions: a read-only record of who connected, how, and when the connection ended."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_helpers import ReadOnlyMixin
from mcp_bridge.models import McpSession


class SessionStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("open", "open"), ("closed", "closed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[McpSession]) -> QuerySet[McpSession]:
        if self.value() == "open":
            return queryset.filter(closed_at__isnull=True)
        if self.value() == "closed":
            return queryset.filter(closed_at__isnull=False)
        return queryset


@admin.register(McpSession)
class McpSessionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "agent",
        "transport",
        "ip_address",
        "opened_at",
        "last_activity_at",
        "closed_at",
        "close_reason",
    )
    list_filter = (SessionStateFilter, "transport")
    list_select_related = ("agent",)
    search_fields = ("=agent__id", "=ip_address")
    search_help_text = "An exact agent id or IP address"
    date_hierarchy = "opened_at"
    ordering = ("-opened_at",)
    list_per_page = 100
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None
    fields = (
        "id",
        "agent",
        "transport",
        "ip_address",
        "user_agent",
        "process",
        "opened_at",
        "last_activity_at",
        "closed_at",
        "close_reason",
    )
    readonly_fields = fields
