from __future__ import annotations

from core.exceptions import DomainError


class SiteNotFound(DomainError):
    code = "SITE_NOT_FOUND"
    http_status = 404

    def __init__(self, site_id: str, *, field: str = "site_id", detail: str = "not configured or inactive"):
        super().__init__(f"site '{site_id}' {detail}", field=field)
        self.site_id = site_id


class WordPressError(DomainError):
    """A WordPress call failed. `retryable` marks failures worth trying again later: the site was
    unreachable or slow, or answered 429 or 5xx. Other 4xx answers will not change by retrying.

    `message` is the whole story, which may quote the remote answer (for reviewers); `reason` is a short
    phrase of our own words only ("unreachable: connection refused", "answered HTTP 503"), the one thing
    agents are shown of a failed health check."""

    code = "WORDPRESS_ERROR"
    http_status = 502

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        reason: str = "request failed",
        status: int | None = None,
        wp_code: str = "",
        data: dict | None = None,
    ):
        super().__init__(message)
        self.retryable = retryable
        self.reason = reason
        self.status = status
        self.wp_code = wp_code
        self.data = data or {}
