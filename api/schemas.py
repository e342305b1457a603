"""Types shared by the JSON API's routers: the error body and the parameters every app's endpoints take.

Rules stay in the services and selectors; these types only add what the HTTP boundary needs so that no
value the database refuses reaches it (PostgreSQL refuses a NUL character in text, and both databases
refuse integers past 64 bits)."""

from __future__ import annotations

from typing import Annotated

from ninja import Field, Path, Query, Schema

from core.config.schema import ID_RE

# Agent and site ids follow the config files' rule, so anything else names none of them.
ID_PATTERN = f"^{ID_RE.pattern}$"
ID_DESCRIPTION = "1-50 characters of a-z, 0-9, '.', '_' and '-'"
# Free text: anything but NUL, which PostgreSQL cannot store or compare.
TEXT_PATTERN = r"^[^\u0000]*$"
# The largest integer both databases take (signed 64 bits).
DB_INT_MAX = 2**63 - 1

AgentIdPath = Annotated[str, Path(pattern=ID_PATTERN, description=f"agent id: {ID_DESCRIPTION}")]
SiteIdPath = Annotated[str, Path(pattern=ID_PATTERN, description=f"site id: {ID_DESCRIPTION}")]
AgentIdQuery = Annotated[str | None, Query(pattern=ID_PATTERN, description=f"agent id: {ID_DESCRIPTION}")]
SiteIdQuery = Annotated[str | None, Query(pattern=ID_PATTERN, description=f"site id: {ID_DESCRIPTION}")]
Text = Annotated[str, Field(pattern=TEXT_PATTERN)]


class ErrorOut(Schema):
    """Every error the API itself answers: a stable code, a message stating the rule, the field at fault."""

    code: str = Field(examples=["INVALID_TRANSITION"])
    message: str
    field: str | None = Field(None, description="the parameter or body field at fault, when one is")


class DetailOut(Schema):
    """django-ninja's own refusals, before an operation runs: 400 for a body that is not JSON, 401 when
    not logged in as staff, 403 when the CSRF token is missing."""

    detail: str
