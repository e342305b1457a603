"""Cleaning what agents send: titles, content, tags, categories, the post's fields (slug, excerpt, status,
schedule), metadata and the target site, each refused with the field and the limit it broke."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from agents.models import Agent
from core.config.state import config_current
from core.config.types import POST_STATUSES, SystemSettings, term_name_problem
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
EXCERPT_MAX = 1000
CATEGORIES_MAX = 10
PUBLISH_AT_RULE = "an ISO 8601 date-time with an offset, like 2026-12-01T09:00:00+01:00 or 2026-12-01T08:00:00Z"
# The status a post scheduled with `publish_at` asks for: it goes public at that time.
SCHEDULED_STATUS = "publish"


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


def _category_name(name: str, *, field: str) -> str:
    name = _no_nul(name.strip(), field)
    if len(name) > CATEGORY_MAX:
        subject = "category" if field == "category" else f"each of {field}"
        raise ValidationFailed(f"{subject} must be at most {CATEGORY_MAX} characters (got {len(name)})", field=field)
    return _plain_term_name(name, field=field)


def category_clean(category: Any) -> str:
    if category is None:
        return ""
    if not isinstance(category, str):
        raise ValidationFailed("category must be a string", field="category")
    return _category_name(category, field="category")


def categories_clean(*, categories: Any, category: Any) -> list[str] | None:
    """The article's category names from `categories` (a list) or `category` (one name, as before): blanks
    dropped, duplicates (any case) removed; None when neither was given. Both at once are refused."""
    if categories is not None and category is not None:
        raise ValidationFailed("give either category or categories, not both", field="categories")
    if category is not None:
        name = category_clean(category)
        return [name] if name else []
    if categories is None:
        return None
    if not isinstance(categories, list | tuple) or not all(isinstance(c, str) for c in categories):
        raise ValidationFailed("categories must be a list of category names", field="categories")
    present = [name for name in categories if name.strip()]
    if len(present) > CATEGORIES_MAX:
        raise ValidationFailed(f"at most {CATEGORIES_MAX} categories (got {len(present)})", field="categories")
    cleaned: dict[str, str] = {}
    for name in present:
        name = _category_name(name, field="categories")
        cleaned.setdefault(name.casefold(), name)
    return list(cleaned.values())


def excerpt_clean(excerpt: Any) -> str:
    """The post's excerpt: plain text, like the title (sent escaped: readers see it as written)."""
    return text_clean(excerpt, field="excerpt", limit=EXCERPT_MAX)


def post_status_clean(status: Any) -> str:
    """The WordPress status an article asks for; "" or None for the site's (publishing.default_status)."""
    if status is None or status == "":
        return ""
    if not isinstance(status, str) or status not in POST_STATUSES:
        shown = f" (got {status[:40]!r})" if isinstance(status, str) else ""
        raise ValidationFailed(
            f"status must be one of {', '.join(POST_STATUSES)}{shown}; to schedule a post, give publish_at",
            field="status",
        )
    return status


def publish_at_clean(publish_at: Any, *, now: datetime) -> datetime | None:
    """When the post goes public, in UTC to the second; "" or None for at once. It must carry its offset
    (a time without one means a different moment in every zone) and lie after `now`."""
    if publish_at is None or publish_at == "":
        return None
    if not isinstance(publish_at, str) or len(publish_at) > 64:
        raise ValidationFailed(f"publish_at must be {PUBLISH_AT_RULE}", field="publish_at")
    try:
        when = datetime.fromisoformat(publish_at.strip())
    except ValueError:
        raise ValidationFailed(
            f"publish_at must be {PUBLISH_AT_RULE} (got {publish_at!r})", field="publish_at"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationFailed(
            f"publish_at must be {PUBLISH_AT_RULE}: {publish_at!r} has no offset, so it names a different "
            "moment in every time zone",
            field="publish_at",
        )
    when = when.astimezone(UTC).replace(microsecond=0)
    if when <= now:
        raise ValidationFailed(
            f"publish_at {when:%Y-%m-%d %H:%M:%S} UTC is in the past (now {now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC)",
            field="publish_at",
        )
    return when


def post_status_check(*, post_status: str, publish_at: datetime | None, site_id: str) -> None:
    """Refuse a status the site does not allow (its `allowed_statuses`), and a schedule with a status other
    than publish: a scheduled post goes public at `publish_at`, so the site must allow publish."""
    if publish_at is not None and post_status not in ("", SCHEDULED_STATUS):
        raise ValidationFailed(
            f"publish_at schedules the post to go public: status must be {SCHEDULED_STATUS} or absent "
            f"(got {post_status!r})",
            field="publish_at",
        )
    if not post_status and publish_at is None:
        return  # the site's default status: nothing to check against its allowed_statuses
    site = config_current().site(site_id)
    allowed = site.allowed_statuses if site is not None else POST_STATUSES
    if post_status and post_status not in allowed:
        raise ValidationFailed(
            f"status {post_status!r} is not allowed on site {site_id} (allowed_statuses: {', '.join(allowed)})",
            field="status",
        )
    if publish_at is not None and SCHEDULED_STATUS not in allowed:
        raise ValidationFailed(
            f"publish_at makes a post public, which site {site_id} does not allow "
            f"(allowed_statuses: {', '.join(allowed)})",
            field="publish_at",
        )


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


def revision_hash(
    *,
    title: str,
    content_markdown: str,
    tags: Iterable[str],
    category: str,
    slug: str = "",
    excerpt: str = "",
    categories: Iterable[str] = (),
    post_status: str = "",
    publish_at: datetime | None = None,
) -> str:
    # Later fields join only when set, so the hashes of revisions without them stay as they were (one
    # category is `category` already).
    categories = list(categories)
    later = {
        "excerpt": excerpt,
        "categories": categories if len(categories) > 1 else [],
        "status": post_status,
        "publish_at": publish_at.astimezone(UTC).isoformat() if publish_at else "",
    }
    set_later = {name: value for name, value in later.items() if value}
    fields = [
        title,
        content_markdown,
        list(tags),
        category,
        *([slug] if slug else []),
        *([set_later] if set_later else []),
    ]
    canonical = json.dumps(fields, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
