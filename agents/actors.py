"""Who acts in a write: every service that changes something takes one `Actor`."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from agents.models import Agent


@dataclass(frozen=True)
class Actor:
    """A person (console, API, admin: `user`), an agent (MCP: `agent`), or the system acting on its own
    (a command, the worker: `system` names it, as in "manage.py agent_key"). Exactly one of the three."""

    user: AbstractBaseUser | AnonymousUser | None = None
    agent: Agent | None = None
    system: str = ""

    def __post_init__(self) -> None:
        if sum((self.user is not None, self.agent is not None, bool(self.system))) != 1:
            raise ValueError("an actor is exactly one of a user, an agent and a system name")
        if self.user is not None and not self.user.is_authenticated:
            raise ValueError("an anonymous user does not act: the entry point requires a login")

    @property
    def label(self) -> str:
        """How messages name the actor: "agent writer", a username, or the system's name."""
        if self.agent is not None:
            return f"agent {self.agent.id}"
        return self.user.get_username() if self.user is not None else self.system

    @property
    def username(self) -> str:
        """For audit rows: the person's username, or the system's name; empty for an agent."""
        return self.user.get_username() if self.user is not None else self.system

    @property
    def agent_id(self) -> str | None:
        return self.agent.id if self.agent is not None else None
