"""What every app's admin shares: read-only model admins, the confirmation page of an admin action, and how
a domain error reads in an admin message."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template import engines
from django.template.response import TemplateResponse

from core.exceptions import DomainError

# The breadcrumbs of an admin page about a model's objects: Home > app > model > `title`.
ADMIN_BREADCRUMBS = """{% block breadcrumbs %}<div class="breadcrumbs">
<a href="{% url 'admin:index' %}">Home</a>
&rsaquo; <a href="{% url 'admin:app_list' app_label=opts.app_label %}">{{ opts.app_config.verbose_name }}</a>
&rsaquo; <a href="{% url opts|admin_urlname:'changelist' %}">{{ opts.verbose_name_plural|capfirst }}</a>
&rsaquo; {{ title }}
</div>{% endblock %}
"""

_CONFIRMATION_TEMPLATE = (
    """{% extends "admin/base_site.html" %}
{% load admin_urls l10n %}
{% block bodyclass %}{{ block.super }} app-{{ opts.app_label }} model-{{ opts.model_name }} \
delete-confirmation{% endblock %}
"""
    + ADMIN_BREADCRUMBS
    + """{% block content %}
<p>{{ question }}</p>
<ul>{% for item in items %}<li>{{ item }}</li>{% endfor %}</ul>
<form method="post">{% csrf_token %}
{% if form %}{% if form.non_field_errors %}{{ form.non_field_errors }}{% endif %}
<fieldset class="module aligned">{% for field in form %}
<div class="form-row{% if field.errors %} errors{% endif %}">{{ field.errors }}
<div class="flex-container">{{ field.label_tag }} {{ field }}</div>
{% if field.help_text %}<div class="help">{{ field.help_text }}</div>{% endif %}
</div>{% endfor %}</fieldset>{% endif %}
<div>
{% for pk in selected %}<input type="hidden" name="{{ action_checkbox_name }}" value="{{ pk|unlocalize }}">{% endfor %}
{% for name, value in hidden.items %}<input type="hidden" name="{{ name }}" value="{{ value|unlocalize }}">{% endfor %}
<input type="hidden" name="action" value="{{ action }}">
<input type="hidden" name="post" value="yes">
<input type="submit" value="{{ submit_label }}">
<a href="{{ cancel_url }}" class="button cancel-link">No, take me back</a>
</div>
</form>
{% endblock %}
"""
)


@cache
def template_from(source: str):
    """A template compiled once from `source` (admin pages whose markup lives next to their code)."""
    return engines["django"].from_string(source)


def action_confirmation(
    request: HttpRequest,
    *,
    model_admin: admin.ModelAdmin,
    queryset: QuerySet,
    action: str,
    title: str,
    question: str,
    items: Iterable[str],
    submit_label: str,
    form: forms.Form | None = None,
    hidden: Mapping[str, Any] | None = None,
) -> TemplateResponse:
    """The standard intermediate page of an admin action: it lists what the action will touch, shows an
    optional form, and posts back to the changelist with `action`, `_selected_action` and `post=yes`, so
    the action runs again and finds `post` in the request."""
    request.current_app = model_admin.admin_site.name
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "question": question,
        "items": list(items),
        "form": form,
        "selected": list(queryset.values_list("pk", flat=True)),
        "hidden": dict(hidden or {}),
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "submit_label": submit_label,
        "cancel_url": request.get_full_path(),
    }
    return TemplateResponse(request, template_from(_CONFIRMATION_TEMPLATE), context)


def action_confirmed(request: HttpRequest) -> bool:
    """True when an action is posted back from its `action_confirmation` page."""
    return request.POST.get("post") == "yes"


def domain_error_text(error: DomainError) -> str:
    """A refusal as an admin message shows it: its message in words, without the code that API and MCP
    clients read."""
    return error.message


class ViewOnlyMixin(admin.ModelAdmin):
    """Objects are read-only in the admin (change only through the services), while the changelist keeps
    the model's change permission so that staff holding it may run the admin actions."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyMixin:
    """Records nobody changes: no add, no change, no delete (the audit log, MCP sessions)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
