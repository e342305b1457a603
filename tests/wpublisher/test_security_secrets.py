"""Secrets at rest and in logs (issue 13): a key sent in a URL reaches no log; `init` and rotation leave no
key in clear in the files; every file with a secret is 0600, config backups are pruned and ignored by git;
the config editor's masks stand only where they came from; `${NAME}` references name only WPUBLISHER_
variables; key ids shown to agents are keyed; /health gives details to staff only."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import anyio
import pytest
import yaml
from django.core.management import call_command
from mcp import Client

from agents.models import Agent, ApiKey, KeySource
from agents.services import agent_authenticate
from configuration.editor import config_file_save
from configuration.reload import config_reload
from core.config.editor import config_file_check, config_file_read_masked
from core.config.schema import config_parse
from core.config.types import ConfigInvalid
from core.keys import hash_spec_format, key_hash
from sites.models import Site
from tests.conftest import agent_entry, new_key, site_entry
from tests.factories import UserFactory
from tests.support.deployment import ROOT, Deployment

KEY_RE = re.compile(r"wpk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")


def legacy_lookup_id(key: str) -> str:
    """The id config keys had before: `lit_` and the first 24 hex digits of the key's bare SHA-256."""
    return "lit_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- 1. Query strings in logs -----------------------------------------------------------------------------


def test_the_access_log_and_every_log_line_redact_query_strings():
    from wpublisher.logformat import QueryStringRedactingFilter
    from wpublisher.webserver import RedactingAccessLogGenerator

    stream = io.StringIO()
    RedactingAccessLogGenerator(stream)(
        "http",
        "complete",
        {"path": "/mcp?api_key=SECRET1&page=2", "status": 400, "method": "POST", "client": "1.2.3.4:5", "size": 9},
    )
    assert "SECRET1" not in stream.getvalue()
    assert '"POST /mcp?api_key=[redacted]&page=[redacted]" 400' in stream.getvalue()

    import logging

    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Bad Request: %s", ("/x?token=S2",), None
    )
    QueryStringRedactingFilter().filter(record)
    assert record.getMessage() == "Bad Request: /x?token=[redacted]"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(url: str, *, method: str = "GET") -> int:
    request = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None)
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json, text/event-stream")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
def test_serve_refuses_keys_in_the_url_in_any_spelling_and_logs_none_of_them(tmp_path):
    world = Deployment(tmp_path / "deployment", agents=[agent_entry("writer")], sites=[site_entry("blog")])
    port = _free_port()
    log = world.directory / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port), "--stop-timeout", "5"],
        cwd=ROOT,
        env={**world.env, "PYTHONUNBUFFERED": "1"},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    secrets = {name: f"S3CRET{uuid.uuid4().hex}" for name in ("api_key", "access-token", "Bearer", "X-Api-Key")}
    try:
        world.wait_for(lambda: _health_answers(url), 90, f"serve to answer /health:\n{log.read_text()[-3000:]}")
        statuses = {name: _status(f"{url}/mcp?{name}={secret}", method="POST") for name, secret in secrets.items()}
        assert statuses == dict.fromkeys(secrets, 400)
        extra = {"health": f"S3CRET{uuid.uuid4().hex}", "missing": f"S3CRET{uuid.uuid4().hex}"}
        assert _status(f"{url}/health?token={extra['health']}") == 200
        assert _status(f"{url}/no-such-page/?password={extra['missing']}") == 404
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
        world.close()
    output = log.read_text()
    assert "/mcp?api_key=[redacted]" in output and "/mcp?access-token=[redacted]" in output
    files = [path for path in world.directory.rglob("*") if path.is_file()]
    for secret in [*secrets.values(), *extra.values()]:
        assert not [str(path) for path in files if secret.encode() in path.read_bytes()]
    if os.environ.get("DATABASE_URL"):
        return  # the database is PostgreSQL's, not a file in the data dir
    # The data dir's database (and its -wal/-shm) is the owner's only.
    database = world.directory / "data" / "wpublisher.sqlite3"
    assert database.exists()
    assert {p.name: mode(p) for p in database.parent.glob("wpublisher.sqlite3*")} == {
        p.name: 0o600 for p in database.parent.glob("wpublisher.sqlite3*")
    }


def _health_answers(url: str) -> bool:
    try:
        return _status(f"{url}/health") == 200
    except OSError:
        return False


# --- 2. init and rotation: no key in clear in the files ----------------------------------------------------


