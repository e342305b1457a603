"""Admin for the audit log: entirely read-only (no add, change or delete, no actions).

The table can hold millions of rows: the changelist pages by 100, never counts the whole table for the
"N total" link nor the facets of the filters, takes the planner's estimate for a count past 100,000 rows
(PostgreSQL), sorts only by indexed columns, and searches the agent id exactly (indexed) besides the
message. Agent, article and site are plain ids (the log outlives what it names); they link to their admin
pages."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from audit.models import AuditLog, event_type_list
from core.admin_helpers import ReadOnlyMixin


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to ESTIMATE_ABOVE rows; beyond, on PostgreSQL, takes the planner's estimate: an
    exact COUNT(*) of millions of audit rows takes longer than the page it numbers."""

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if connection.vendor != "postgresql" or not isinstance(queryset, QuerySet):
            return super().count
        sql, params = queryset.order_by().query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            estimate = int(_plan(cursor.fetchone()[0])["Plan"]["Plan Rows"])
        return estimate if estimate > self.ESTIMATE_ABOVE else super().count


def _plan(value: Any) -> dict:
    return (json.loads(value) if isinstance(value, str) else value)[0]


def _link(viewname: str, pk: Any) -> str:
    if pk in (None, ""):
        return "-"
    return format_html('<a href="{}">{}</a>', reverse(viewname, args=[quote(pk)]), pk)


class EventTypeFilter(admin.SimpleListFilter):
    """The event types of the registry, never a DISTINCT over the table (the field has no choices)."""

    title = "event type"
    parameter_name = "event_type__exact"  # the URL of the field filter it replaces

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in event_type_list()]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(event_type=value) if value else queryset


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("timestamp", "event_type", "severity", "agent", "article", "site", "username", "message")
    list_display_links = ("timestamp",)
    list_filter = (EventTypeFilter, "category", "severity")
    search_fields = ("message", "=agent_id")
    search_help_text = "Words of the message, or an exact agent id"
    date_hierarchy = "timestamp"
    ordering = ("-timestamp", "-id")
    list_per_page = 100
    list_max_show_all = 500
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    show_facets = admin.ShowFacets.NEVER  # facet counts would scan the table for every filter choice
    sortable_by = ("timestamp", "event_type", "agent", "article", "site")  # the indexed columns
    actions = None
    fields = (
        "timestamp",
        "event_type",
        "category",
        "severity",
        "agent",
        "article",
        "site",
        "username",
        "message",
        "metadata_json",
        "ip_address",
        "user_agent",
    )
    readonly_fields = fields

    @admin.display(description="agent", ordering="agent_id")
    def agent(self, entry: AuditLog) -> str:
        return _link("admin:agents_agent_change", entry.agent_id)

    @admin.display(description="article", ordering="article_id")
    def article(self, entry: AuditLog) -> str:
        return _link("admin:articles_article_change", entry.article_id)

    @admin.display(description="site", ordering="site_id")
    def site(self, entry: AuditLog) -> str:
        return _link("admin:sites_site_change", entry.site_id)

    @admin.display(description="metadata")
    def metadata_json(self, entry: AuditLog) -> str:
        return format_html("<pre>{}</pre>", json.dumps(entry.metadata, indent=2, ensure_ascii=False, sort_keys=True))
