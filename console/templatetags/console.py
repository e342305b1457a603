from __future__ import annotations

from typing import Any

from django import template

from articles.models import ArticleStatus

register = template.Library()


@register.filter
def get_item(mapping: dict, key: Any) -> Any:
    return mapping.get(key, "")


@register.filter
def status_label(value: str) -> str:
    return ArticleStatus(value).label if value in ArticleStatus.values else value
