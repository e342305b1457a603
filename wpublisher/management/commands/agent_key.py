from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agents.actors import Actor
from agents.selectors import agent_key_list
from agents.services import agent_key_revoke, agent_key_rotate
from configuration.reload import config_reload
from core.exceptions import DomainError
from core.keys import hash_spec_format, key_hash, key_lookup_id, key_strength_problem


class Command(BaseCommand):
    help = "Manage agent API keys: rotate, revoke, list (never shows a secret), hash (for api_key_hash)."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        rotate = actions.add_parser("rotate", help="print a new key once; old keys work until the grace ends")
        rotate.add_argument("agent_id")
        rotate.add_argument("--grace", type=int, default=3600, help="seconds the old keys keep working")
        revoke = actions.add_parser("revoke", help="revoke the agent's keys (or one, with --key)")
        revoke.add_argument("agent_id")
        revoke.add_argument("--key", dest="key_id", help="the key id to revoke (default: all)")
        listing = actions.add_parser("list", help="key ids, created, last used, state")
        listing.add_argument("agent_id", nargs="?")
        actions.add_parser("hash", help="read a key on stdin, print its api_key_hash value for agents.yml")

    def handle(self, *args, action: str, **options) -> None:
        if action == "hash":
            self._hash()
            return
        config_reload(sync=True)  # the database must know the agents in the files
        try:
            getattr(self, f"_{action}")(**options)
        except DomainError as error:
            raise CommandError(error.message) from None

    def _rotate(self, agent_id: str, grace: int, **_) -> None:
        key, token = agent_key_rotate(agent_id=agent_id, grace_seconds=grace, actor=Actor(system="manage.py agent_key"))
        self.stdout.write(f"new key {key.key_id} for agent {agent_id} (shown once):")
        self.stdout.write(token)
        self.stdout.write(f"the agent's other keys stop working in {grace} seconds")

    def _revoke(self, agent_id: str, key_id: str | None, **_) -> None:
        revoked = agent_key_revoke(agent_id=agent_id, key_id=key_id, actor=Actor(system="manage.py agent_key"))
        if not revoked:
            raise CommandError(f"agent {agent_id} has no usable key" + (f" with id {key_id}" if key_id else ""))
        self.stdout.write(f"revoked {', '.join(revoked)}")

    def _list(self, agent_id: str | None, **_) -> None:
        self.stdout.write(f"{'agent':<24} {'key id':<30} {'source':<8} {'created':<17} {'last used':<17} state")
        for key in agent_key_list(agent_id=agent_id):
            state = key.unusable_reason() or (
                "active" + (f" until {key.not_after:%Y-%m-%d %H:%M}" if key.not_after else "")
            )
            self.stdout.write(
                f"{key.agent_id:<24} {key.key_id:<30} {key.source:<8} {key.created_at:%Y-%m-%d %H:%M} "
                f"{f'{key.last_used_at:%Y-%m-%d %H:%M}' if key.last_used_at else 'never':<17} {state}"
            )

    def _hash(self) -> None:
        token = sys.stdin.readline().strip()
        if problem := key_strength_problem(token):
            raise CommandError(f"key refused: {problem}")
        self.stdout.write(
            hash_spec_format(key_lookup_id(token), key_hash(token, rounds=settings.API_KEY_BCRYPT_ROUNDS))
        )
