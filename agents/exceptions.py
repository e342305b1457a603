from __future__ import annotations

from core.exceptions import DomainError


class AgentNotFound(DomainError):
    code = "AGENT_NOT_FOUND"
    http_status = 404

    def __init__(self, agent_id: str):
        super().__init__(f"agent '{agent_id}' not found or inactive", field="agent_id")
        self.agent_id = agent_id


class AuthFailed(DomainError):
    """Authentication failed. `reason` is for the audit log; the caller sees the generic message. When the
    token is a stored key that no longer works (revoked, expired, of an inactive agent), `key_id` names it
    and `detail` says why for its holder (who has the key, so it tells no guesser anything): that is not a
    guess and does not count toward blocking the client's address."""

    code = "AUTH_FAILED"
    http_status = 401

    def __init__(self, reason: str, *, key_id: str | None = None, detail: str | None = None):
        super().__init__("invalid, expired or revoked API key")
        self.reason = reason
        self.key_id = key_id
        self.detail = detail or self.message

    @property
    def is_guess(self) -> bool:
        return self.key_id is None


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
