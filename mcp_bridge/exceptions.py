from __future__ import annotations

from core.exceptions import DomainError


class TooManyAgents(DomainError):
    code = "TOO_MANY_AGENTS"
    http_status = 503
