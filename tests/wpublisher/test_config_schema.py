"""Unit tests of core.config.schema: parsing, defaults and every validation message."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config.schema import config_parse, config_read
from core.config.types import (
    API_KEYS_FILE,
    KNOWN_SCOPES,
    SITES_FILE,
    SYSTEM_FILE,
    Config,
    ConfigInvalid,
    GlobalSettings,
    KeySpec,
    PublishingSettings,
    SystemSettings,
)
from core.keys import hash_spec_format, key_generate, key_hash, key_lookup_id
from core.scopes import DEFAULT_SCOPES

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "config" / "examples"
KEY_A, KEY_B, KEY_C = (key_generate()[1] for _ in range(3))
PASSWORD = "abcd efgh ijkl mnop qrst uvwx"
ENV = {"WPUBLISHER_TECH_BLOG_APP_PASSWORD": PASSWORD}
ID_RULE = "must be 1-50 characters of a-z, 0-9, '.', '_' and '-'"
KNOWN = ", ".join(KNOWN_SCOPES)


def _agent(**fields: Any) -> dict[str, Any]:
    """A valid agent entry; a field given as None is left out."""
    entry = {"id": "ai-writer-001", "name": "Writer", "role": "content-creator", "api_key": KEY_A, **fields}
    return {k: v for k, v in entry.items() if v is not None}


def _site(**fields: Any) -> dict[str, Any]:
    entry = {
        "id": "tech-blog",
        "name": "Tech Blog",
        "api_url": "https://tech.example.com/wp-json/wp/v2",
        "username": "publisher",
        "app_password": "${WPUBLISHER_TECH_BLOG_APP_PASSWORD}",
        **fields,
    }
    return {k: v for k, v in entry.items() if v is not None}


def _personal_site(**fields: Any) -> dict[str, Any]:
    return _site(**{"id": "personal-blog", "name": "Personal", "app_password": "qrst uvwx yz12 3456", **fields})


def _dump(document: Any, list_key: str) -> str | None:
    """None and str pass through (absent file, raw text); a list becomes `{list_key: list}`."""
    if document is None or isinstance(document, str):
        return document
    if isinstance(document, list):
        document = {list_key: document}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _texts(agents: Any = (), sites: Any = (), system: Any = None, api_keys: str | None = None) -> dict[str, str | None]:
    return {
        "agents.yml": _dump([_agent()] if agents == () else agents, "agents"),
        SITES_FILE: _dump([_site(), _personal_site()] if sites == () else sites, "sites"),
        SYSTEM_FILE: _dump(system, "limits"),
        API_KEYS_FILE: api_keys,
    }


def _parse(environ: dict[str, str] = ENV, **files: Any) -> Config:
    return config_parse(_texts(**files), environ=environ)


def _problems(environ: dict[str, str] = ENV, **files: Any) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        _parse(environ, **files)
    return caught.value.messages


# --- Valid configurations -------------------------------------------------------------------------------


def test_full_configuration_parses_into_objects():
    hashed = hash_spec_format(key_lookup_id(KEY_C), key_hash(KEY_C, rounds=4))
    agents = {
        "agents": [
            _agent(
                description="Writes",
                created_at="2024-01-15T08:00:00Z",
                scopes=["article:read", "article:submit", "article:read"],
                allowed_sites=["personal-blog", "tech-blog", "personal-blog"],
            ),
            _agent(id="content-editor-003", name="Editor", role="editor", api_key=None, api_key_hash=hashed),
        ],
        "global_settings": {"max_concurrent_agents": 3, "session_timeout": 60, "key_rotation_enabled": True},
    }
    sites = {
        "sites": [
            _site(
                api_url="http://127.0.0.1:8081/wp-json/wp/v2/",
                default_category="Tech",
                default_tags="python, django ,, python",
                connection_pool={"max_connections": 100, "idle_timeout": 1},
                health_check_interval=10,
            ),
            _personal_site(default=True, default_tags=["life"]),
        ],
        "publishing": {"default_status": "draft", "retry_attempts": 0},
    }
    system = {
        "limits": {"max_tags": 5},
        "security": {"trusted_proxy_count": 0},
        "audit": {"retention_days": 7},
    }
    config = _parse(
        agents=agents,
        sites=sites,
        system=system,
        api_keys=f"# extra\n\n{KEY_B}:translator-004:article:submit\n",
    )

    writer, editor, translator = config.agents
    assert (writer.id, writer.name, writer.role, writer.description) == (
        "ai-writer-001",
        "Writer",
        "content-creator",
        "Writes",
    )
    assert writer.created_at == datetime(2024, 1, 15, 8, tzinfo=UTC)
    assert writer.scopes == ("article:read", "article:submit")
    assert writer.allowed_sites == ("personal-blog", "tech-blog")
    assert writer.keys == (
        KeySpec(lookup_id=key_lookup_id(KEY_A), source="agents.yml: agents[0].api_key", secret=KEY_A),
    )
    assert editor.scopes == DEFAULT_SCOPES and editor.allowed_sites is None and editor.created_at is None
    (editor_key,) = editor.keys
    assert editor_key.lookup_id == key_lookup_id(KEY_C) and editor_key.secret is None
    assert editor_key.bcrypt_hash == hashed.split(":", 1)[1]
    assert (translator.id, translator.name, translator.role, translator.scopes) == (
        "translator-004",
        "translator-004",
        "agent",
        ("article:submit",),
    )
    assert translator.keys[0].source == "api_keys.txt: line 3"
    assert config.global_settings == GlobalSettings(
        max_concurrent_agents=3, session_timeout=60, key_rotation_enabled=True
    )

    tech, personal = config.sites
    assert tech.api_url == "http://127.0.0.1:8081/wp-json/wp/v2"
    assert (tech.username, tech.app_password, tech.default_category) == ("publisher", PASSWORD, "Tech")
    assert tech.default_tags == ("python", "django")
    assert (tech.max_connections, tech.idle_timeout, tech.health_check_interval) == (100, 1, 10)
    assert not tech.is_default and personal.is_default and config.default_site is personal
    assert personal.default_tags == ("life",) and personal.default_category is None
    assert config.publishing == PublishingSettings(default_status="draft", retry_attempts=0)
    assert config.system == SystemSettings(max_tags=5, audit_retention_days=7)

    assert config.agent("translator-004") is translator and config.site("personal-blog") is personal
    assert config.secrets() == {KEY_A, KEY_B, PASSWORD, "qrst uvwx yz12 3456"}
    assert not any(secret in repr(config) for secret in config.secrets())


def test_minimal_configuration_takes_defaults():
    config = _parse(sites=[_site()], system="")
    (agent,) = config.agents
    assert agent.scopes == DEFAULT_SCOPES and agent.allowed_sites is None and agent.description == ""
    (site,) = config.sites
    assert (site.default_tags, site.default_category, site.is_default) == ((), None, False)
    assert (site.max_connections, site.idle_timeout, site.health_check_interval) == (5, 300, 60)
    assert config.default_site is site
    assert config.global_settings == GlobalSettings()
    assert config.publishing == PublishingSettings()
    assert config.system == SystemSettings()


def test_an_empty_agent_list_is_valid():
    assert _parse(agents=[]).agents == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-15T08:00:00Z", datetime(2024, 1, 15, 8, tzinfo=UTC)),
        ("2024-01-15T08:00:00", datetime(2024, 1, 15, 8, tzinfo=UTC)),
        ("2024-01-15T08:00:00+08:00", datetime(2024, 1, 15, 8, tzinfo=timezone(timedelta(hours=8)))),
        (datetime(2024, 1, 15, 8), datetime(2024, 1, 15, 8, tzinfo=UTC)),  # a YAML timestamp
        (date(2024, 1, 15), datetime(2024, 1, 15, tzinfo=UTC)),
    ],
)
def test_created_at_becomes_an_aware_datetime(value, expected):
    created_at = _parse(agents=[_agent(created_at=value)]).agents[0].created_at
    assert created_at == expected and created_at.tzinfo is not None


def test_environment_references_are_resolved():
    environ = {"WPUBLISHER_WRITER_KEY": f"  {KEY_A}\n", "WPUBLISHER_TECH_BLOG_APP_PASSWORD": f" {PASSWORD} "}
    config = _parse(environ, agents=[_agent(api_key="${WPUBLISHER_WRITER_KEY}")], sites=[_site()])
    assert config.agents[0].keys[0].secret == KEY_A
    assert config.sites[0].app_password == PASSWORD


def test_fingerprint_follows_the_texts_only():
    texts = _texts()
    fingerprint = config_parse(texts, environ=ENV).fingerprint
    assert len(fingerprint) == 64
    assert config_parse(dict(texts), environ={**ENV, "OTHER": "x"}).fingerprint == fingerprint
    assert config_parse({**texts, SYSTEM_FILE: ""}, environ=ENV).fingerprint != fingerprint
    assert config_parse({**texts, API_KEYS_FILE: "# note\n"}, environ=ENV).fingerprint != fingerprint


# --- api_keys.txt ---------------------------------------------------------------------------------------


def test_api_keys_lines_add_keys_and_scopes_to_agents():
    config = _parse(
        agents=[_agent(api_key=None), _agent(id="seo-optimizer-002", api_key=KEY_B, scopes=["article:read"])],
        api_keys=(
            f"{KEY_A}:ai-writer-001:article:revise, article:read\n"
            "${WPUBLISHER_EXTRA_KEY}:seo-optimizer-002:\n"
            f"{KEY_C}:new-client:\n"
        ),
        environ={**ENV, "WPUBLISHER_EXTRA_KEY": "extra-" + KEY_C[::-1]},
    )
    writer, seo, new = config.agents
    assert writer.scopes == ("article:revise", "article:read")
    assert [k.source for k in writer.keys] == ["api_keys.txt: line 1"]
    assert seo.scopes == ("article:read",)
    assert [k.source for k in seo.keys] == ["agents.yml: agents[1].api_key", "api_keys.txt: line 2"]
    assert seo.keys[1].secret == "extra-" + KEY_C[::-1]
    assert new.scopes == DEFAULT_SCOPES and new.allowed_sites is None


def test_api_keys_lines_for_one_new_client_accumulate():
    config = _parse(
        api_keys=(
            f"{KEY_B}:bot:\n{KEY_C}:bot:article:read,article:submit\n{KEY_B[::-1]}:bot:article:submit,article:read\n"
        )
    )
    bot = config.agent("bot")
    assert bot.scopes == ("article:read", "article:submit")
    assert [k.secret for k in bot.keys] == [KEY_B, KEY_C, KEY_B[::-1]]


@pytest.mark.parametrize(
    ("agents", "api_keys", "expected"),
    [
        (
            [_agent()],
            "\n# comment\nno-colons-here\n",
            "api_keys.txt: line 3: expected token:client_id:scopes",
        ),
        ([_agent()], f"{KEY_B}:writer\n", "api_keys.txt: line 1: expected token:client_id:scopes"),
        ([_agent()], ":writer:article:read\n", "api_keys.txt: line 1: expected token:client_id:scopes"),
        ([_agent()], f"{KEY_B}:Writer One:\n", f"api_keys.txt: line 1: client_id {ID_RULE}"),
        ([_agent()], "short-token:bot:\n", "api_keys.txt: line 1: shorter than 32 characters"),
        (
            [_agent()],
            "${WPUBLISHER_NOPE}:bot:\n",
            "api_keys.txt: line 1: environment variable WPUBLISHER_NOPE is not set",
        ),
        (
            [_agent()],
            f"{KEY_B}:bot:article:delete\n",
            f"api_keys.txt: line 1: unknown scope 'article:delete' (known: {KNOWN})",
        ),
        (
            [_agent(), _agent(id="seo", api_key=KEY_A[::-1], scopes=["article:read"])],
            f"{KEY_B}:seo:article:read\n{KEY_C}:seo:article:submit\n",
            "api_keys.txt: line 2: scopes differ from agents.yml agents[1].scopes",
        ),
        (
            [_agent()],
            f"{KEY_B}:bot:article:read\n\n{KEY_C}:bot:article:submit\n",
            "api_keys.txt: line 3: scopes differ from line 1",
        ),
        ([_agent()], f"{KEY_A}:bot:\n", "api_keys.txt: line 1: same key as agents.yml: agents[0].api_key"),
        ([_agent()], f"{KEY_B}:bot:\n{KEY_B}:other:\n", "api_keys.txt: line 2: same key as line 1"),
    ],
)
def test_api_keys_problems(agents, api_keys, expected):
    assert _problems(agents=agents, api_keys=api_keys) == [expected]


# --- agents.yml -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"id": None}, "agents[0].id: required"),
        ({"id": "Writer 1"}, f"agents[0].id: {ID_RULE}"),
        ({"id": "a" * 51}, f"agents[0].id: {ID_RULE}"),
        ({"name": 5}, "agents[0].name: expected a string"),
        ({"name": "  "}, "agents[0].name: must not be empty"),
        ({"name": "n" * 101}, "agents[0].name: longer than 100 characters"),
        ({"role": None}, "agents[0].role: required"),
        ({"role": "r" * 51}, "agents[0].role: longer than 50 characters"),
        ({"description": "d" * 501}, "agents[0].description: longer than 500 characters"),
        ({"created_at": "yesterday"}, "agents[0].created_at: expected a date-time like 2024-01-15T08:00:00Z"),
        ({"scopes": "article:read"}, "agents[0].scopes: expected a list"),
        ({"scopes": []}, "agents[0].scopes: must name at least one scope; omit it for the default scopes"),
        (
            {"scopes": ["article:submit", "article:delete"]},
            f"agents[0].scopes[1]: unknown scope 'article:delete' (known: {KNOWN})",
        ),
        (
            {"allowed_sites": ["nope"]},
            "agents[0].allowed_sites[0]: unknown site 'nope' (sites.yml has: tech-blog, personal-blog)",
        ),
        ({"allowed_sites": []}, "agents[0].allowed_sites: must name at least one site; omit it to allow all"),
        ({"api_key": None}, "agents[0]: no api_key, api_key_hash or api_keys.txt line"),
        ({"api_key": "short"}, "agents[0].api_key: shorter than 32 characters"),
        ({"api_key": "ab" * 20}, "agents[0].api_key: only 2 distinct characters (at least 10 required)"),
        ({"api_key": KEY_A[:20] + " " + KEY_A[20:]}, "agents[0].api_key: must not contain whitespace or ':'"),
        ({"api_key": KEY_A + ":x"}, "agents[0].api_key: must not contain whitespace or ':'"),
        ({"api_key": 12345}, "agents[0].api_key: expected a string"),
        (
            {"api_key": "${WPUBLISHER_MISSING_KEY}"},
            "agents[0].api_key: environment variable WPUBLISHER_MISSING_KEY is not set",
        ),
        (
            {"api_key": "${WPUBLISHER_EMPTY_KEY}"},
            "agents[0].api_key: environment variable WPUBLISHER_EMPTY_KEY is empty",
        ),
        ({"api_key": "sk-${PART}"}, "agents[0].api_key: a ${NAME} reference must be the whole value"),
        ({"api_key_hash": "lit_x:y"}, "agents[0]: give either api_key or api_key_hash, not both"),
        (
            {"api_key": None, "api_key_hash": "lit_x:y"},
            "agents[0].api_key_hash: expected '<lookup id>:<bcrypt hash>' as printed by 'manage.py agent_key hash'",
        ),
        ({"apikey": KEY_B}, "agents[0]: unknown field 'apikey'"),
    ],
)
def test_agent_field_problems(fields, expected):
    assert _problems(agents=[_agent(**fields)], environ={**ENV, "WPUBLISHER_EMPTY_KEY": " "}) == [
        f"agents.yml: {expected}"
    ]


@pytest.mark.parametrize(
    ("global_settings", "expected"),
    [
        ({"max_concurrent_agents": 0}, "global_settings.max_concurrent_agents: must be at least 1"),
        ({"session_timeout": 59}, "global_settings.session_timeout: must be at least 60"),
        ({"session_timeout": "1800"}, "global_settings.session_timeout: expected an integer"),
        ({"key_rotation_enabled": "no"}, "global_settings.key_rotation_enabled: expected true or false"),
        (
            {"audit_log_level": "verbose"},
            "global_settings.audit_log_level: must be one of debug, info, warning, error",
        ),
        ({"audit_level": "info"}, "global_settings: unknown field 'audit_level'"),
    ],
)
def test_global_settings_problems(global_settings, expected):
    agents = {"agents": [_agent()], "global_settings": global_settings}
    assert _problems(agents=agents) == [f"agents.yml: {expected}"]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("- id: a\n", "top level: expected a mapping"),
        ("", "agents: required"),
        ({"agents": {"id": "a"}}, "agents: expected a list"),
        ({"agents": ["ai-writer-001"]}, "agents[0]: expected a mapping"),
        ({"agents": [], "agent": []}, "top level: unknown field 'agent'"),
        ({"agents": [], "global_settings": [1]}, "global_settings: expected a mapping"),
        (
            "agents:\n  - id: a\n    name: [b\n",
            "line 4, column 1: expected ',' or ']', but got '<stream end>'",
        ),
        ("agents:\n  - id: a\n    id: b\n", "line 3, column 5: duplicate key 'id'"),
        ("agents: []\nagents: []\n", "line 2, column 1: duplicate key 'agents'"),
    ],
)
def test_agents_document_problems(document, expected):
    assert _problems(agents=document) == [f"agents.yml: {expected}"]


def test_duplicate_agent_ids_and_keys_name_both_places():
    hashed = hash_spec_format(key_lookup_id(KEY_A), key_hash(KEY_A, rounds=4))
    agents = [
        _agent(),
        _agent(api_key=KEY_B),
        _agent(id="other", api_key=KEY_A),
        _agent(id="third", api_key=None, api_key_hash=hashed),
    ]
    assert _problems(agents=agents) == [
        "agents.yml: agents[1].id: duplicate id 'ai-writer-001' (also agents[0])",
        "agents.yml: agents[2].api_key: same key as agents[0].api_key",
        "agents.yml: agents[3].api_key_hash: same key as agents[0].api_key",
    ]


def test_allowed_sites_are_not_checked_without_a_site_list():
    problems = _problems(agents=[_agent(allowed_sites=["nope"])], sites=None)
    assert problems == ["sites.yml: file not found"]


# --- sites.yml ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"id": "Tech Blog"}, f"sites[0].id: {ID_RULE}"),
        ({"name": None}, "sites[0].name: required"),
        ({"name": "n" * 101}, "sites[0].name: longer than 100 characters"),
        ({"api_url": None}, "sites[0].api_url: required"),
        ({"api_url": "ftp://tech.example.com/wp-json/wp/v2"}, "sites[0].api_url: not an http(s) URL"),
        ({"api_url": "https:///wp-json/wp/v2"}, "sites[0].api_url: not an http(s) URL"),
        ({"api_url": "https://tech.example.com:99999/wp-json/wp/v2"}, "sites[0].api_url: not an http(s) URL"),
        ({"api_url": "tech.example.com/wp-json/wp/v2"}, "sites[0].api_url: not an http(s) URL"),
        (
            {"api_url": "https://tech.example.com/wp-json"},
            "sites[0].api_url: does not end with /wp-json/wp/v2",
        ),
        (
            {"api_url": "https://user:pw@tech.example.com/wp-json/wp/v2"},
            "sites[0].api_url: must not contain credentials; use username and app_password",
        ),
        ({"username": None}, "sites[0].username: required"),
        ({"app_password": None}, "sites[0].app_password: required"),
        (
            {"app_password": "${WPUBLISHER_NOPE}"},
            "sites[0].app_password: environment variable WPUBLISHER_NOPE is not set",
        ),
        ({"default_category": 3}, "sites[0].default_category: expected a string"),
        ({"default_tags": ["a", 3]}, "sites[0].default_tags[1]: expected a string"),
        ({"default_tags": 3}, "sites[0].default_tags: expected a list"),
        (
            {"default_category": "<svg onload=alert(1)>"},
            "sites[0].default_category: must be plain text: '<' in '<svg onload=alert(1)>' is not allowed "
            "(WordPress strips markup, control characters and %-escapes from category and tag names)",
        ),
        (
            {"default_tags": "ok, <b>x</b>"},
            "sites[0].default_tags: must be plain text: '<' in '<b>x</b>' is not allowed "
            "(WordPress strips markup, control characters and %-escapes from category and tag names)",
        ),
        ({"connection_pool": 5}, "sites[0].connection_pool: expected a mapping"),
        (
            {"connection_pool": {"max_connections": 0}},
            "sites[0].connection_pool.max_connections: must be between 1 and 100",
        ),
        (
            {"connection_pool": {"max_connections": True}},
            "sites[0].connection_pool.max_connections: expected an integer",
        ),
        (
            {"connection_pool": {"idle_timeout": 0}},
            "sites[0].connection_pool.idle_timeout: must be at least 1",
        ),
        ({"connection_pool": {"idle": 1}}, "sites[0].connection_pool: unknown field 'idle'"),
        ({"health_check_interval": 9}, "sites[0].health_check_interval: must be at least 10"),
        ({"default": "yes"}, "sites[0].default: expected true or false"),
        ({"password": "x"}, "sites[0]: unknown field 'password'"),
    ],
)
def test_site_field_problems(fields, expected):
    assert _problems(sites=[_site(**fields)]) == [f"sites.yml: {expected}"]


def test_site_app_password_from_an_unset_variable():
    problems = _problems(sites=[_personal_site(), _site()], environ={})
    assert problems == [
        "sites.yml: sites[1].app_password: environment variable WPUBLISHER_TECH_BLOG_APP_PASSWORD is not set"
    ]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"sites": []}, ["sites: at least one site is required"]),
        ({"publishing": {}}, ["sites: required"]),
        ([_site(), _site()], ["sites[1].id: duplicate id 'tech-blog' (also sites[0])"]),
        (
            [_site(default=True), _personal_site(), _site(id="third", default=True)],
            ["sites[2].default: only one site may be the default (also sites[0])"],
        ),
        (
            {"sites": [_site()], "publishing": {"default_status": "published", "retry_attempts": 11}},
            [
                "publishing.default_status: must be one of publish, draft, pending",
                "publishing.retry_attempts: must be between 0 and 10",
            ],
        ),
        (
            {
                "sites": [_site()],
                "publishing": {"max_concurrent_publishes": 0, "retry_delay": 0, "timeout": 0},
            },
            [
                "publishing.max_concurrent_publishes: must be at least 1",
                "publishing.retry_delay: must be at least 1",
                "publishing.timeout: must be at least 1",
            ],
        ),
    ],
)
def test_sites_document_problems(document, expected):
    assert _problems(agents=[_agent()], sites=document) == [f"sites.yml: {m}" for m in expected]


# --- system.yml -----------------------------------------------------------------------------------------


def test_system_settings_map_onto_fields():
    system = {
        "limits": {
            "max_content_bytes": 1000,
            "max_tags": 3,
            "max_tag_length": 10,
            "max_metadata_bytes": 100,
            "max_request_bytes": 2000,
        },
        "security": {
            "trusted_proxy_count": 2,
            "auth_failure_limit": 4,
            "auth_failure_window": 60,
            "auth_block_duration": 600,
        },
        "rate_limits": {"tool_calls_per_minute": 30},
        "audit": {"retention_days": 30},
    }
    assert _parse(system=system).system == SystemSettings(1000, 3, 10, 100, 2000, 2, 4, 60, 600, 30, 30)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"limits": {"max_content_bytes": 16 * 1024 * 1024 + 1}},
            "limits.max_content_bytes: must be between",
        ),
        ({"limits": {"max_tags": 0}}, "limits.max_tags: must be between 1 and 100"),
        ({"security": {"trusted_proxy_count": -1}}, "security.trusted_proxy_count: must be between 0 and 10"),
        (
            {"rate_limits": {"tool_calls_per_minute": "many"}},
            "rate_limits.tool_calls_per_minute: expected an",
        ),
        ({"audit": {"retention_days": 0}}, "audit.retention_days: must be between 1 and 3650"),
        ({"audit": {"retention": 5}}, "audit: unknown field 'retention'"),
        ({"logging": {}}, "top level: unknown field 'logging'"),
        ("limits: 5\n", "limits: expected a mapping"),
        (
            {"limits": {"max_content_bytes": 2048, "max_request_bytes": 1024}},
            "limits.max_request_bytes: must be at least limits.max_content_bytes (2048)",
        ),
    ],
)
def test_system_problems(document, expected):
    (problem,) = _problems(system=document)
    assert problem.startswith(f"system.yml: {expected}")


# --- Several problems, files, secrets -------------------------------------------------------------------


def test_all_problems_are_reported_in_file_order():
    problems = _problems(
        agents=[_agent(api_key="short", scopes=["article:delete"]), _agent(id="b", name=None, api_key=None)],
        sites=[_site(api_url="https://x.example/api")],
        system={"limits": {"max_tags": 0}},
        api_keys="garbage\n",
    )
    assert problems == [
        f"agents.yml: agents[0].scopes[0]: unknown scope 'article:delete' (known: {KNOWN})",
        "agents.yml: agents[0].api_key: shorter than 32 characters",
        "agents.yml: agents[1].name: required",
        "agents.yml: agents[1]: no api_key, api_key_hash or api_keys.txt line",
        "sites.yml: sites[0].api_url: does not end with /wp-json/wp/v2",
        "system.yml: limits.max_tags: must be between 1 and 100",
        "api_keys.txt: line 1: expected token:client_id:scopes",
    ]


def test_missing_required_files_are_reported():
    assert _problems(agents=None, sites=None) == ["agents.yml: file not found", "sites.yml: file not found"]


def test_no_message_contains_a_secret():
    canary_key = "canary-Zx9-" + "QwErTyUiOpAsDfGhJkL0123456789"  # 40 characters, a strong key
    canary_password = "canary-pw-Zx9-secret"
    agents = [_agent(api_key=canary_key), _agent(id="second", api_key=canary_key)]
    sites = [
        _site(app_password="${WPUBLISHER_BLANK_PASSWORD}"),
        _personal_site(app_password=f"{canary_password}-${{X}}"),
    ]
    system = f"limits:\n  max_tags: {canary_password}\n  max_tag_length: '{canary_key}\n"
    api_keys = f"{canary_key}\n{canary_key}:third:\n{canary_key}:fourth:article:delete\n"
    environ = {"WPUBLISHER_BLANK_PASSWORD": " ", "X": canary_password}
    problems = _problems(environ, agents=agents, sites=sites, system=system, api_keys=api_keys)

    assert problems == [
        "agents.yml: agents[1].api_key: same key as agents[0].api_key",
        "sites.yml: sites[0].app_password: environment variable WPUBLISHER_BLANK_PASSWORD is empty",
        "sites.yml: sites[1].app_password: a ${NAME} reference must be the whole value",
        "system.yml: line 4, column 1: found unexpected end of stream",
        "api_keys.txt: line 1: expected token:client_id:scopes",
        "api_keys.txt: line 2: same key as agents.yml: agents[0].api_key",
        f"api_keys.txt: line 3: unknown scope 'article:delete' (known: {KNOWN})",
        "api_keys.txt: line 3: same key as agents.yml: agents[0].api_key",
    ]
    for secret in (canary_key, canary_password, "canary"):
        assert not any(secret in problem for problem in problems), problems


def test_config_read_parses_the_example_files():
    environ = {
        name: key_generate()[1]
        for name in (
            "WPUBLISHER_AI_WRITER_001_KEY",
            "WPUBLISHER_SEO_OPTIMIZER_002_KEY",
            "WPUBLISHER_CONTENT_EDITOR_003_KEY",
        )
    }
    config = config_read(EXAMPLE_DIR, environ=environ)

    assert [(a.id, a.role, a.scopes) for a in config.agents] == [
        ("ai-writer-001", "content-creator", ("article:submit", "article:read")),
        ("seo-optimizer-002", "seo-optimizer", ("article:submit", "article:read", "article:revise")),
        ("content-editor-003", "editor", KNOWN_SCOPES),
    ]
    assert [s.api_url for s in config.sites] == [
        f"http://127.0.0.1:{port}/wp-json/wp/v2" for port in (8081, 8082, 8083)
    ]
    assert config.default_site.id == "tech-blog"
    assert config.global_settings == GlobalSettings()
    assert config.publishing == PublishingSettings()
    assert config.system == SystemSettings()  # the example documents the defaults
    assert config.secrets() == {*environ.values(), "xxxx xxxx xxxx xxxx xxxx xxxx"}


def test_config_read_names_missing_files_and_accepts_missing_optional_ones(tmp_path):
    with pytest.raises(ConfigInvalid) as caught:
        config_read(tmp_path, environ={})
    assert caught.value.messages == [
        f"agents.yml: file not found in {tmp_path}",
        f"sites.yml: file not found in {tmp_path}",
    ]

    for name, text in _texts().items():
        if text is not None:
            (tmp_path / name).write_text(text)
    config = config_read(tmp_path, environ=ENV)
    assert config.system == SystemSettings()
    assert config.fingerprint == config_parse(_texts(), environ=ENV).fingerprint
