"""The ASGI application served by daphne: Django over HTTP and websockets (Channels).

Importing it loads and syncs the configuration and starts watching the config files, so the web
process is the one that keeps the database in step with the YAML."""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wpublisher.settings")
django.setup()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

from wpublisher.config.services import config_reload  # noqa: E402
from wpublisher.config.watcher import config_watch_start  # noqa: E402

django_application = get_asgi_application()

config_reload(sync=True)
config_watch_start(settings.CONFIG_DIR, sync=True)

application = ProtocolTypeRouter({"http": django_application})
