"""What an agent may do, granted per agent in agents.yml (`scopes`). The config parser validates them here,
at the bottom, so that every layer names them the same way."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    SUBMIT = "article:submit"  # submit articles, revise its own
    READ = "article:read"  # read every agent's articles, not only its own
    REVISE = "article:revise"  # revise other agents' pending articles
    REVIEW = "article:review"  # approve, reject and retry others' articles (never a revision it wrote)


# An agent whose entry names no scopes.
DEFAULT_SCOPES: tuple[Scope, ...] = (Scope.SUBMIT, Scope.READ)
