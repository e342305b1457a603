from __future__ import annotations

import re

from django.conf import settings
from django.core.management.base import BaseCommand

from console.reviewers import reviewer_create
from core.files import file_write_private
from core.keys import hash_spec_format, key_generate, key_hash, key_spec_id

EXAMPLES_DIR = settings.BASE_DIR / "config" / "examples"
# An example agent key line: `api_key: "${SOMETHING}"`; init puts a fresh key in its place.
_API_KEY_LINE = re.compile(r'^(?P<indent>\s*)api_key:\s*"?\$\{[A-Za-z_][A-Za-z0-9_]*\}"?\s*$')
_AGENT_ID_LINE = re.compile(r'^\s*-\s*id:\s*"?(?P<id>[^"\s]+)"?\s*$')


class Command(BaseCommand):
    help = (
        "Create the configuration from config/examples when there is none, with a fresh API key for "
        "every agent. The keys are printed once; the files and the database hold only their hashes."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--reviewer",
            metavar="NAME",
            help="also create the reviewer NAME: a staff user (not a superuser) in the Reviewers group; its "
            "password is printed once",
        )

    def handle(self, *args, reviewer: str | None = None, **options) -> None:
        self._config()
        if reviewer:
            self._reviewer(reviewer)

    def _reviewer(self, username: str) -> None:
        _, created, password = reviewer_create(username=username)
        verb = "created" if created else "reset the password of"
        self.stdout.write(f"{verb} reviewer {username}; password (shown once): {password}")

    def _config(self) -> None:
        target = settings.CONFIG_DIR
        if (target / "agents.yml").exists() or (target / "sites.yml").exists():
            self.stdout.write(f"configuration exists in {target}; nothing changed")
            return
        target.mkdir(parents=True, exist_ok=True)
        keys: list[tuple[str, str]] = []
        for example in sorted(EXAMPLES_DIR.iterdir()):
            text = example.read_text()
            if example.name == "agents.yml":
                text, keys = self._with_fresh_keys(text)
            # Every config file may hold secrets (app passwords, keys): owner only.
            file_write_private(target / example.name, text)
        self.stdout.write(f"created the configuration in {target}")
        self.stdout.write("API keys (shown once; give each to its agent as 'Authorization: Bearer <key>'):")
        for agent_id, key in keys:
            self.stdout.write(f"  {agent_id}: {key}")

    @staticmethod
    def _with_fresh_keys(text: str) -> tuple[str, list[tuple[str, str]]]:
        """The file with a fresh key's `api_key_hash` in place of each example key, and the keys (agent id,
        key), which the file never holds in clear."""
        lines, keys, agent_id = [], [], "?"
        for line in text.splitlines(keepends=True):
            if match := _AGENT_ID_LINE.match(line):
                agent_id = match.group("id")
            if match := _API_KEY_LINE.match(line):
                _, key = key_generate()
                keys.append((agent_id, key))
                spec = hash_spec_format(key_spec_id(key), key_hash(key, rounds=settings.API_KEY_BCRYPT_ROUNDS))
                line = f'{match.group("indent")}api_key_hash: "{spec}"\n'
            lines.append(line)
        return "".join(lines), keys
