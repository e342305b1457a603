"""Admin for agents and their API keys.

Agents are defined in agents.yml (or api_keys.txt) and synced into the database, so the admin shows them
read-only. Keys change only through `agents/services.py` (the same functions as `manage.py agent_key`);
a key hash is never shown. Also home of `action_confirmation`, the intermediate page the admin actions of
every app use to confirm (and collect input for) an action before it runs.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from agents.actors import Actor
from agents.models import Agent, ApiKey, McpSession
from agents.services import agent_key_revoke, agent_key_rotate
from core.admin_helpers import (
    ADMIN_BREADCRUMBS,
    ReadOnlyMixin,
    ViewOnlyMixin,
    action_confirmation,
    action_confirmed,
    domain_error_text,
    template_from,
)
from core.exceptions import DomainError

ROTATION_GRACE_SECONDS = 3600

CONFIG_NOTE = (
    "These fields come from agents.yml (or api_keys.txt) and are read-only here: the files are the source "
    "of truth, and any edit made in the admin would be overwritten on the next configuration reload. "
    "Change the file instead; the running server picks the change up at once."
)

_NEW_KEY_TEMPLATE = (
    """{% extends "admin/base_site.html" %}
{% load admin_urls %}
{% block bodyclass %}{{ block.super }} app-{{ opts.app_label }} model-{{ opts.model_name }}{% endblock %}
"""
    + ADMIN_BREADCRUMBS
    + """{% block content %}
<ul class="messagelist"><li class="success">New API key {{ key_id }} for agent {{ agent_id }}:
<code class="new-api-key">{{ token }}</code></li>
<li class="warning">Copy it now: it is shown only this once (only its hash is stored). Give it to the agent
as its <code>Authorization: Bearer</code> key. Its previous keys keep working for {{ grace }}, then stop.</li></ul>
<p><a href="{{ cancel_url }}" class="button">Back to the agents</a></p>
{% endblock %}
"""
)


class ApiKeyInline(ReadOnlyMixin, admin.TabularInline):
    model = ApiKey
    fields = (
        "key_id",
        "source",
        "origin",
        "created_at",
        "last_used_at",
        "not_after",
        "revoked_at",
        "revoked_reason",
    )
    readonly_fields = fields
    exclude = ("key_hash",)  # never shown, not even read-only
    ordering = ("-created_at",)
    extra = 0
    can_delete = False
    verbose_name = "API key"
    verbose_name_plural = "API keys (ids only; use the actions to rotate or revoke)"


COUNTERS = (
    "total_articles_submitted",
    "total_revisions",
    "total_articles_approved",
    "total_articles_rejected",
    "total_articles_published",
)


@admin.register(Agent)
class AgentAdmin(ViewOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "name", "role", "is_active", "last_seen", *COUNTERS)
    list_filter = ("is_active", "role")
    search_fields = ("id", "name", "role")
    ordering = ("id",)
    fieldsets = (
        (
            "Configuration (agents.yml)",
            {
                "description": CONFIG_NOTE,
                "fields": (
                    "id",
                    "name",
                    "role",
                    "description",
                    "scopes",
                    "allowed_sites",
                    "is_active",
                    "configured_at",
                ),
            },
        ),
        ("Activity", {"fields": ("last_seen", *COUNTERS, "created_at", "updated_at")}),
    )
    inlines = (ApiKeyInline,)  # view-only (ViewOnlyMixin): the fields above are shown read-only
    actions = ("rotate_key", "revoke_all_keys")

    @admin.action(description="Rotate key (1 h grace)", permissions=["change"])
    def rotate_key(self, request: HttpRequest, queryset: QuerySet[Agent]) -> HttpResponse | None:
        agents = list(queryset[:2])
        if len(agents) != 1:
            self.message_user(
                request,
                "Select exactly one agent to rotate its key: the new key is shown once, on a page of its own.",
                messages.ERROR,
            )
            return None
        agent = agents[0]
        try:
            key, token = agent_key_rotate(
                agent_id=agent.pk, grace_seconds=ROTATION_GRACE_SECONDS, actor=Actor(user=request.user)
            )
        except DomainError as error:
            self.message_user(request, f"Agent {agent.pk}: {domain_error_text(error)}", messages.ERROR)
            return None
        # Rendered straight into this response (which the admin marks never-cache): the key never goes
        # through the message storage, i.e. a cookie or the session table.
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": "New API key",
            "opts": self.model._meta,
            "agent_id": agent.pk,
            "key_id": key.key_id,
            "token": token,
            "grace": "1 hour",
            "cancel_url": request.get_full_path(),
        }
        return TemplateResponse(request, template_from(_NEW_KEY_TEMPLATE), context)

    @admin.action(description="Revoke all keys", permissions=["change"])
    def revoke_all_keys(self, request: HttpRequest, queryset: QuerySet[Agent]) -> HttpResponse | None:
        agents = list(queryset.order_by("pk"))
        if not action_confirmed(request):
            active: dict[str, list[str]] = {}
            for agent_id, key_id in ApiKey.objects.filter(agent__in=agents, revoked_at__isnull=True).values_list(
                "agent_id", "key_id"
            ):
                active.setdefault(agent_id, []).append(key_id)
            return action_confirmation(
                request,
                model_admin=self,
                queryset=queryset,
                action="revoke_all_keys",
                title="Revoke all keys",
                question="Revoke every API key of these agents? They stop working on their next use, and a key "
                "revoked here stays revoked even while agents.yml still holds it. This cannot be undone: "
                "the agent needs a new key (Rotate key) to connect again.",
                items=[f"{agent}: {', '.join(active.get(agent.pk, [])) or 'no active key'}" for agent in agents],
                submit_label="Yes, revoke the keys",
            )
        for agent in agents:
            try:
                revoked = agent_key_revoke(agent_id=agent.pk, actor=Actor(user=request.user))
            except DomainError as error:
                self.message_user(request, f"Agent {agent.pk}: {domain_error_text(error)}", messages.ERROR)
                continue
            if revoked:
                keys = f"{len(revoked)} key{'s' if len(revoked) != 1 else ''}"
                self.message_user(request, f"Agent {agent.pk}: revoked {keys}: {', '.join(revoked)}", messages.SUCCESS)
            else:
                self.message_user(request, f"Agent {agent.pk}: no active key to revoke", messages.WARNING)
        return None


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