@pytest.mark.django_db
def test_init_prints_each_key_once_and_the_files_hold_only_hashes_mode_0600(settings, tmp_path):
    settings.CONFIG_DIR = tmp_path / "conf"
    out = io.StringIO()
    call_command("init", stdout=out)
    keys = dict(re.findall(r"^  ([\w.-]+): (wpk_\S+)$", out.getvalue(), re.M))
    assert set(keys) == {"ai-writer-001", "seo-optimizer-002", "content-editor-003"}
    text = (settings.CONFIG_DIR / "agents.yml").read_text()
    for key in keys.values():
        assert key not in text and key.split("_", 2)[2] not in text  # wpk_<id>_<secret>; the secret may hold "_"
    agents = yaml.safe_load(text)["agents"]
    assert [("api_key" in a, a["api_key_hash"][:4]) for a in agents] == [(False, "wpk_")] * 3
    written = sorted(path.name for path in settings.CONFIG_DIR.iterdir())
    assert written == ["agents.yml", "api_keys.txt", "sites.yml", "system.yml"]
    assert {name: mode(settings.CONFIG_DIR / name) for name in written} == dict.fromkeys(written, 0o600)
    assert config_reload().ok
    assert {agent_id: agent_authenticate(token=key).id for agent_id, key in keys.items()} == {k: k for k in keys}


@pytest.mark.django_db
def test_rotating_a_key_given_in_clear_leaves_only_its_hash_in_the_file(config_files):
    old = new_key()
    config_files.write(agents=[agent_entry("writer", key=old), agent_entry("other")], sites=[site_entry("blog")])
    out = io.StringIO()
    call_command("agent_key", "rotate", "writer", "--grace", "600", stdout=out)
    (new,) = KEY_RE.findall(out.getvalue())
    text = (config_files.path / "agents.yml").read_text()
    assert old not in text and new not in text
    writer = next(a for a in yaml.safe_load(text)["agents"] if a["id"] == "writer")
    assert "api_key" not in writer and writer["api_key_hash"].startswith("cfg_")
    assert mode(config_files.path / "agents.yml") == 0o600
    assert agent_authenticate(token=old).id == "writer"  # within the grace
    assert agent_authenticate(token=new).id == "writer"


# --- 3. Files with secrets are 0600; backups pruned and ignored ---------------------------------------------


@pytest.mark.django_db
def test_config_backups_are_0600_pruned_to_the_last_n_and_ignored_by_git(loaded_config, settings):
    settings.CONFIG_BACKUPS_KEEP = 3
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog")])
    sites_yml = settings.CONFIG_DIR / "sites.yml"
    sites_yml.chmod(0o644)  # as a user may have written it
    for number in range(5):
        text, fingerprint = config_file_read_masked(name="sites.yml")
        config_file_save(
            name="sites.yml",
            edited=re.sub(r"^  name: .*", f"  name: Blog {number}", text, flags=re.M),
            fingerprint=fingerprint,
        )
    assert Site.objects.get(pk="blog").name == "Blog 4"
    backups = sorted((settings.CONFIG_DIR / "backups").iterdir())
    assert len(backups) == 3
    assert "name: Blog 1" in backups[0].read_text() and "name: Blog 3" in backups[-1].read_text()
    assert [mode(path) for path in backups] == [0o600] * 3
    assert mode(sites_yml) == 0o600
    for path in ("config/backups/sites.yml.20260101-000000-000000", "config/sites.yml.20260101-000000-000000"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False).returncode == 0, path


@pytest.mark.django_db
def test_a_config_file_the_user_wrote_0644_is_made_0600_and_keeps_working(config_files):
    config_files.write(agents=[agent_entry("writer")], sites=[site_entry("blog")])
    for name in ("agents.yml", "sites.yml"):
        (config_files.path / name).chmod(0o644)
    assert config_reload().ok
    assert mode(config_files.path / "agents.yml") == mode(config_files.path / "sites.yml") == 0o600


def test_the_sqlite_database_and_its_companions_are_0600(tmp_path):
    from core.files import sqlite_database_private

    fresh = tmp_path / "fresh.sqlite3"
    sqlite_database_private(fresh)
    assert mode(fresh) == 0o600
    old = tmp_path / "old.sqlite3"
    for path in (old, tmp_path / "old.sqlite3-wal", tmp_path / "old.sqlite3-shm"):
        path.write_bytes(b"")
        path.chmod(0o644)
    sqlite_database_private(old)
    assert [mode(p) for p in sorted(tmp_path.glob("old.sqlite3*"))] == [0o600] * 3


# --- 4. The config editor's masks --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_mask_moved_to_another_field_is_refused_naming_the_field(loaded_config):
    password = "pwblog abcd efgh ijkl mnop qrst"
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog", app_password=password)])
    text, fingerprint = config_file_read_masked(name="sites.yml")
    assert password not in text and "••••••••1" in text
    moved = text.replace("name: Site blog", "name: ••••••••1")
    problems, _ = config_file_check(name="sites.yml", edited=moved, fingerprint=fingerprint)
    assert problems == [
        "sites.yml: sites[0].name: a masked secret (••••••••N) may stand only as the whole value of the field "
        "it came from; type the value itself here"
    ]
    with pytest.raises(ConfigInvalid):
        config_file_save(name="sites.yml", edited=moved, fingerprint=fingerprint)
    assert Site.objects.get(pk="blog").name == "Site blog"
    assert password not in Site.objects.get(pk="blog").name
    # In a comment it stands for nothing either; left where it was, it still means the password.
    problems, _ = config_file_check(name="sites.yml", edited=text + "# ••••••••1\n", fingerprint=fingerprint)
    assert problems and "line" in problems[0]
    config_file_save(name="sites.yml", edited=text.replace("Site blog", "Blog"), fingerprint=fingerprint)
    assert yaml.safe_load((loaded_config_dir() / "sites.yml").read_text())["sites"][0]["app_password"] == password


