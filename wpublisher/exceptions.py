"""The base of every domain error. Each app's `exceptions.py` subclasses it with a stable code; entry
points (MCP tools, HTTP views, the console, commands) translate `code` and `message` once."""

from __future__ import annotations


class DomainError(Exception):
    code = "ERROR"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None):
        self.message = message
        self.field = field
        super().__init__(message)

    def as_dict(self) -> dict[str, str]:
        data = {"code": self.code, "message": self.message}
        if self.field:
            data["field"] = self.field
        return data


class ValidationFailed(DomainError):
    """Input broke a limit or rule; `field` names it and the message states the limit."""

    code = "VALIDATION_ERROR"
    http_status = 422


class ParameterInvalid(ValidationFailed):
    """A query-string, form or URI parameter that cannot be read (wpublisher.params): answered 400, the
    message naming the parameter and its rule."""

    http_status = 400


class Forbidden(DomainError):
    code = "FORBIDDEN"
    http_status = 403
