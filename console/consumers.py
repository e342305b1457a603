"""The console's websocket: logged-in reviewers receive every live event as htmx out-of-band swaps (a
toast, and a signal element that tells the page's regions to refresh themselves).

A websocket lives no longer than the login session it was opened with: logging out closes it at once (the
`user_logged_out` signal sends its session's group a "console.logout"), and one whose session has ended
otherwise (expired, idle past the live session_timeout, deleted) closes at its next event, sending nothing."""

from __future__ import annotations

import hashlib
import logging
import time
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.template.loader import render_to_string

from audit.models import event_type_spec
from console.middleware import LAST_SEEN_KEY, session_timeout_live
from core.events import CONSOLE_GROUP, console_event_relay

logger = logging.getLogger(__name__)
# The close code a console's websocket gets when its login session has ended.
SESSION_ENDED_CODE = 4401


def toast_text(event: dict) -> str:
    """The toast of a live event: its event type's message (EVENT_TYPES), else the bare event name."""
    spec = event_type_spec(event.get("event", ""))
    template = spec.toast if spec is not None and spec.toast is not None else "{event}"
    return template.format_map({"article_id": "", "agent_id": "", "site_id": "", "status": "", "health": "", **event})


def toast_alert(event: dict) -> bool:
    """Whether the toast of a live event stands out: its event type is an alert, or its status is bad."""
    spec = event_type_spec(event.get("event", ""))
    return (spec is not None and spec.alert) or event.get("status") in {"error", "warning"}


def console_session_group(session_key: str) -> str:
    """The channel group of the console websockets opened with one login session, named by a hash (the
    session key is a credential: it never goes into the channel layer)."""
    return "console-session-" + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def console_session_close(*, session_key: str) -> None:
    """Close the console websockets of a login session (it ended); from sync code (a view, a signal)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(console_session_group(session_key), {"type": "console.logout"})
    except Exception:
        # The consumers check their session at every event anyway: a lost message leaves none sending.
        logger.warning("could not close the console websockets of a session that ended", exc_info=True)


def console_logout_receiver(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """`user_logged_out`: the websockets of the session being logged out close now."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        console_session_close(session_key=session_key)


def _session_user_id(session_key: str) -> str | None:
    """The user a login session still belongs to: None once it is gone (logged out, deleted, expired, or
    idle longer than the live session_timeout)."""
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user_id = session.get(SESSION_KEY)
    last_seen = session.get(LAST_SEEN_KEY)
    if last_seen is not None and time.time() - last_seen > session_timeout_live():
        return None
    return user_id


class ConsoleConsumer(AsyncWebsocketConsumer):
    session_key: str | None = None
    user_id: str = ""
    username: str = ""
    ended = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        session = self.scope.get("session")
        if user is None or not user.is_authenticated or not user.is_staff or session is None or not session.session_key:
            await self.close(code=4403)
            return
        self.session_key = session.session_key
        self.user_id = str(user.pk)
        self.username = user.get_username()
        await self.channel_layer.group_add(CONSOLE_GROUP, self.channel_name)
        await self.channel_layer.group_add(console_session_group(self.session_key), self.channel_name)
        await self.accept()
        console_event_relay()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(CONSOLE_GROUP, self.channel_name)
        if self.session_key:
            await self.channel_layer.group_discard(console_session_group(self.session_key), self.channel_name)

    async def _end(self) -> None:
        """Its login session ended: close, and send nothing more."""
        if not self.ended:
            self.ended = True
            await self.close(code=SESSION_ENDED_CODE)

    async def console_logout(self, event: dict) -> None:
        await self._end()

    async def console_event(self, event: dict) -> None:
        if self.ended:
            return
        if self.session_key is None or await database_sync_to_async(_session_user_id)(self.session_key) != self.user_id:
            await self._end()
            return
        # What this reviewer did themselves they were told of by the page: the regions refresh, no toast.
        own = bool(event.get("username")) and event.get("username") == self.username
        html = render_to_string(
            "console/partials/live_event.html",
            {"event": event, "toast": "" if own else toast_text(event), "alert": toast_alert(event)},
        )
        await self.send(text_data=html)
