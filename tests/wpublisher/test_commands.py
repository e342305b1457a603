"""manage.py init, check_config and agent_key."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.models import ApiKey
from agents.services import agent_authenticate
from configuration.reload import config_reload
from tests.conftest import agent_entry, new_key, site_entry

pytestmark = pytest.mark.django_db

KEY_RE = re.compile(r"wpk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")


def run(*args, stdin: str = "") -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    import sys

    old_stdin, sys.stdin = sys.stdin, io.StringIO(stdin)
    try:
        call_command(*args, stdout=out, stderr=err)
    finally:
        sys.stdin = old_stdin
    return out.getvalue(), err.getvalue()


def test_init_creates_a_valid_config_with_fresh_keys_printed_once(settings, tmp_path):
    settings.CONFIG_DIR = tmp_path / "conf"
    out, _ = run("init")
    printed = dict(re.findall(r"^  ([\w.-]+): (wpk_\S+)$", out, re.M))
    assert set(printed) == {"ai-writer-001", "seo-optimizer-002", "content-editor-003"}
    assert all(KEY_RE.fullmatch(k) for k in printed.values())
    assert (settings.CONFIG_DIR / "agents.yml").stat().st_mode & 0o777 == 0o600
    assert config_reload().ok
    assert agent_authenticate(token=printed["seo-optimizer-002"]).id == "seo-optimizer-002"
    # A second run changes nothing and prints no key.
    again, _ = run("init")
    assert "nothing changed" in again and not KEY_RE.search(again)


def test_check_config_lists_every_problem_and_fails(config_files):
    config_files.write(
        agents=[agent_entry("a", key="short"), agent_entry("a")],
        sites=[site_entry("s", api_url="not a url")],
    )
    with pytest.raises(CommandError) as raised:
        run("check_config")
    assert raised.value.returncode == 1
    assert "3 problem(s)" in str(raised.value)
    _, err = _run_capturing_failure("check_config")
    assert err.splitlines() == [
        "agents.yml: agents[0].api_key: shorter than 32 characters",
        "agents.yml: agents[1].id: duplicate id 'a' (also agents[0])",
        "sites.yml: sites[0].api_url: not an http(s) URL",
    ]


def _run_capturing_failure(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_check_config_passes_a_valid_config(config_files):
    config_files.write(agents=[agent_entry("a")], sites=[site_entry("s")])
    out, _ = run("check_config")
    assert "is valid: 1 agents, 1 sites" in out


def test_agent_key_rotate_list_revoke(config_files, django_capture_on_commit_callbacks):
    old = new_key()
    config_files.write(agents=[agent_entry("writer", key=old)], sites=[site_entry("s")])
    out, _ = run("agent_key", "rotate", "writer", "--grace", "600")
    (token,) = KEY_RE.findall(out)
    assert agent_authenticate(token=token).id == "writer"
    assert agent_authenticate(token=old).id == "writer"  # within the grace

    listing, _ = run("agent_key", "list")
    assert token not in listing and old not in listing
    assert token[:16] in listing  # the public key id
    assert listing.count("writer") == 2

    with django_capture_on_commit_callbacks(execute=True):
        out, _ = run("agent_key", "revoke", "writer", "--key", token[:16])
    assert f"revoked {token[:16]}" in out
    with pytest.raises(Exception, match="invalid, expired or revoked"):
        agent_authenticate(token=token)
    with pytest.raises(CommandError, match="agent 'ghost' not found or inactive"):
        run("agent_key", "rotate", "ghost")


def test_agent_key_hash_output_works_as_api_key_hash(config_files):
    key = new_key()
    out, _ = run("agent_key", "hash", stdin=key + "\n")
    spec = out.strip()
    assert key not in spec
    config_files.write(
        agents=[{"id": "h", "name": "H", "role": "editor", "api_key_hash": spec}], sites=[site_entry("s")]
    )
    assert config_reload().ok
    assert agent_authenticate(token=key).id == "h"
    assert ApiKey.objects.get(agent_id="h").key_hash == spec.split(":", 1)[1]
    with pytest.raises(CommandError, match="key refused: shorter than 32 characters"):
        run("agent_key", "hash", stdin="short\n")
