"""The configuration as plain immutable values: what agents.yml, sites.yml, system.yml and api_keys.txt say once
parsed and validated (core.config.schema), and what every layer reads from the running config
(core.config.state). No parsing, no Django."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from core.exceptions import DomainError
from core.scopes import DEFAULT_SCOPES, Scope

KNOWN_SCOPES: tuple[str, ...] = tuple(Scope)
PUBLISH_STATUSES = ("publish", "draft", "pending")
# The WordPress statuses an article may ask for (`status`); a site narrows them with `allowed_statuses`.
POST_STATUSES = (*PUBLISH_STATUSES, "private")
# How a site receives an article's HTML: as WordPress core blocks (the block editor edits each paragraph,
# heading, list...), or as plain HTML (one "Classic" block in the editor).
CONTENT_FORMATS = ("blocks", "html")

AGENTS_FILE = "agents.yml"
SITES_FILE = "sites.yml"
SYSTEM_FILE = "system.yml"
API_KEYS_FILE = "api_keys.txt"


# What WordPress would silently change in a category or tag name: it strips markup (a name of markup alone
# becomes empty and is refused with `500 empty_term_name`), control characters and %-escapes.
_TERM_NAME_CHANGED = re.compile(r"<|[\x00-\x1f\x7f]|%[0-9A-Fa-f]{2}")


def term_name_problem(name: str) -> str | None:
    """Why WordPress would not store a category or tag name as written, or None when it would."""
    found = _TERM_NAME_CHANGED.search(name)
    if found is None:
        return None
    return (
        f"must be plain text: {found[0]!r} in '{name[:40]}' is not allowed "
        "(WordPress strips markup, control characters and %-escapes from category and tag names)"
    )


class ConfigInvalid(DomainError):
    """The files do not form a valid configuration; `messages` lists every problem."""

    code = "CONFIG_ERROR"
    http_status = 503

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("; ".join(messages))


@dataclass(frozen=True)
class KeySpec:
    """One API key an agent may present. Exactly one of `secret` and `bcrypt_hash` is set."""

    lookup_id: str
    source: str  # where it came from, e.g. "agents.yml: agents[0].api_key" (never the key itself)
    secret: str | None = field(default=None, repr=False)
    bcrypt_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AgentConfig:
    id: str
    name: str
    role: str
    description: str = ""
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    allowed_sites: tuple[str, ...] | None = None  # None: every site
    keys: tuple[KeySpec, ...] = ()
    created_at: datetime | None = None


@dataclass(frozen=True)
class SiteConfig:
    id: str
    name: str
    api_url: str  # ends with /wp-json/wp/v2, no trailing slash
    username: str
    app_password: str = field(repr=False)
    default_category: str | None = None
    default_tags: tuple[str, ...] = ()
    max_connections: int = 5
    idle_timeout: int = 300
    health_check_interval: int = 60
    is_default: bool = False
    # False: every `[` of the HTML sent to the site is written `&#91;`, so WordPress runs no shortcode
    # (`[embed]` would make the site fetch a URL), and a URL it would auto-embed has its `//` written
    # `&#47;&#47;`; readers see the characters as written.
    allow_shortcodes: bool = False
    # False: Markdown that starts with an H1 repeating the article's title is sent without it (the theme
    # prints the title; the post would show it twice).
    keep_leading_heading: bool = False
    # One of CONTENT_FORMATS: "blocks" sends the HTML as core block markup (articles.blocks).
    content_format: str = "blocks"
    # The statuses an article may ask for on this site (POST_STATUSES); it must hold publishing.default_status,
    # which articles that ask for none get, and "publish" for a `publish_at` (a scheduled post goes public).
    allowed_statuses: tuple[str, ...] = POST_STATUSES


@dataclass(frozen=True)
class GlobalSettings:
    max_concurrent_agents: int = 10
    session_timeout: int = 1800
    key_rotation_enabled: bool = False
    audit_log_level: str = "info"


@dataclass(frozen=True)
class PublishingSettings:
    default_status: str = "publish"
    max_concurrent_publishes: int = 5
    retry_attempts: int = 3
    retry_delay: int = 30
    timeout: int = 120


@dataclass(frozen=True)
class SystemSettings:
    max_content_bytes: int = 256 * 1024
    max_tags: int = 20
    max_tag_length: int = 50
    max_metadata_bytes: int = 16 * 1024
    max_request_bytes: int = 1024 * 1024
    trusted_proxy_count: int = 0
    auth_failure_limit: int = 10
    auth_failure_window: int = 300
    auth_block_duration: int = 3600
    tool_calls_per_minute: int = 120
    audit_retention_days: int = 90
    sessions_per_agent: int = 20
    submissions_per_day: int = 200
    storage_mb_per_day: int = 50


@dataclass(frozen=True)
class Config:
    agents: tuple[AgentConfig, ...]
    sites: tuple[SiteConfig, ...]
    global_settings: GlobalSettings
    publishing: PublishingSettings
    system: SystemSettings
    fingerprint: str  # sha256 over the files' bytes: equal fingerprints, equal config

    def agent(self, agent_id: str) -> AgentConfig | None:
        return next((a for a in self.agents if a.id == agent_id), None)

    def site(self, site_id: str) -> SiteConfig | None:
        return next((s for s in self.sites if s.id == site_id), None)

    @property
    def default_site(self) -> SiteConfig | None:
        return next((s for s in self.sites if s.is_default), self.sites[0] if self.sites else None)

    def secrets(self) -> frozenset[str]:
        """Every secret the files hold, so logs and audit rows can be scrubbed of them."""
        values = {s.app_password for s in self.sites}
        values |= {k.secret for a in self.agents for k in a.keys if k.secret}
        return frozenset(v for v in values if v)
