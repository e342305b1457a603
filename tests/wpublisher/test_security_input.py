"""Input (issue 13): a body over the limit is answered in the gateway's JSON naming the limit and its setting;
a lone surrogate (`"\\ud800"`) in the config files is a config error naming the field (check_config, the
editor, the server's start), the last good config kept; the console answers a parameter it cannot read with
400 naming the parameter and its rule, and renders the page for a good one."""

from __future__ import annotations

import http.client
import io
import json
import urllib.request

import pytest
from django.core.management import CommandError, call_command

from agents.models import ApiKey
from articles.services import article_revise, article_submit
from configuration.reload import config_reload
from core.config.editor import config_file_read_masked
from core.config.state import config_current
from core.keys import key_generate
from tests.conftest import agent_entry, site_entry
from tests.factories import UserFactory
from tests.support.deployment import Deployment

pytestmark = pytest.mark.django_db

DB_INT_MAX = 2**63 - 1
SURROGATE_MESSAGE = "agents.yml: agents[0].api_key: contains an invalid character (lone surrogate \\ud800)"


def agents_yml_with_a_surrogate(name: str = "Agent writer") -> str:
    """agents.yml whose key is written with a "\\ud800" escape: YAML reads it as a lone UTF-16 surrogate."""
    return (
        "agents:\n"
        "  - id: writer\n"
        f"    name: {name}\n"
        "    role: content-creator\n"
        '    api_key: "\\ud800wpk_0123456789ab_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"\n'
    )


# --- 1. A body over the limit -------------------------------------------------------------------------------


def _post(url: str, key: str, body: bytes, *, chunked: bool) -> tuple[int, str, dict]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    try:
        if chunked:
            connection.request("POST", "/mcp", body=iter([body[:1000], body[1000:]]), headers=headers)
        else:
            connection.request("POST", "/mcp", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.slow
def test_a_body_over_the_limit_is_answered_with_the_limit_and_its_setting(tmp_path):
    key = key_generate()[1]
    deployment = Deployment(
        tmp_path,
        agents=[agent_entry("writer", key=key)],
        sites=[site_entry("blog")],
        system={"limits": {"max_content_bytes": 1024, "max_request_bytes": 4096}},
    )
    try:
        url = deployment.start_web()
        message = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"padding": "x" * 5000}}
        body = json.dumps(message).encode()
        expected = {
            "error": "request_too_large",
            "error_description": "VALIDATION_ERROR: request body: larger than 4096 bytes, the limit that "
            "limits.max_request_bytes in system.yml sets",
        }
        for chunked in (False, True):  # declared by Content-Length, and found while reading a chunked body
            status, content_type, answer = _post(url, key, body, chunked=chunked)
            assert (status, content_type, answer) == (413, "application/json", expected)
    finally:
        deployment.close()


# --- 2. A lone surrogate in the config files ----------------------------------------------------------------


def test_check_config_names_the_field_holding_a_lone_surrogate(config_files):
    config_files.write(sites=[site_entry("blog")])
    config_files.write_text("agents.yml", agents_yml_with_a_surrogate())
    errors = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("check_config", stderr=errors)
    assert raised.value.returncode == 1
    assert errors.getvalue().splitlines() == [SURROGATE_MESSAGE]


def test_a_surrogate_in_a_key_or_a_name_is_reported_where_it_is(config_files):
    config_files.write(sites=[site_entry("blog", name="Blog \udcff")])  # safe_dump writes it as an escape
    config_files.write_text("agents.yml", agents_yml_with_a_surrogate(name='"Agent \\udfff"'))
    errors = io.StringIO()
    with pytest.raises(CommandError):
        call_command("check_config", stderr=errors)
    assert errors.getvalue().splitlines() == [
        "agents.yml: agents[0].name: contains an invalid character (lone surrogate \\udfff)",
        SURROGATE_MESSAGE,
        "sites.yml: sites[0].name: contains an invalid character (lone surrogate \\udcff)",
    ]


def test_a_reload_keeps_the_last_good_config_and_records_the_message(loaded_config, config_files):
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog")])
    running = config_current()
    config_files.write_text("agents.yml", agents_yml_with_a_surrogate())
    result = config_reload(sync=True)
    assert (result.ok, result.messages) == (False, [SURROGATE_MESSAGE])
    assert config_current() is running


def test_the_config_editor_shows_the_message_instead_of_failing(loaded_config, config_files, client):
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog")])
    client.force_login(UserFactory(username="alice", is_staff=True))
    _, fingerprint = config_file_read_masked(name="agents.yml")
    edited = agents_yml_with_a_surrogate()
    for action in ("validate", "save"):
        response = client.post(
            "/config/", {"file": "agents.yml", "text": edited, "fingerprint": fingerprint, "action": action}
        )
        assert response.status_code == 200
        assert SURROGATE_MESSAGE in response.content.decode()
    assert "ud800" not in (config_files.path / "agents.yml").read_text()  # not saved


@pytest.mark.slow
def test_the_web_server_starts_with_a_lone_surrogate_in_the_files_and_says_where(tmp_path):
    deployment = Deployment(tmp_path, agents=[agent_entry("writer")], sites=[site_entry("blog")])
    try:
        (deployment.config_dir / "agents.yml").write_text(agents_yml_with_a_surrogate())
        url = deployment.start_web()  # returns once /health answers
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
            health = json.loads(response.read())
        assert health["config"] == {"status": "error"}
        deployment.wait_for(lambda: SURROGATE_MESSAGE in deployment.web_log(), 10, "the message in the log")
        assert "Traceback" not in deployment.web_log()
    finally:
        deployment.close()


# --- 3. Console parameters ------------------------------------------------------------------------------------


