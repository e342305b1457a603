"""The agents page as a reviewer reads it: keys by the public prefix their holder can match, a new key shown
once (with its copy button), rotation controls with one primary button, and "connected" / "last seen" that
are true."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from agents.models import Agent, ApiKey, McpSession
from tests.conftest import agent_entry, site_entry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FULL_KEY = re.compile(r"wpk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def config_keys(loaded_config) -> dict[str, str]:
    keys = {"writer": "", "editor": ""}
    entries = [agent_entry(agent_id) for agent_id in keys]
    loaded_config(agents=entries, sites=[site_entry("blog")])
    return {entry["id"]: entry["api_key"] for entry in entries}


@pytest.fixture
def reviewer(client, config_keys):
    client.force_login(UserFactory(username="alice", is_staff=True))
    return client


class Forms(HTMLParser):
    """The page's forms: their attributes and the buttons, selects, options and labels inside them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._label: dict | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self._form = {"attrs": attributes, "buttons": [], "selects": [], "options": [], "labels": []}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "button":
            self._form["buttons"].append(attributes)
        elif tag == "select":
            self._form["selects"].append(attributes)
        elif tag == "option":
            self._form["options"].append(attributes)
        elif tag == "label":
            self._label = {"for": attributes.get("for"), "text": ""}
            self._form["labels"].append(self._label)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "label":
            self._label = None

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self._label["text"] += data


def forms_of(html: str) -> list[dict]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def rotate(client, agent_id: str = "writer", grace: str = "3600") -> str:
    response = client.post(f"/agents/{agent_id}/keys", {"action": "rotate", "grace": grace})
    assert response.status_code == 200
    return response.content.decode()


def test_the_prefix_shown_matches_the_key_that_rotate_returned(reviewer):
    html = rotate(reviewer)
    (secret,) = set(FULL_KEY.findall(html))
    key_id = ApiKey.objects.get(agent_id="writer", revoked_at=None, not_after=None).key_id
    prefix = f"{key_id}_…"
    assert secret.startswith(key_id + "_")
    later = reviewer.get("/agents/").content.decode()
    assert f'<code title="The agent\'s key starts with {prefix}">{prefix}</code>' in later
    assert secret not in later and secret[len(key_id) + 1 :] not in later


def test_a_full_key_appears_only_in_the_one_time_card(reviewer, config_keys):
    html = rotate(reviewer)
    (secret,) = set(FULL_KEY.findall(html))
    assert html.count(secret) == 1
    card = html[html.index('<section class="card new-key"') :]
    card = card[: card.index("</section>")]
    assert f'value="{secret}"' in card and 'class="primary copy-key"' in card
    assert 'role="status"' in card  # "Copied" is announced
    assert reviewer.post("/agents/writer/keys", {"action": "rotate"})["Cache-Control"] == "no-store"
    for page in (reviewer.get("/agents/"), reviewer.get("/agents/", headers={"HX-Request": "true"})):
        text = page.content.decode()
        assert not FULL_KEY.findall(text) and "new-key" not in text
        assert not any(key in text for key in config_keys.values())


def test_the_rotation_form_has_one_primary_button_and_a_labelled_grace_choice(reviewer):
    html = reviewer.get("/agents/").content.decode()
    rotations = [f for f in forms_of(html) if any(b.get("value") == "rotate" for b in f["buttons"])]
    assert len(rotations) == 2  # one per active agent
    for form in rotations:
        assert [b for b in form["buttons"] if "primary" in (b.get("class") or "")] == form["buttons"]
        assert len(form["buttons"]) == 1
        assert form["attrs"]["hx-confirm"].startswith("Rotate the key of")
        assert form["attrs"]["hx-target"] == "#main" and form["attrs"]["hx-swap"] == "innerHTML"
        (select,) = form["selects"]
        (label,) = form["labels"]
        assert label["for"] == select["id"] and label["text"].strip() == "Old key stops"
        assert [o["value"] for o in form["options"]] == ["0", "3600", "86400"]
    assert re.search(r'<option value="0">now</option><option value="3600" selected>in 1 hour</option>', html)
    assert '<option value="86400">in 24 hours</option>' in html
    assert "Rotate key…</button>" in html


