from __future__ import annotations

from wpublisher.exceptions import DomainError


class AgentNotFound(DomainError):
    code = "AGENT_NOT_FOUND"
    http_status = 404

    def __init__(self, agent_id: str):
        super().__init__(f"agent '{agent_id}' not found or inactive", field="agent_id")
        self.agent_id = agent_id


class AuthFailed(DomainError):
    """Authentication failed. `reason` is for the audit log; the caller only sees the generic message."""

    code = "AUTH_FAILED"
    http_status = 401

    def __init__(self, reason: str):
        super().__init__("invalid, expired or revoked API key")
        self.reason = reason


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
