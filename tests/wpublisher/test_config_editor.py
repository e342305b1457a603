"""The console's configuration editor: secrets masked, same messages as check_config, diff, backup."""

from __future__ import annotations

import re

import pytest

from agents.models import Agent
from audit.models import AuditLog
from core.config.state import config_current
from tests.conftest import agent_entry, new_key, site_entry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(client, loaded_config, config_files):
    key = new_key()
    loaded_config(
        agents=[agent_entry("writer", key=key)], sites=[site_entry("blog", app_password="secret pw 1234 5678")]
    )
    client.force_login(UserFactory(username="alice", is_staff=True))
    return client, key, config_files


def form(client, name: str) -> tuple[str, str]:
    html = client.get("/config/", {"file": name}).content.decode()
    text = re.search(r'<textarea name="text"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    fingerprint = re.search(r'name="fingerprint" value="([0-9a-f]+)"', html).group(1)
    import html as html_lib

    return html_lib.unescape(text), fingerprint


def test_secrets_are_masked_in_the_editor(editor):
    client, key, _ = editor
    agents_text, _ = form(client, "agents.yml")
    sites_text, _ = form(client, "sites.yml")
    assert key not in agents_text and "••••••••1" in agents_text
    assert "secret pw 1234 5678" not in sites_text and "••••••••1" in sites_text


def test_invalid_yaml_is_refused_with_check_configs_messages_and_the_old_config_keeps_running(editor):
    client, _, files = editor
    running = config_current()
    before = (files.path / "sites.yml").read_text()
    text, fingerprint = form(client, "sites.yml")
    broken = text.replace("http://127.0.0.1:9/blog/wp-json/wp/v2", "ftp://nowhere")
    response = client.post(
        "/config/", {"file": "sites.yml", "text": broken, "fingerprint": fingerprint, "action": "save"}
    )
    html = response.content.decode()
    assert "sites.yml: sites[0].api_url: not an http(s) URL" in html and "nothing was saved" in html
    assert (files.path / "sites.yml").read_text() == before
    assert config_current() is running


def test_a_valid_edit_shows_a_diff_then_saves_with_a_backup_and_reloads(editor):
    client, key, files = editor
    text, fingerprint = form(client, "agents.yml")
    edited = text.replace("role: content-creator", "role: editor")
    checked = client.post(
        "/config/", {"file": "agents.yml", "text": edited, "fingerprint": fingerprint, "action": "validate"}
    )
    html = checked.content.decode()
    assert "The configuration is valid." in html and '<span class="added">+  role: editor</span>' in html
    assert key not in html
    client.post("/config/", {"file": "agents.yml", "text": edited, "fingerprint": fingerprint, "action": "save"})
    saved = (files.path / "agents.yml").read_text()
    assert "role: editor" in saved and key in saved  # the masked key was kept unchanged
    assert Agent.objects.get(pk="writer").role == "editor"
    backups = list((files.path / "backups").iterdir())
    assert len(backups) == 1 and "role: content-creator" in backups[0].read_text()
    assert AuditLog.objects.filter(event_type="config_reloaded").count() == 2


def test_an_edit_of_a_file_changed_on_disk_meanwhile_is_refused(editor):
    client, _, files = editor
    text, fingerprint = form(client, "agents.yml")
    files.write(agents=[agent_entry("writer"), agent_entry("other")])
    response = client.post(
        "/config/", {"file": "agents.yml", "text": text, "fingerprint": fingerprint, "action": "save"}
    )
    assert "agents.yml changed on disk since you opened it" in response.content.decode()
