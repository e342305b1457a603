"""Cleaning what agents send: titles, content, tags, category, metadata and the target site, each refused
with the field and the limit it broke."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable
from typing import Any

from agents.models import Agent
from core.config.types import SystemSettings, term_name_problem
from core.exceptions import Forbidden, ValidationFailed
from sites.exceptions import SiteNotFound
from sites.models import Site
from sites.selectors import site_active_ids

TITLE_MAX = 200
CATEGORY_MAX = 100
NOTE_MAX = 500
SLUG_MAX = 200
SLUG_RULE = (
    f"1 to {SLUG_MAX} lowercase letters (of any script), digits and single hyphens, "
    "starting and ending with a letter or digit"
)
# Unicode categories a slug may use besides "-": lowercase and caseless letters (with the combining marks of
# scripts such as Devanagari) and decimal digits. WordPress percent-encodes the non-ASCII ones in the URL.
_SLUG_CATEGORIES = frozenset({"Ll", "Lm", "Lo", "Mn", "Mc", "Nd"})
REASON_MAX = 2000


def _no_nul(value: str, field: str) -> str:
    """Text the databases can store: PostgreSQL refuses the NUL character."""
    if "\x00" in value:
        raise ValidationFailed(f"{field} must not contain NUL characters", field=field)
    return value


def title_clean(title: Any) -> str:
    if not isinstance(title, str):
        raise ValidationFailed("title must be a string", field="title")
    title = _no_nul(title.strip(), "title")
    if not 1 <= len(title) <= TITLE_MAX:
        raise ValidationFailed(f"title must be 1 to {TITLE_MAX} characters (got {len(title)})", field="title")
    return title


def content_clean(content: Any, limits: SystemSettings) -> str:
    if not isinstance(content, str) or not content.strip():
        raise ValidationFailed("content_markdown must not be empty", field="content_markdown")
    _no_nul(content, "content_markdown")
    size = len(content.encode("utf-8"))
    if size > limits.max_content_bytes:
        raise ValidationFailed(
            f"content_markdown is {size} bytes; the limit is {limits.max_content_bytes} bytes",
            field="content_markdown",
        )
    return content


def _plain_term_name(name: str, *, field: str) -> str:
    if problem := term_name_problem(name):
        raise ValidationFailed(f"{field} {problem}", field=field)
    return name


def tags_clean(tags: Any, limits: SystemSettings) -> list[str]:
    """Tags as a list or a comma-separated string; blanks dropped, duplicates (any case) removed. The
    count is checked before any tag is looked at further, and the work grows linearly with the input."""
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise ValidationFailed("tags must be a list of strings or a comma-separated string", field="tags")
    present = [tag.strip() for tag in tags if not tag.isspace() and tag]
    if len(present) > limits.max_tags:
        raise ValidationFailed(f"at most {limits.max_tags} tags (got {len(present)})", field="tags")
    cleaned: dict[str, str] = {}
    for tag in present:
        if len(tag) > limits.max_tag_length:
            raise ValidationFailed(
                f"tag '{tag[:20]}…' is {len(tag)} characters; the limit is {limits.max_tag_length}", field="tags"
            )
        cleaned.setdefault(tag.casefold(), _plain_term_name(_no_nul(tag, "tags"), field="tags"))
    return list(cleaned.values())


def category_clean(category: Any) -> str:
    if category is None:
        return ""
    if not isinstance(category, str):
        raise ValidationFailed("category must be a string", field="category")
    category = _no_nul(category.strip(), "category")
    if len(category) > CATEGORY_MAX:
        raise ValidationFailed(
            f"category must be at most {CATEGORY_MAX} characters (got {len(category)})", field="category"
        )
    return _plain_term_name(category, field="category")


def slug_clean(slug: Any) -> str:
    """The post slug an agent sets, as WordPress will keep it (it would lowercase, merge and trim hyphens, so
    such a slug is refused rather than changed); "" or None for none: WordPress's slug of the title."""
    if slug is None:
        return ""
    if not isinstance(slug, str):
        raise ValidationFailed("slug must be a string", field="slug")
    if slug == "":
        return ""
    valid = (
        len(slug) <= SLUG_MAX
        and all(ch == "-" or unicodedata.category(ch) in _SLUG_CATEGORIES for ch in slug)
        and not slug.startswith("-")
        and not slug.endswith("-")
        and "--" not in slug
        and unicodedata.category(slug[0]) not in ("Mn", "Mc")
    )
    if not valid:
        shown = slug if len(slug) <= 40 else slug[:40] + "…"
        raise ValidationFailed(f"slug must be {SLUG_RULE} (got {shown!r})", field="slug")
    return slug


def metadata_clean(metadata: Any, limits: SystemSettings) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValidationFailed("agent_metadata must be a JSON object", field="agent_metadata")
    try:
        size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError) as error:
        raise ValidationFailed(f"agent_metadata is not valid JSON: {error}", field="agent_metadata") from None
    if size > limits.max_metadata_bytes:
        raise ValidationFailed(
            f"agent_metadata is {size} bytes; the limit is {limits.max_metadata_bytes} bytes",
            field="agent_metadata",
        )
    return metadata


def text_clean(value: Any, *, field: str, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string", field=field)
    value = _no_nul(value.strip(), field)
    if required and not value:
        raise ValidationFailed(f"{field} is required", field=field)
    if len(value) > limit:
        raise ValidationFailed(f"{field} must be at most {limit} characters (got {len(value)})", field=field)
    return value


def site_resolve(agent: Agent, site_id: Any) -> str:
    """The id of the site an agent publishes to: the one named, else the default (or first) it may use."""
    active = site_active_ids()
    if site_id in (None, ""):
        candidates = [s for s in active if agent.may_use_site(s)]
        if not candidates:
            raise SiteNotFound(
                "(default)", field="target_site", detail="is not available: no active site this agent may use"
            )
        return candidates[0]
    if not isinstance(site_id, str):
        raise ValidationFailed("target_site must be a site id string", field="target_site")
    if site_id not in active:
        configured = Site.objects.filter(pk=site_id).exists()
        raise SiteNotFound(site_id, field="target_site", detail="is inactive" if configured else "is not configured")
    if not agent.may_use_site(site_id):
        allowed = ", ".join(agent.allowed_sites or [])
        raise Forbidden(
            f"agent {agent.id} may not publish to site '{site_id}' (allowed: {allowed})", field="target_site"
        )
    return site_id


def revision_hash(*, title: str, content_markdown: str, tags: Iterable[str], category: str, slug: str = "") -> str:
    # The slug joins only when set, so the hashes of revisions without one stay as they were.
    fields = [title, content_markdown, list(tags), category, *([slug] if slug else [])]
    canonical = json.dumps(fields, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
