"""The ASGI application served by daphne: Django, the MCP endpoints (/mcp, /sse, /messages/), and
websockets (Channels).

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

from mcp_bridge.asgi import gateway, is_mcp_path  # noqa: E402
from wpublisher.config.services import config_reload  # noqa: E402
from wpublisher.config.watcher import config_watch_start  # noqa: E402

django_application = get_asgi_application()

config_reload(sync=True)
config_watch_start(settings.CONFIG_DIR, sync=True)


async def http_application(scope, receive, send) -> None:
    if is_mcp_path(scope["path"]):
        await gateway(scope, receive, send)
    else:
        await django_application(scope, receive, send)


application = ProtocolTypeRouter({"http": http_application, "lifespan": gateway})
