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
    """A query-string, form or URI parameter that cannot be read (core.params): answered 400, the
    message naming the parameter and its rule."""

    http_status = 400


class Forbidden(DomainError):
    code = "FORBIDDEN"
    http_status = 403


class URLRefused(DomainError):
    """A URL the SSRF guard (core/urlguard.py) will not let a request reach: not http(s), a host whose
    addresses include a refused one (link-local, cloud metadata, unspecified, multicast, reserved), or a
    redirect to another origin. `problem` is the message without the field; `reason` a short phrase of
    our own ("address refused", "redirected elsewhere", "host not found")."""

    code = "URL_REFUSED"
    http_status = 422

    def __init__(self, problem: str, *, field: str, reason: str = "address refused"):
        super().__init__(f"{field}: {problem}", field=field)
        self.problem = problem
        self.reason = reason
