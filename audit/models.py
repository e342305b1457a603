from __future__ import annotations

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


EVENT_CATEGORIES: dict[str, str] = {
    **dict.fromkeys(
        [
            EventType.AUTH_SUCCEEDED,
            EventType.AUTH_FAILED,
            EventType.IP_BLOCKED,
            EventType.LOGIN_LOCKED_OUT,
            EventType.KEY_CREATED,
            EventType.KEY_ROTATED,
            EventType.KEY_REVOKED,
            EventType.AGENT_CONNECTED,
            EventType.AGENT_DISCONNECTED,
            EventType.RATE_LIMITED,
        ],
        Category.AUTH,
    ),
    **dict.fromkeys(
        [
            EventType.ARTICLE_SUBMITTED,
            EventType.ARTICLE_REVISED,
            EventType.ARTICLE_APPROVED,
            EventType.ARTICLE_REJECTED,
        ],
        Category.CONTENT,
    ),
    **dict.fromkeys(
        [
            EventType.PUBLISH_RETRY_REQUESTED,
            EventType.PUBLISH_STARTED,
            EventType.PUBLISH_RETRY_SCHEDULED,
            EventType.PUBLISH_SUCCEEDED,
            EventType.PUBLISH_FAILED,
            EventType.PUBLISH_RECOVERED,
            EventType.PUBLISH_DUPLICATE_TRASHED,
        ],
        Category.PUBLISHING,
    ),
    EventType.SITE_HEALTH_CHANGED: Category.SITE,
    EventType.CONFIG_RELOADED: Category.SYSTEM,
    EventType.CONFIG_ERROR: Category.SYSTEM,
    EventType.AUDIT_RETENTION_APPLIED: Category.SYSTEM,
}


class AuditLog(models.Model):
    """One thing that happened. Agent, article and site are plain ids, not foreign keys: the log outlives
    what it names and must stay cheap to write and to delete in bulk."""

    event_type = models.CharField(max_length=50, choices=EventType.choices)
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