def test_revoke_is_a_small_danger_button_with_its_own_confirmation(reviewer):
    html = reviewer.get("/agents/").content.decode()
    revokes = [f for f in forms_of(html) if any(b.get("value") == "revoke" for b in f["buttons"])]
    assert len(revokes) == 2
    for form in revokes:
        (button,) = form["buttons"]
        assert button["class"] == "danger small" and button["aria-label"].startswith("Revoke key ")
        assert form["attrs"]["hx-confirm"].startswith("Revoke key ") and form["attrs"]["hx-post"]


def test_key_states_in_words(reviewer):
    rotate(reviewer, "writer", grace="3600")
    html = reviewer.get("/agents/").content.decode()
    assert re.search(r'class="key-state expiring">expires <time [^>]*>in 1 h</time>', html)
    assert '<span class="key-state active">active</span>' in html
    rotate(reviewer, "editor", grace="0")
    old = ApiKey.objects.filter(agent_id="editor").exclude(not_after=None).get()
    reviewer.post("/agents/editor/keys", {"action": "revoke", "key_id": old.key_id})
    html = reviewer.get("/agents/").content.decode()
    assert re.search(r'class="key-state revoked">revoked <time [^>]*>just now</time>', html)
    ApiKey.objects.filter(pk=old.pk).update(revoked_at=None, not_after=timezone.now() - timedelta(hours=2))
    html = reviewer.get("/agents/").content.decode()
    assert re.search(r'class="key-state expired">expired <time [^>]*>2 h ago</time>', html)


def test_key_times_are_shown_with_when_and_the_table_becomes_cards(reviewer):
    html = reviewer.get("/agents/").content.decode()
    assert '<table class="cards agent-keys">' in html
    for label in ("Key", "Source", "Created", "Last used", "State"):
        assert html.count(f'data-label="{label}"') == 2
    assert re.search(
        r'<td data-label="Created"><time datetime="[^"]+" title="[^"]+" data-relative>just now</time>', html
    )
    assert '<td data-label="Last used">never</td>' in html
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", re.sub(r'(datetime|title)="[^"]*"', "", html))


def _session(agent_id: str, *, idle_seconds: int = 0, closed: bool = False, pk: str = "s1") -> None:
    at = timezone.now() - timedelta(seconds=idle_seconds)
    McpSession.objects.create(
        id=pk,
        agent_id=agent_id,
        transport="streamable-http",
        opened_at=at,
        last_activity_at=at,
        closed_at=timezone.now() if closed else None,
    )


def _status(html: str, agent_id: str) -> str:
    match = re.search(rf'<span id="agent-status-{agent_id}"[^>]*>(.*?)</span>\n', html)
    assert match, html
    return re.sub(r"<[^>]+>", "", match.group(1))


def test_an_agent_with_an_open_session_is_connected(reviewer):
    _session("writer")
    html = reviewer.get("/agents/").content.decode()
    assert _status(html, "writer") == "● connected"
    assert _status(html, "editor") == "never connected"
    assert 'hx-trigger="console:agent-writer from:body" hx-select="#agent-status-writer"' in html


def test_a_session_idle_past_the_timeout_is_not_connected_even_unclosed(reviewer):
    _session("writer", idle_seconds=1801)  # session_timeout is 1800 s; nobody closed it
    Agent.objects.filter(pk="writer").update(last_seen=timezone.now() - timedelta(seconds=1850))
    html = reviewer.get("/agents/").content.decode()
    assert _status(html, "writer") == "last seen 30 min ago"


def test_last_seen_is_the_last_request(reviewer):
    _session("writer", idle_seconds=300, closed=True)  # left 5 min ago
    Agent.objects.filter(pk="writer").update(last_seen=timezone.now() - timedelta(minutes=20))
    html = reviewer.get("/agents/").content.decode()
    assert _status(html, "writer") == "last seen 5 min ago"  # its session's last request, later than last_seen
    Agent.objects.filter(pk="editor").update(last_seen=timezone.now() - timedelta(hours=3))
    assert _status(reviewer.get("/agents/").content.decode(), "editor") == "last seen 3 h ago"
