from __future__ import annotations

from django.db import models


class HealthStatus(models.TextChoices):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    WARNING = "warning"
    ERROR = "error"


# A site's health as people read it: "Site blog is failing", in the audit log and the console's toasts.
HEALTH_WORDS: dict[str, str] = {
    HealthStatus.UNKNOWN: "not checked yet",
    HealthStatus.HEALTHY: "healthy",
    HealthStatus.WARNING: "having trouble",
    HealthStatus.ERROR: "failing",
}


class Site(models.Model):
    """A WordPress site, synced from sites.yml. Its application password lives only in the config files
    and process memory, never in the database."""

    id = models.CharField(primary_key=True, max_length=50)
    name = models.CharField(max_length=100)
    api_url = models.CharField(max_length=255)
    username = models.CharField(max_length=100)
    default_category = models.CharField(max_length=100, blank=True, default="")
    default_tags = models.JSONField(default=list, blank=True)
    max_connections = models.PositiveIntegerField(default=5)
    idle_timeout = models.PositiveIntegerField(default=300)
    health_check_interval = models.PositiveIntegerField(default=60)
    is_default = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0, help_text="Order in sites.yml; the first is the default")
    is_active = models.BooleanField(default=True)
    health_status = models.CharField(max_length=10, choices=HealthStatus.choices, default=HealthStatus.UNKNOWN)
    # What agents see: the status's short reason, in our own words only. The remote answer (which may be
    # anything the api_url's server says) goes to `health_detail`, shown to reviewers only.
    health_message = models.CharField(max_length=500, blank=True, default="")
    health_detail = models.TextField(blank=True, default="", help_text="The last check's full result, for reviewers")
    health_latency_ms = models.FloatField(null=True, blank=True)
    last_health_check = models.DateTimeField(null=True, blank=True)
    health_check_queued_at = models.DateTimeField(null=True, blank=True)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="The site's time zone as WordPress last said (an IANA name, or UTC+5:30); empty: not read yet",
    )
    total_posts_published = models.PositiveIntegerField(default=0)
    total_publish_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class SiteHealthSample(models.Model):
    """One health check's result, for the latency and health history charts (kept 7 days)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="health_samples")
    checked_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=HealthStatus.choices)
    latency_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-checked_at"]
        indexes = [models.Index(fields=["site", "-checked_at"], name="health_sample_site_time")]

    def __str__(self) -> str:
        return f"{self.site_id} {self.status} at {self.checked_at:%Y-%m-%d %H:%M:%S}"
