"""The console websocket: reviewers only; events become toasts and refresh signals; events written by
another process (the worker, embedded layer) arrive through the outbox relay."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path

from console.consumers import ConsoleConsumer
from core import events
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.anyio]

application = AuthMiddlewareStack(URLRouter([path("ws/console/", ConsoleConsumer.as_asgi())]))


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def communicator_for(user) -> WebsocketCommunicator:
    from django.contrib.sessions.backends.db import SessionStore

    def session_cookie() -> str:
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

        store = SessionStore()
        store[SESSION_KEY], store[BACKEND_SESSION_KEY] = str(user.pk), "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.save()
        return store.session_key

    key = await sync_to_async(session_cookie)()
    return WebsocketCommunicator(application, "/ws/console/", headers=[(b"cookie", f"sessionid={key}".encode())])


async def test_anonymous_and_non_staff_are_refused():
    anonymous = WebsocketCommunicator(application, "/ws/console/")
    connected, _ = await anonymous.connect()
    assert not connected
    user = await sync_to_async(UserFactory)(username="visitor", is_staff=False)
    communicator = await communicator_for(user)
    connected, _ = await communicator.connect()
    assert not connected


async def test_a_reviewer_receives_events_as_toasts_and_refresh_signals():
    user = await sync_to_async(UserFactory)(username="alice", is_staff=True)
    communicator = await communicator_for(user)
    connected, _ = await communicator.connect()
    assert connected
    events.console_events_served_here()
    await sync_to_async(events._deliver)(
        {"event": "publish_succeeded", "article_id": 7, "site_id": "wp1", "status": "published", "agent_id": "writer"}
    )
    html = await communicator.receive_from(timeout=5)
    assert 'hx-swap-oob="beforeend"' in html and "Article 7 published on wp1" in html
    assert 'id="live-event"' in html and 'data-article="7"' in html
    await communicator.disconnect()


async def test_what_a_reviewer_did_refreshes_their_pages_without_a_toast_and_others_get_one():
    alice = await sync_to_async(UserFactory)(username="alice", is_staff=True)
    bob = await sync_to_async(UserFactory)(username="bob", is_staff=True)
    consoles = {name: await communicator_for(user) for name, user in (("alice", alice), ("bob", bob))}
    for communicator in consoles.values():
        assert (await communicator.connect())[0]
    events.console_events_served_here()
    await sync_to_async(events._deliver)(
        {"event": "article_approved", "article_id": 8, "status": "publishing", "agent_id": "w", "username": "alice"}
    )
    own, other = [await consoles[name].receive_from(timeout=5) for name in ("alice", "bob")]
    assert 'data-article="8"' in own and "toast" not in own  # alice's batch summary already said so
    assert 'data-article="8"' in other and "Article 8 approved" in other
    for communicator in consoles.values():
        await communicator.disconnect()


async def test_a_site_health_toast_says_it_in_words():
    user = await sync_to_async(UserFactory)(username="carol", is_staff=True)
    communicator = await communicator_for(user)
    assert (await communicator.connect())[0]
    events.console_events_served_here()
    await sync_to_async(events._deliver)(
        {
            "event": "site_health_changed",
            "site_id": "blog",
            "status": "error",
            "health": "failing",
            "previous": "healthy",
        }
    )
    html = await communicator.receive_from(timeout=5)
    assert "Site blog is failing" in html and "is error" not in html
    await communicator.disconnect()


async def test_events_of_another_process_arrive_through_the_outbox(monkeypatch):
    user = await sync_to_async(UserFactory)(username="bob", is_staff=True)
    communicator = await communicator_for(user)
    assert (await communicator.connect())[0]
    await asyncio.sleep(0.3)  # the relay starts from the newest outbox row when the first console connects
    # As in the Celery worker: not the web server. With the in-memory layer the event goes through the
    # outbox; with Redis, the layer itself reaches the web server.
    monkeypatch.setattr(events, "_served_here", False)
    await sync_to_async(events._deliver)({"event": "article_submitted", "article_id": 9, "agent_id": "writer"})
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    from core.models import ConsoleEvent

    through_outbox = isinstance(get_channel_layer(), InMemoryChannelLayer)
    assert await sync_to_async(ConsoleEvent.objects.count)() == (1 if through_outbox else 0)
    html = await communicator.receive_from(timeout=5)
    assert "Article 9 submitted by writer" in html
    await communicator.disconnect()
    await asyncio.sleep(0)
