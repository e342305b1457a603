from __future__ import annotations

import re
import secrets
import shutil

from django.conf import settings
from django.core.management.base import BaseCommand

from agents.keys import key_generate

EXAMPLES_DIR = settings.BASE_DIR / "config" / "examples"
# An example agent key line: `api_key: "${SOMETHING}"`; init puts a fresh key in its place.
_API_KEY_LINE = re.compile(r'^(?P<indent>\s*)api_key:\s*"?\$\{[A-Za-z_][A-Za-z0-9_]*\}"?\s*$')
_AGENT_ID_LINE = re.compile(r'^\s*-\s*id:\s*"?(?P<id>[^"\s]+)"?\s*$')


class Command(BaseCommand):
    help = (
        "Create the configuration from config/examples when there is none, with a fresh API key for "
        "every agent. The keys are printed once and stored only as hashes."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--reviewer", metavar="NAME", help="also create the console user NAME (its password is printed once)"
        )

    def handle(self, *args, reviewer: str | None = None, **options) -> None:
        self._config()
        if reviewer:
            self._reviewer(reviewer)

    def _reviewer(self, username: str) -> None:
        from django.contrib.auth import get_user_model

        password = secrets.token_urlsafe(18)
        user, created = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        verb = "created" if created else "reset the password of"
        self.stdout.write(f"{verb} reviewer {username}; password (shown once): {password}")

    def _config(self) -> None:
        target = settings.CONFIG_DIR
        if (target / "agents.yml").exists() or (target / "sites.yml").exists():
            self.stdout.write(f"configuration exists in {target}; nothing changed")
            return
        target.mkdir(parents=True, exist_ok=True)
        for example in sorted(EXAMPLES_DIR.iterdir()):
            if example.name == "agents.yml":
                text, keys = self._with_fresh_keys(example.read_text())
                path = target / example.name
                path.write_text(text)
                path.chmod(0o600)
            else:
                shutil.copy(example, target / example.name)
        self.stdout.write(f"created the configuration in {target}")
        self.stdout.write("API keys (shown once; give each to its agent as 'Authorization: Bearer <key>'):")
        for agent_id, key in keys:
            self.stdout.write(f"  {agent_id}: {key}")

    @staticmethod
    def _with_fresh_keys(text: str) -> tuple[str, list[tuple[str, str]]]:
        lines, keys, agent_id = [], [], "?"
        for line in text.splitlines(keepends=True):
            if match := _AGENT_ID_LINE.match(line):
                agent_id = match.group("id")
            if match := _API_KEY_LINE.match(line):
                _, key = key_generate()
                keys.append((agent_id, key))
                line = f'{match.group("indent")}api_key: "{key}"\n'
            lines.append(line)
        return "".join(lines), keys
