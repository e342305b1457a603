"""Console sessions follow changes at once (issue 13): a session_timeout lowered by a config reload ends the
sessions already idle longer at their next request, logging out closes that session's console websockets,
and a websocket whose session is gone sends nothing more."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.urls import path

from console.consumers import SESSION_ENDED_CODE, ConsoleConsumer
from console.middleware import LAST_SEEN_KEY
from core import events
from tests.conftest import agent_entry, site_entry
from tests.factories import UserFactory

application = AuthMiddlewareStack(URLRouter([path("ws/console/", ConsoleConsumer.as_asgi())]))


@pytest.fixture
def anyio_backend():
    return "asyncio"


def config(loaded_config, session_timeout: int) -> None:
    loaded_config(
        agents=[agent_entry("writer")],
        sites=[site_entry("blog")],
        global_settings={"session_timeout": session_timeout},
    )


def last_seen_ago(client: Client, seconds: int) -> None:
    session = SessionStore(client.cookies["sessionid"].value)
    session[LAST_SEEN_KEY] = int(time.time()) - seconds
    session.save()


@pytest.mark.django_db
def test_a_session_timeout_lowered_at_runtime_ends_console_sessions_idle_longer(loaded_config):
    config(loaded_config, 3600)
    idle, active = Client(), Client()
    idle.force_login(UserFactory(username="idle", is_staff=True))
    active.force_login(UserFactory(username="active", is_staff=True))
    assert idle.get("/").status_code == 200 and active.get("/").status_code == 200
    last_seen_ago(idle, 120)
    last_seen_ago(active, 30)
    assert idle.get("/").status_code == 200  # 120 s idle is nothing under an hour's timeout
    last_seen_ago(idle, 120)

    config(loaded_config, 60)  # a config reload lowers it
    ended = idle.get("/")
    assert ended.status_code == 302 and ended["Location"].startswith("/login/")
    assert idle.get("/").status_code == 302  # logged out for good
    assert active.get("/").status_code == 200  # 30 s idle: still within the new timeout


async def console_of(client: Client) -> WebsocketCommunicator:
    key = client.cookies["sessionid"].value
    communicator = WebsocketCommunicator(
        application, "/ws/console/", headers=[(b"cookie", f"sessionid={key}".encode())]
    )
    connected, _ = await communicator.connect()
    assert connected
    return communicator


def logged_in_client(username: str) -> Client:
    client = Client()
    client.force_login(UserFactory(username=username, is_staff=True))
    return client


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_logging_out_closes_that_sessions_console_websocket_at_once():
    leaving = await sync_to_async(logged_in_client)("leaving")
    staying = await sync_to_async(logged_in_client)("staying")
    gone, kept = await console_of(leaving), await console_of(staying)

    response = await sync_to_async(leaving.post)("/logout/")
    assert response.status_code == 302
    closed = await gone.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": SESSION_ENDED_CODE}

    events.console_events_served_here()
    await sync_to_async(events._deliver)({"event": "article_submitted", "article_id": 3, "agent_id": "writer"})
    assert "Article 3 submitted by writer" in await kept.receive_from(timeout=5)  # another session: unaffected
    assert await gone.receive_nothing(timeout=0.5)
    await kept.disconnect()


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_a_console_websocket_whose_session_is_gone_sends_nothing_more():
    client = await sync_to_async(logged_in_client)("alice")
    communicator = await console_of(client)
    # The session ends without a logout (deleted by an administrator, or expired).
    await sync_to_async(SessionStore(client.cookies["sessionid"].value).delete)()

    events.console_events_served_here()
    await sync_to_async(events._deliver)({"event": "article_submitted", "article_id": 4, "agent_id": "writer"})
    message = await communicator.receive_output(timeout=5)
    assert message == {"type": "websocket.close", "code": SESSION_ENDED_CODE}  # closed, and no toast sent
    assert await communicator.receive_nothing(timeout=0.5)
