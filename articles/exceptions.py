from __future__ import annotations

from core.exceptions import DomainError


class ArticleNotFound(DomainError):
    code = "ARTICLE_NOT_FOUND"
    http_status = 404

    def __init__(self, article_id: int):
        super().__init__(f"article {article_id} not found", field="article_id")
        self.article_id = article_id


class InvalidTransition(DomainError):
    code = "INVALID_TRANSITION"
    http_status = 409


class ArticleChanged(InvalidTransition):
    """The article was revised after the reviewer looked at it."""


class PublishingBusy(DomainError):
    """`publishing.max_concurrent_publishes` publishes are running; try again shortly."""

    code = "PUBLISHING_BUSY"
    http_status = 503
