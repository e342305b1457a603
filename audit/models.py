from __future__ import annotations

from dataclasses import dataclass

from django.db import models


class Category(models.TextChoices):
    AUTH = "auth"
    CONTENT = "content"
    PUBLISHING = "publishing"
    SITE = "site"
    SYSTEM = "system"


class Severity(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class EventType(models.TextChoices):
    AUTH_SUCCEEDED = "auth_succeeded"
    AUTH_FAILED = "auth_failed"
    IP_BLOCKED = "ip_blocked"
    LOGIN_LOCKED_OUT = "login_locked_out"
    KEY_CREATED = "key_created"
    KEY_ROTATED = "key_rotated"
    KEY_REVOKED = "key_revoked"
    AGENT_CONNECTED = "agent_connected"
    AGENT_DISCONNECTED = "agent_disconnected"
    RATE_LIMITED = "rate_limited"
    ARTICLE_SUBMITTED = "article_submitted"
    ARTICLE_REVISED = "article_revised"
    ARTICLE_APPROVED = "article_approved"
    ARTICLE_REJECTED = "article_rejected"
    PUBLISH_RETRY_REQUESTED = "publish_retry_requested"
    PUBLISH_STARTED = "publish_started"
    PUBLISH_RETRY_SCHEDULED = "publish_retry_scheduled"
    PUBLISH_SUCCEEDED = "publish_succeeded"
    PUBLISH_FAILED = "publish_failed"
    PUBLISH_RECOVERED = "publish_recovered"
    PUBLISH_DUPLICATE_TRASHED = "publish_duplicate_trashed"
    SITE_HEALTH_CHANGED = "site_health_changed"
    CONFIG_RELOADED = "config_reloaded"
    CONFIG_ERROR = "config_error"
    AUDIT_RETENTION_APPLIED = "audit_retention_applied"


@dataclass(frozen=True)
class EventTypeSpec:
    """What an event type means: its category in the audit log, the message of its toast in the console (None:
    the console shows the bare event type name), and whether that toast is an alert."""

    category: Category
    toast: str | None = None
    alert: bool = False


# Every event type, in one place. A new event type needs an entry here, and no migration.
EVENT_TYPES: dict[EventType, EventTypeSpec] = {
    EventType.AUTH_SUCCEEDED: EventTypeSpec(Category.AUTH),
    EventType.AUTH_FAILED: EventTypeSpec(Category.AUTH),
    EventType.IP_BLOCKED: EventTypeSpec(Category.AUTH),
    EventType.LOGIN_LOCKED_OUT: EventTypeSpec(Category.AUTH),
    EventType.KEY_CREATED: EventTypeSpec(Category.AUTH),
    EventType.KEY_ROTATED: EventTypeSpec(Category.AUTH),
    EventType.KEY_REVOKED: EventTypeSpec(Category.AUTH),
    EventType.AGENT_CONNECTED: EventTypeSpec(Category.AUTH, toast="Agent {agent_id} connected"),
    EventType.AGENT_DISCONNECTED: EventTypeSpec(Category.AUTH, toast="Agent {agent_id} disconnected"),
    EventType.RATE_LIMITED: EventTypeSpec(Category.AUTH),
    EventType.ARTICLE_SUBMITTED: EventTypeSpec(Category.CONTENT, toast="Article {article_id} submitted by {agent_id}"),
    EventType.ARTICLE_REVISED: EventTypeSpec(Category.CONTENT, toast="Article {article_id} revised"),
    EventType.ARTICLE_APPROVED: EventTypeSpec(Category.CONTENT, toast="Article {article_id} approved"),
    EventType.ARTICLE_REJECTED: EventTypeSpec(Category.CONTENT, toast="Article {article_id} rejected"),
    EventType.PUBLISH_RETRY_REQUESTED: EventTypeSpec(
        Category.PUBLISHING, toast="Article {article_id} queued for publishing again"
    ),
    EventType.PUBLISH_STARTED: EventTypeSpec(Category.PUBLISHING, toast="Publishing article {article_id} to {site_id}"),
    EventType.PUBLISH_RETRY_SCHEDULED: EventTypeSpec(
        Category.PUBLISHING, toast="Publishing article {article_id} will be retried", alert=True
    ),
    EventType.PUBLISH_SUCCEEDED: EventTypeSpec(
        Category.PUBLISHING, toast="Article {article_id} published on {site_id}"
    ),
    EventType.PUBLISH_FAILED: EventTypeSpec(
        Category.PUBLISHING, toast="Publishing article {article_id} failed", alert=True
    ),
    EventType.PUBLISH_RECOVERED: EventTypeSpec(Category.PUBLISHING),
    EventType.PUBLISH_DUPLICATE_TRASHED: EventTypeSpec(Category.PUBLISHING),
    EventType.SITE_HEALTH_CHANGED: EventTypeSpec(Category.SITE, toast="Site {site_id} is {health}"),
    EventType.CONFIG_RELOADED: EventTypeSpec(Category.SYSTEM),
    EventType.CONFIG_ERROR: EventTypeSpec(Category.SYSTEM),
    EventType.AUDIT_RETENTION_APPLIED: EventTypeSpec(Category.SYSTEM),
}


def event_type_spec(name: str) -> EventTypeSpec | None:
    """The registry entry of an event type name; None for anything that is not an event type."""
    try:
        return EVENT_TYPES.get(EventType(name))
    except ValueError:
        return None


def event_type_list() -> list[str]:
    """Every event type name, sorted: what the filters of the audit log offer."""
    return sorted(str(event_type) for event_type in EVENT_TYPES)


class AuditLog(models.Model):
    """One thing that happened. Agent, article and site are plain ids, not foreign keys: the log outlives
    what it names and must stay cheap to write and to delete in bulk."""

    event_type = models.CharField(max_length=50)  # an EventType: audit_record checks it against EVENT_TYPES
    category = models.CharField(max_length=30, choices=Category.choices)
    severity = models.CharField(max_length=20, choices=Severity.choices, default=Severity.INFO)
    agent_id = models.CharField(max_length=50, blank=True, default="")
    article_id = models.BigIntegerField(null=True, blank=True)
    site_id = models.CharField(max_length=50, blank=True, default="")
    username = models.CharField(max_length=150, blank=True, default="", help_text="Reviewer, when a person acted")
    message = models.CharField(max_length=1000)
    metadata = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True, default="")
    timestamp = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["agent_id", "-timestamp"], name="audit_agent_ts"),
            models.Index(fields=["event_type", "-timestamp"], name="audit_event_ts"),
            models.Index(fields=["site_id", "-timestamp"], name="audit_site_ts"),
            models.Index(fields=["article_id", "-timestamp"], name="audit_article_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.event_type}: {self.message}"