def loaded_config_dir() -> Path:
    from django.conf import settings

    return settings.CONFIG_DIR


# --- 5. ${NAME} references ---------------------------------------------------------------------------------


def _texts(app_password: str) -> dict[str, str]:
    return {
        "agents.yml": yaml.safe_dump({"agents": [agent_entry("writer")]}),
        "sites.yml": yaml.safe_dump({"sites": [site_entry("blog", app_password=app_password)]}),
    }


def test_an_env_reference_outside_the_wpublisher_prefix_is_refused_naming_the_field():
    environ = {"PATH": os.environ["PATH"], "WPUBLISHER_BLOG_PASSWORD": "pw abcd efgh ijkl"}
    with pytest.raises(ConfigInvalid) as raised:
        config_parse(_texts("${PATH}"), environ=environ)
    assert raised.value.messages == [
        "sites.yml: sites[0].app_password: environment variable PATH is not allowed: a ${NAME} reference must "
        "name a variable starting with WPUBLISHER_"
    ]
    config = config_parse(_texts("${WPUBLISHER_BLOG_PASSWORD}"), environ=environ)
    assert config.sites[0].app_password == "pw abcd efgh ijkl"


# --- 6. Key ids shown to agents ----------------------------------------------------------------------------


async def _config_agents_text() -> str:
    from mcp_bridge.server import build_server

    async with Client(build_server(with_auth=False)) as client:
        return (await client.read_resource("config://agents")).contents[0].text


@pytest.mark.django_db(transaction=True)
def test_config_agents_shows_nothing_derived_from_a_key_without_the_secret_key(loaded_config):
    from mcp_bridge.identity import stdio_identity

    key = new_key()
    loaded_config(agents=[agent_entry("writer", key=key)], sites=[site_entry("blog")])
    stdio_identity.agent_id = "writer"
    try:
        shown = anyio.run(_config_agents_text)
    finally:
        stdio_identity.agent_id = None
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert '"writer"' in shown and key not in shown
    assert digest[:12] not in shown  # the former `lit_` id was this digest's first 24 characters
    assert ApiKey.objects.get(agent_id="writer").key_id not in {legacy_lookup_id(key)}


@pytest.mark.django_db
def test_a_key_stored_under_the_former_id_keeps_working_and_takes_the_keyed_id(loaded_config, config_files):
    key, hashed_key = new_key(), new_key()
    Agent.objects.create(id="writer", name="W", role="r", scopes=["article:submit"])
    row = ApiKey.objects.create(
        agent_id="writer", key_id=legacy_lookup_id(key), key_hash=key_hash(key, rounds=4), source=KeySource.CONFIG
    )
    # An api_key_hash printed before keeps its `lit_` id in the file: it still authenticates.
    legacy_spec = hash_spec_format(legacy_lookup_id(hashed_key), key_hash(hashed_key, rounds=4))
    loaded_config(
        agents=[
            agent_entry("writer", key=key),
            {"id": "hashed", "name": "H", "role": "r", "api_key_hash": legacy_spec},
        ],
        sites=[site_entry("blog")],
    )
    upgraded = ApiKey.objects.get(pk=row.pk)
    assert upgraded.key_id.startswith("cfg_") and upgraded.revoked_at is None
    assert ApiKey.objects.filter(agent_id="writer").count() == 1
    assert agent_authenticate(token=key).id == "writer"
    assert agent_authenticate(token=hashed_key).id == "hashed"


# --- 7. /health --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_health_gives_anyone_the_status_and_check_names_and_staff_the_details(client, loaded_config, settings):
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog")])
    (settings.CONFIG_DIR / "sites.yml").write_text("sites: [oops")
    assert not config_reload().ok  # the last error is kept
    anonymous = client.get("/health")
    assert anonymous.status_code == 200
    body = anonymous.json()
    assert set(body) == {"status", "database", "broker", "channel_layer", "config", "processes"}
    assert all(body[name] == {"status": body[name]["status"]} for name in set(body) - {"status"})
    assert body["config"] == {"status": "warning"}
    assert str(settings.CONFIG_DIR) not in anonymous.content.decode()

    client.force_login(UserFactory(is_staff=True))
    staff = client.get("/health").json()
    assert staff["config"]["directory"] == str(settings.CONFIG_DIR)
    assert staff["config"]["last_error"] and staff["sites"][0]["id"] == "blog"
    client.force_login(UserFactory(username="not-staff", is_staff=False))
    assert "directory" not in json.dumps(client.get("/health").json())
