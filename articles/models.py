from __future__ import annotations

from django.conf import settings
from django.db import models


class ArticleStatus(models.TextChoices):
    PENDING_REVIEW = "pending_review", "pending review"
    PUBLISHING = "publishing", "publishing"
    PUBLISHED = "published", "published"
    PUBLISH_FAILED = "publish_failed", "publish failed"
    REJECTED = "rejected", "rejected"


def _category_names(categories: list[str], category: str) -> list[str]:
    """The categories the agent set: `categories` (`category` is its first), or for an article from before
    there were several, `category` alone."""
    return list(categories) or ([category] if category else [])


class Article(models.Model):
    title = models.CharField(max_length=200)
    content_markdown = models.TextField()
    content_html = models.TextField(help_text="Sanitized HTML: what the console shows and WordPress receives")
    tags = models.JSONField(default=list, blank=True)
    category = models.CharField(max_length=100, blank=True, default="")
    slug = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="The post's URL slug the agent set; empty: WordPress's own slug of the title",
    )
    excerpt = models.CharField(max_length=1000, blank=True, default="", help_text="The post's excerpt, plain text")
    categories = models.JSONField(
        default=list, blank=True, help_text="Every category the agent set, `category` first; empty: the site's"
    )
    post_status = models.CharField(
        max_length=20, blank=True, default="", help_text="The WordPress status the agent asked for; empty: the site's"
    )
    publish_at = models.DateTimeField(
        null=True, blank=True, help_text="When the post goes public (published as a future post); empty: at once"
    )
    status = models.CharField(max_length=20, choices=ArticleStatus.choices, default=ArticleStatus.PENDING_REVIEW)

    wordpress_post_id = models.BigIntegerField(null=True, blank=True)
    wordpress_permalink = models.CharField(max_length=500, blank=True, default="")
    publish_error_message = models.TextField(blank=True, default="")

    submitting_agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="submitted_articles")
    publishing_agent = models.ForeignKey(
        "agents.Agent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="approved_articles",
        help_text="The agent that approved it for publishing, when an agent did",
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reviewed_articles",
    )
    target_site = models.ForeignKey("sites.Site", on_delete=models.PROTECT, related_name="articles")
    agent_metadata = models.JSONField(default=dict, blank=True)

    reviewer_notes = models.TextField(blank=True, default="")
    rejection_reason = models.TextField(blank=True, default="")

    revision_number = models.PositiveIntegerField(default=1)
    content_hash = models.CharField(max_length=64, help_text="Hash of the current revision")
    approved_content_hash = models.CharField(max_length=64, blank=True, default="")
    publish_attempts = models.PositiveIntegerField(default=0)
    publish_claimed_by = models.CharField(
        max_length=100, blank=True, default="", help_text="host:pid of the worker holding the publish"
    )
    publish_claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set while a worker holds the publish; cleared when it ends"
    )
    publish_due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the queued publish task should start; unclaimed well past it, the task counts as lost",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["submitting_agent", "status"], name="article_agent_status"),
            models.Index(fields=["target_site", "status"], name="article_site_status"),
            models.Index(fields=["status", "-updated_at", "submitting_agent"], name="article_status_updated"),
            models.Index(fields=["-created_at", "-id"], name="article_created"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def category_names(self) -> list[str]:
        return _category_names(self.categories, self.category)


class ArticleRevision(models.Model):
    """Every version of an article, with who wrote it: a writer drafts, an SEO agent revises."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    content_markdown = models.TextField()
    tags = models.JSONField(default=list, blank=True)
    category = models.CharField(max_length=100, blank=True, default="")
    slug = models.CharField(max_length=200, blank=True, default="")
    excerpt = models.CharField(max_length=1000, blank=True, default="")
    categories = models.JSONField(default=list, blank=True)
    post_status = models.CharField(max_length=20, blank=True, default="")
    publish_at = models.DateTimeField(null=True, blank=True)
    content_hash = models.CharField(max_length=64)
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, null=True, blank=True, related_name="revisions")
    note = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["article_id", "number"]
        constraints = [models.UniqueConstraint(fields=["article", "number"], name="revision_number_unique")]

    def __str__(self) -> str:
        return f"article {self.article_id} revision {self.number}"

    @property
    def category_names(self) -> list[str]:
        return _category_names(self.categories, self.category)


class IdempotencyKey(models.Model):
    """A write an agent made with an `idempotency_key`: the same key again returns the article it wrote
    instead of writing twice (a retry after an answer was lost). Kept for IDEMPOTENCY_KEY_TTL."""

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=100)
    action = models.CharField(max_length=30)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the action and its arguments")
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "key"], name="idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.key}"


class AgentDailyUsage(models.Model):
    """What an agent wrote on one UTC day, counted against its quotas (system.yml `quotas`): articles
    submitted, and bytes of Markdown stored, submissions and revisions alike."""

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="daily_usage")
    day = models.DateField(help_text="UTC")
    submissions = models.PositiveIntegerField(default=0)
    storage_bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "day"], name="agent_daily_usage_unique")]

    def __str__(self) -> str:
        return f"{self.agent_id} on {self.day}"
