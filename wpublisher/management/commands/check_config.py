from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.config.schema import config_read
from core.config.types import ConfigInvalid


class Command(BaseCommand):
    help = "Validate agents.yml, sites.yml, system.yml and api_keys.txt; exit 1 listing every problem."

    def handle(self, *args, **options) -> None:
        try:
            config = config_read(settings.CONFIG_DIR, environ=os.environ)
        except ConfigInvalid as invalid:
            for message in invalid.messages:
                self.stderr.write(message)
            raise CommandError(f"{len(invalid.messages)} problem(s) in {settings.CONFIG_DIR}", returncode=1) from None
        counts = f"{len(config.agents)} agents, {len(config.sites)} sites"
        self.stdout.write(f"configuration in {settings.CONFIG_DIR} is valid: {counts}")
