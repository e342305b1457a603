"""Sites and their health as plain JSON-ready dicts (MCP results and the JSON API)."""

from __future__ import annotations

from typing import Any

from core.serialization import time_iso
from sites.models import Site


def site_summary(site: Site, *, include_detail: bool = False) -> dict[str, Any]:
    """A site and its health. The health `message` is a short reason of our own; `include_detail` (for
    reviewers, never for agents) adds `detail`, which may quote what the site's server answered."""
    health = {
        "status": site.health_status,
        "message": site.health_message,
        "latency_ms": site.health_latency_ms,
        "last_check": time_iso(site.last_health_check),
    }
    if include_detail:
        health["detail"] = site.health_detail
    return {
        "id": site.id,
        "name": site.name,
        "api_url": site.api_url,
        "is_active": site.is_active,
        "is_default": site.is_default,
        "default_category": site.default_category or None,
        "default_tags": site.default_tags,
        "health": health,
        "total_posts_published": site.total_posts_published,
    }
