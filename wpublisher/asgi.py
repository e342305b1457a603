"""The ASGI application served by daphne: Django, the MCP endpoints (/mcp, /sse, /messages/), and the
console's websocket (/ws/console/, Channels).

Importing it loads and syncs the configuration and starts watching the config files, so the web
process is the one that keeps the database in step with the YAML."""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wpublisher.settings")
django.setup()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.db import connections  # noqa: E402
from django.urls import path  # noqa: E402

from articles.consumers import ConsoleConsumer  # noqa: E402
from mcp_bridge.asgi import gateway, is_mcp_path  # noqa: E402
from wpublisher.config.services import config_reload  # noqa: E402
from wpublisher.config.watcher import config_watch_start  # noqa: E402
from wpublisher.events import console_events_served_here  # noqa: E402

django_application = get_asgi_application()

config_reload(sync=True)
config_watch_start(settings.CONFIG_DIR, sync=True)
console_events_served_here()
connections.close_all()  # this thread serves no request: its connection would idle (or hold a pool slot)


async def http_application(scope, receive, send) -> None:
    if is_mcp_path(scope["path"]):
        await gateway(scope, receive, send)
    else:
        await django_application(scope, receive, send)


websocket_application = AllowedHostsOriginValidator(
    AuthMiddlewareStack(URLRouter([path("ws/console/", ConsoleConsumer.as_asgi())]))
)

application = ProtocolTypeRouter({"http": http_application, "websocket": websocket_application, "lifespan": gateway})