@pytest.fixture
def reviewer(client, loaded_config, queued):
    loaded_config(agents=[agent_entry("writer"), agent_entry("editor")], sites=[site_entry("blog")])
    client.force_login(UserFactory(username="alice", is_staff=True))
    return client


@pytest.fixture
def article(reviewer):
    from agents.models import Agent

    submitted = article_submit(agent=Agent.objects.get(pk="writer"), title="First", content_markdown="one")
    article_revise(agent=Agent.objects.get(pk="writer"), article_id=submitted.pk, content_markdown="two")
    return submitted


def refused(response) -> str:
    assert response.status_code == 400, response.content[:300]
    return response.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("a=x", f"VALIDATION_ERROR: a: must be an integer from 1 to {DB_INT_MAX}"),
        ("a=1&b=²", f"VALIDATION_ERROR: b: must be an integer from 1 to {DB_INT_MAX}"),
        (f"b={DB_INT_MAX + 1}", f"VALIDATION_ERROR: b: must be an integer from 1 to {DB_INT_MAX}"),
    ],
)
def test_the_article_page_refuses_diff_parameters_it_cannot_read(reviewer, article, query, message):
    assert refused(reviewer.get(f"/articles/{article.pk}/?{query}")) == message


def test_the_article_page_renders_a_diff_between_two_revisions(reviewer, article):
    page = reviewer.get(f"/articles/{article.pk}/?a=1&b=2")
    assert page.status_code == 200
    assert "+two" in page.content.decode() and "-one" in page.content.decode()
    assert reviewer.get(f"/articles/{article.pk}/?a=&b=").status_code == 200  # empty: the default diff


def test_an_article_id_past_64_bits_is_refused(reviewer):
    message = f"VALIDATION_ERROR: article_id: must be an integer from 1 to {DB_INT_MAX}"
    assert refused(reviewer.get(f"/articles/{DB_INT_MAX + 1}/")) == message
    assert refused(reviewer.post(f"/articles/{10**25}/action", {"action": "retry"})) == message
    assert reviewer.get(f"/articles/{DB_INT_MAX}/").status_code == 404


def test_an_approval_with_a_revision_that_is_not_a_number_is_refused(reviewer, article):
    response = reviewer.post(f"/articles/{article.pk}/action", {"action": "approve", "revision": "2x"})
    assert refused(response) == f"VALIDATION_ERROR: revision: must be an integer from 1 to {DB_INT_MAX}"


@pytest.mark.parametrize("path", ["/audit/", "/audit.csv"])
@pytest.mark.parametrize("value", ["2026-13-45T99:99", "2026-02-30T00:00:00", "yesterday", "9999-12-31T23:00-05:00"])
def test_the_audit_log_refuses_a_date_that_does_not_exist(reviewer, path, value):
    for name in ("since", "until"):
        assert refused(reviewer.get(path, {name: value})) == (
            f"VALIDATION_ERROR: {name}: must be a date-time like 2026-01-15T08:00 (ISO 8601; UTC unless an "
            "offset is given)"
        )


def test_the_audit_log_filters_by_dates_it_can_read(reviewer):
    page = reviewer.get("/audit/", {"since": "2020-01-15T08:00", "until": "2099-01-01T00:00:00+02:00"})
    assert page.status_code == 200 and "config_reloaded" in page.content.decode()
    export = reviewer.get("/audit.csv", {"since": "2020-01-15T08:00"})
    assert export.status_code == 200 and b"config_reloaded" in b"".join(export.streaming_content)
    assert reviewer.get("/audit/", {"since": "2099-01-01T00:00"}).status_code == 200


# The queue opens on pending review, oldest first, paged `after` an id; the audit log newest first, `before` one.
@pytest.mark.parametrize(("path", "cursor"), [("/audit/", "before"), ("/articles/", "after")])
def test_list_pages_refuse_a_cursor_or_filter_they_cannot_read(reviewer, path, cursor):
    message = f"VALIDATION_ERROR: {cursor}: must be an integer from 1 to {DB_INT_MAX}"
    assert refused(reviewer.get(path, {cursor: "9" * 20})) == message
    assert refused(reviewer.get(path, {cursor: "x"})) == message
    assert refused(reviewer.get(path, {"agent": "writer\x00"})) == (
        "VALIDATION_ERROR: agent: must be text of at most 1000 characters without NUL characters"
    )
    assert reviewer.get(path, {cursor: "5", "agent": "writer"}).status_code == 200


@pytest.mark.parametrize("grace", [str(10**30), str(10**12), "-1", "an hour"])
def test_a_key_rotation_refuses_a_grace_it_cannot_take_and_rotates_nothing(reviewer, grace):
    keys = ApiKey.objects.count()
    response = reviewer.post("/agents/writer/keys", {"action": "rotate", "grace": grace})
    assert refused(response) == "VALIDATION_ERROR: grace: must be an integer from 0 to 2592000"
    assert ApiKey.objects.count() == keys


def test_a_key_rotation_with_a_grace_in_range_shows_the_new_key(reviewer):
    response = reviewer.post("/agents/writer/keys", {"action": "rotate", "grace": "60"})
    assert response.status_code == 200 and "copy it now" in response.content.decode()


def test_the_command_refuses_a_grace_past_the_limit(loaded_config):
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog")])
    with pytest.raises(CommandError, match=r"grace: must be 0 to 2592000 seconds \(30 days\)"):
        call_command("agent_key", "rotate", "writer", "--grace", str(10**12))


def test_a_site_id_with_a_nul_character_is_refused(reviewer):
    response = reviewer.post("/sites/blog%00/check")
    assert refused(response) == (
        "VALIDATION_ERROR: site_id: must be text of at most 1000 characters without NUL characters"
    )
