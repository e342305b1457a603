"""Parse and validate the configuration files into immutable objects.

Every problem becomes one message naming the file and the path inside it, for example
``agents.yml: agents[2].api_key: shorter than 32 characters``. All problems are collected and raised
together as `ConfigInvalid`, so a person fixes the file in one pass.

Nothing here touches the database or Django settings: the same function serves `check_config`, the hot
reload, the console's editor and the tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import yaml

from core.config.types import (
    AGENTS_FILE,
    API_KEYS_FILE,
    CONTENT_FORMATS,
    KNOWN_SCOPES,
    POST_STATUSES,
    PUBLISH_STATUSES,
    SITES_FILE,
    SYSTEM_FILE,
    AgentConfig,
    Config,
    ConfigInvalid,
    GlobalSettings,
    KeySpec,
    PublishingSettings,
    SiteConfig,
    SystemSettings,
    term_name_problem,
)
from core.exceptions import URLRefused
from core.keys import hash_spec_parse, key_lookup_id, key_strength_problem
from core.scopes import DEFAULT_SCOPES
from core.urlguard import url_guard_check


def config_parse(texts: Mapping[str, str | None], *, environ: Mapping[str, str]) -> Config:
    """Validate file contents (file name -> text, None when the file is absent) into a Config.

    `${NAME}` references in api keys and app passwords are resolved from `environ`; only names that start
    with ENV_REFERENCE_PREFIX may be referenced. Raises ConfigInvalid with every problem found."""
    return _parse(texts, environ, _Report(), not_found="file not found")


def config_read(config_dir: Path, *, environ: Mapping[str, str]) -> Config:
    """Read the four files from `config_dir` and validate them (see `config_parse`)."""
    report = _Report()
    texts = {name: _file_read(report, config_dir / name) for name in _FILES}
    return _parse(texts, environ, report, not_found=f"file not found in {config_dir}")


_FILES = (AGENTS_FILE, SITES_FILE, SYSTEM_FILE, API_KEYS_FILE)  # also the fingerprint's and messages' order
ID_RE = re.compile(r"[a-z0-9._-]{1,50}")
_ID_RULE = "must be 1-50 characters of a-z, 0-9, '.', '_' and '-'"
_ENV_REF_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# `${NAME}` references may name only variables meant for the config files: a reference to any variable
# would send the server's own secrets (SECRET_KEY, DATABASE_URL, ...) wherever an edited file says.
ENV_REFERENCE_PREFIX = "WPUBLISHER_"
_WP_API_PATH = "/wp-json/wp/v2"
_LOG_LEVELS = ("debug", "info", "warning", "error")
_KEY_HASH_FORMAT = "expected '<lookup id>:<bcrypt hash>' as printed by 'manage.py agent_key hash'"
_MIB = 1024 * 1024
_DAY = 24 * 3600
# system.yml: section -> key -> (SystemSettings field, minimum, maximum)
_SYSTEM_FIELDS: dict[str, dict[str, tuple[str, int, int]]] = {
    "limits": {
        "max_content_bytes": ("max_content_bytes", 1, 16 * _MIB),
        "max_tags": ("max_tags", 1, 100),
        "max_tag_length": ("max_tag_length", 1, 200),
        "max_metadata_bytes": ("max_metadata_bytes", 1, _MIB),
        "max_request_bytes": ("max_request_bytes", 1, 32 * _MIB),
    },
    "security": {
        "trusted_proxy_count": ("trusted_proxy_count", 0, 10),
        "auth_failure_limit": ("auth_failure_limit", 1, 1000),
        "auth_failure_window": ("auth_failure_window", 1, _DAY),
        "auth_block_duration": ("auth_block_duration", 1, 7 * _DAY),
    },
    "rate_limits": {
        "tool_calls_per_minute": ("tool_calls_per_minute", 1, 10_000),
        "sessions_per_agent": ("sessions_per_agent", 1, 1000),
    },
    # Per agent and per UTC day; revisions count toward storage.
    "quotas": {
        "submissions_per_day": ("submissions_per_day", 1, 1_000_000),
        "storage_mb_per_day": ("storage_mb_per_day", 1, 1_000_000),
    },
    "audit": {"retention_days": ("audit_retention_days", 1, 3650)},
}


# --- Recording problems ---------------------------------------------------------------------------------


class _Report:
    """Every message found, kept per file and listed in the files' fixed order."""

    def __init__(self) -> None:
        self._by_file: dict[str, list[str]] = {name: [] for name in _FILES}

    def add(self, file: str, text: str) -> None:
        self._by_file[file].append(f"{file}: {text}")

    def has(self, file: str) -> bool:
        return bool(self._by_file[file])

    @property
    def messages(self) -> list[str]:
        return [message for name in _FILES for message in self._by_file[name]]


@dataclass(frozen=True, eq=False)
class _Place:
    """A position in one file, e.g. `agents[0].scopes[1]` or `line 3`, that problems are reported at."""

    report: _Report
    file: str
    path: str  # "" for the top level

    def key(self, name: object) -> _Place:
        return _Place(self.report, self.file, f"{self.path}.{name}" if self.path else str(name))

    def index(self, i: int) -> _Place:
        return _Place(self.report, self.file, f"{self.path}[{i}]")

    @property
    def source(self) -> str:
        return f"{self.file}: {self.path}"

    def relative(self, other: _Place) -> str:
        """How to name this place in a message about `other`: the file is left out when it is the same."""
        return self.path if self.file == other.file else self.source

    def error(self, problem: str) -> None:
        self.report.add(self.file, f"{self.path or 'top level'}: {problem}")


class _Node:
    """One YAML mapping being read. Each getter reports its problems and returns a usable fallback, so the
    reading goes on and every problem is found; `finish` reports the keys no getter asked for."""

    def __init__(self, place: _Place, data: dict[Any, Any]) -> None:
        self.place = place
        self._data = data
        self._read: set[str] = set()

    @classmethod
    def of(cls, place: _Place, value: Any) -> _Node | None:
        if isinstance(value, dict):
            return cls(place, value)
        place.error("expected a mapping")
        return None

    def at(self, key: str) -> _Place:
        return self.place.key(key)

    def value(self, key: str) -> Any:
        """The raw value; None when the key is absent or null (both mean "not given")."""
        self._read.add(key)
        return self._data.get(key)

    def has(self, key: str) -> bool:
        return self.value(key) is not None

    def text(self, key: str, *, max_length: int | None = None) -> str:
        """A required string, stripped; "" when missing or bad."""
        raw = self.value(key)
        if raw is None:
            self.at(key).error("required")
            return ""
        value = _as_text(self.at(key), raw, max_length=max_length)
        if value == "":
            self.at(key).error("must not be empty")
        return value or ""

    def optional_text(self, key: str, *, max_length: int | None = None) -> str | None:
        raw = self.value(key)
        return None if raw is None else _as_text(self.at(key), raw, max_length=max_length)

    def identifier(self, key: str) -> str:
        value = self.text(key)
        if value and not ID_RE.fullmatch(value):
            self.at(key).error(_ID_RULE)
            return ""
        return value

    def integer(self, key: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        raw = self.value(key)
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.at(key).error("expected an integer")
            return default
        if raw < minimum or (maximum is not None and raw > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.at(key).error(f"must be {bounds}")
            return default
        return raw

    def boolean(self, key: str, default: bool) -> bool:
        raw = self.value(key)
        if raw is None:
            return default
        if not isinstance(raw, bool):
            self.at(key).error("expected true or false")
            return default
        return raw

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.optional_text(key)
        if value is None:
            return default
        if value not in choices:
            self.at(key).error(f"must be one of {', '.join(choices)}")
            return default
        return value

    def items(self, key: str, *, required: bool = False) -> list[tuple[_Place, Any]] | None:
        """A list's items with their places; None when absent (reported if required) or not a list."""
        raw = self.value(key)
        if raw is None:
            if required:
                self.at(key).error("required")
            return None
        if not isinstance(raw, list):
            self.at(key).error("expected a list")
            return None
        return [(self.at(key).index(i), item) for i, item in enumerate(raw)]

    def child(self, key: str) -> _Node:
        """A nested mapping; an empty one when absent or bad, so its getters give their defaults."""
        raw = self.value(key)
        node = None if raw is None else _Node.of(self.at(key), raw)
        return node or _Node(self.at(key), {})

    def finish(self) -> None:
        for key in self._data:
            if key not in self._read:
                self.place.error(f"unknown field '{key}'")


def _as_text(place: _Place, value: Any, *, max_length: int | None = None) -> str | None:
    if not isinstance(value, str):
        place.error("expected a string")
        return None
    value = value.strip()
    if max_length is not None and len(value) > max_length:
        place.error(f"longer than {max_length} characters")
    return value


def _as_datetime(place: _Place, value: Any) -> datetime | None:
    """A YAML timestamp or date, or an ISO 8601 string; aware, UTC when no offset is given."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # not ISO 8601: reported below
            value = datetime.fromisoformat(value.strip())
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    place.error("expected a date-time like 2024-01-15T08:00:00Z")
    return None


def _default(cls: type, name: str) -> Any:
    """A dataclass field's declared default, so every default lives in the dataclass."""
    return next(f.default for f in fields(cls) if f.name == name)


# --- Files and YAML -------------------------------------------------------------------------------------


def _file_read(report: _Report, path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        report.add(path.name, f"not valid UTF-8 (byte {exc.start})")
    except OSError as exc:
        report.add(path.name, f"cannot read: {exc.strerror or exc}")
    return None


def _fingerprint(texts: Mapping[str, str | None]) -> str:
    digest = hashlib.sha256()
    for name in _FILES:
        text = texts.get(name)
        if text is None:
            digest.update(f"{name}\0absent\0".encode())
        else:
            data = text.encode("utf-8", "surrogatepass")
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (PyYAML would silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if (key_node.tag, key_node.value) in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key_node.value}'", key_node.start_mark
                    )
                seen.add((key_node.tag, key_node.value))
        return super().construct_mapping(node, deep=deep)


def _yaml_root(report: _Report, name: str, text: str | None) -> _Node | None:
    """The file's top-level mapping (empty for an empty file); None when absent or unusable."""
    if text is None:
        return None
    try:
        data = _yaml_load(text)
    except yaml.YAMLError as exc:
        report.add(name, _yaml_problem(exc))
        return None
    root = _Place(report, name, "")
    if _surrogates_report(root, data):  # a file that cannot be read as text, like one that is not YAML
        return None
    return _Node.of(root, {} if data is None else data)


# A "\ud800" escape in a double-quoted YAML string is a lone UTF-16 surrogate: a str no encoder writes (key
# ids, bcrypt, the database, a log line or the console would fail on it).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_problem(value: str) -> str | None:
    found = _SURROGATE.search(value)
    return None if found is None else f"contains an invalid character (lone surrogate \\u{ord(found[0]):04x})"


def _surrogates_report(place: _Place, value: Any) -> bool:
    """Report every string of the loaded YAML (mapping keys too) holding a lone surrogate; True if any.
    Every string the loader reads comes through here, so no reader meets one."""
    if isinstance(value, str):
        problem = _surrogate_problem(value)
        if problem:
            place.error(problem)
        return problem is not None
    found = False
    if isinstance(value, dict):
        for key, item in value.items():
            shown = key.encode("utf-8", "backslashreplace").decode() if isinstance(key, str) else key
            if isinstance(key, str) and _surrogate_problem(key):
                place.key(shown).error(f"the key {_surrogate_problem(key)}")
                found = True
            found = _surrogates_report(place.key(shown), item) or found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _surrogates_report(place.index(index), item) or found
    return found


def _yaml_load(text: str) -> Any:
    loader = _StrictLoader(text)  # the reader already refuses unprintable characters here
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, from the error's mark; never str(exc), which quotes the line (maybe a secret)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem
    if isinstance(exc, yaml.reader.ReaderError):
        return f"character {exc.position + 1}: unacceptable character ({exc.reason})"
    return "not valid YAML"


# --- The whole configuration ----------------------------------------------------------------------------


def _parse(texts: Mapping[str, str | None], environ: Mapping[str, str], report: _Report, *, not_found: str) -> Config:
    roots = {name: _yaml_root(report, name, texts.get(name)) for name in (AGENTS_FILE, SITES_FILE, SYSTEM_FILE)}
    for name in (AGENTS_FILE, SITES_FILE):
        if texts.get(name) is None and not report.has(name):  # an unreadable file is reported already
            report.add(name, not_found)

    registry = _KeyRegistry()
    sites, publishing, site_ids = _sites_read(roots[SITES_FILE], environ)
    drafts, global_settings = _agents_read(roots[AGENTS_FILE], site_ids, registry, environ)
    api_keys_text = texts.get(API_KEYS_FILE)
    if api_keys_text is not None:
        _api_keys_read(report, api_keys_text, drafts, registry, environ)
    for draft in drafts:
        if not draft.key_given:
            draft.place.error("no api_key, api_key_hash or api_keys.txt line")
    system = _system_read(roots[SYSTEM_FILE])

    if report.messages:
        raise ConfigInvalid(report.messages)
    return Config(
        agents=tuple(draft.build() for draft in drafts),
        sites=tuple(sites),
        global_settings=global_settings,
        publishing=publishing,
        system=system,
        fingerprint=_fingerprint(texts),
    )


class _Ids:
    """The ids of one list; a repeated id is reported at the later item."""

    def __init__(self) -> None:
        self.first_at: dict[str, _Place] = {}

    def add(self, item: _Place, ident: str) -> None:
        if not ident:  # missing or malformed: reported already
            return
        first = self.first_at.setdefault(ident, item)
        if first is not item:
            item.key("id").error(f"duplicate id '{ident}' (also {first.path})")


# --- API keys -------------------------------------------------------------------------------------------


class _KeyRegistry:
    """Every key in every file: a key may serve one place only. Keys are compared by lookup id, a digest of
    the key, so a key given in clear and the same key given as a hash are found too."""

    def __init__(self) -> None:
        self._first_at: dict[str, _Place] = {}

    def add(self, place: _Place, spec: KeySpec) -> KeySpec | None:
        first = self._first_at.setdefault(spec.lookup_id, place)
        if first is place:
            return spec
        place.error(f"same key as {first.relative(place)}")
        return None


def _secret_resolve(place: _Place, value: str, environ: Mapping[str, str]) -> str | None:
    """`value`, or the stripped environment variable a whole-value `${NAME}` names; None when reported."""
    match = _ENV_REF_RE.fullmatch(value)
    if match is None:
        if "${" in value:
            place.error("a ${NAME} reference must be the whole value")
            return None
        return value
    name = match.group(1)
    if not name.startswith(ENV_REFERENCE_PREFIX) or name == ENV_REFERENCE_PREFIX:
        place.error(
            f"environment variable {name} is not allowed: a ${{NAME}} reference must name a variable "
            f"starting with {ENV_REFERENCE_PREFIX}"
        )
        return None
    if name not in environ:
        place.error(f"environment variable {name} is not set")
        return None
    resolved = environ[name].strip()
    if not resolved:
        place.error(f"environment variable {name} is empty")
        return None
    if problem := _surrogate_problem(resolved):  # a value that was not UTF-8 (os.environ's surrogateescape)
        place.error(f"environment variable {name} {problem}")
        return None
    return resolved


def _literal_key(place: _Place, key: str | None, registry: _KeyRegistry) -> KeySpec | None:
    if key is None:
        return None
    if ":" in key or any(c.isspace() for c in key):
        place.error("must not contain whitespace or ':'")
        return None
    problem = key_strength_problem(key)
    if problem:
        place.error(problem)
        return None
    return registry.add(place, KeySpec(lookup_id=key_lookup_id(key), source=place.source, secret=key))


def _hashed_key(place: _Place, value: str, registry: _KeyRegistry) -> KeySpec | None:
    parsed = hash_spec_parse(value)
    if parsed is None:
        place.error(_KEY_HASH_FORMAT)
        return None
    lookup_id, hashed = parsed
    return registry.add(place, KeySpec(lookup_id=lookup_id, source=place.source, bcrypt_hash=hashed))


def _scopes(items: list[tuple[_Place, Any]]) -> tuple[str, ...]:
    """The known scopes among `items`, duplicates removed in order; the unknown ones are reported."""
    scopes = []
    for place, value in items:
        scope = _as_text(place, value)
        if scope is None:
            continue
        if scope in KNOWN_SCOPES:
            scopes.append(scope)
        else:
            place.error(f"unknown scope '{scope}' (known: {', '.join(KNOWN_SCOPES)})")
    return tuple(dict.fromkeys(scopes))


# --- agents.yml -----------------------------------------------------------------------------------------


@dataclass
class _AgentDraft:
    """An agent while the files are read: api_keys.txt may still add keys and scopes."""

    place: _Place  # its agents.yml item, or the api_keys.txt line that introduced it
    id: str
    name: str
    role: str
    description: str = ""
    created_at: datetime | None = None
    allowed_sites: tuple[str, ...] | None = None
    scopes: tuple[str, ...] | None = None  # None: not given, DEFAULT_SCOPES apply
    scopes_from: str = ""  # where `scopes` came from, for the conflict message
    keys: list[KeySpec] = field(default_factory=list)
    key_given: bool = False  # an api_key, api_key_hash or api_keys.txt line names it, even a bad one

    def build(self) -> AgentConfig:
        return AgentConfig(
            id=self.id,
            name=self.name,
            role=self.role,
            description=self.description,
            scopes=DEFAULT_SCOPES if self.scopes is None else self.scopes,
            allowed_sites=self.allowed_sites,
            keys=tuple(self.keys),
            created_at=self.created_at,
        )


def _agents_read(
    root: _Node | None, site_ids: list[str] | None, registry: _KeyRegistry, environ: Mapping[str, str]
) -> tuple[list[_AgentDraft], GlobalSettings]:
    if root is None:
        return [], GlobalSettings()
    drafts, ids = [], _Ids()
    for place, value in root.items("agents", required=True) or []:
        node = _Node.of(place, value)
        if node is not None:
            draft = _agent_read(node, site_ids, registry, environ)
            ids.add(place, draft.id)
            drafts.append(draft)
    settings = _global_settings_read(root.child("global_settings"))
    root.finish()
    return drafts, settings


def _agent_read(
    node: _Node, site_ids: list[str] | None, registry: _KeyRegistry, environ: Mapping[str, str]
) -> _AgentDraft:
    created_at = node.value("created_at")
    draft = _AgentDraft(
        place=node.place,
        id=node.identifier("id"),
        name=node.text("name", max_length=100),
        role=node.text("role", max_length=50),
        description=node.optional_text("description", max_length=500) or "",
        created_at=None if created_at is None else _as_datetime(node.at("created_at"), created_at),
        allowed_sites=_allowed_sites(node, site_ids),
        scopes=_agent_scopes(node),
        scopes_from=f"{AGENTS_FILE} {node.at('scopes').path}",
    )
    _agent_keys(node, draft, registry, environ)
    node.finish()
    return draft


def _agent_scopes(node: _Node) -> tuple[str, ...] | None:
    items = node.items("scopes")
    if items is None:
        return None
    if not items:
        node.at("scopes").error("must name at least one scope; omit it for the default scopes")
    return _scopes(items)


def _allowed_sites(node: _Node, site_ids: list[str] | None) -> tuple[str, ...] | None:
    """The listed site ids; checked against sites.yml unless that file could not be read (`site_ids`)."""
    items = node.items("allowed_sites")
    if items is None:
        return None
    if not items:
        node.at("allowed_sites").error("must name at least one site; omit it to allow all")
    sites = []
    for place, value in items:
        site_id = _as_text(place, value)
        if site_id is None:
            continue
        if site_ids is not None and site_id not in site_ids:
            place.error(f"unknown site '{site_id}' (sites.yml has: {', '.join(site_ids) or 'none'})")
        sites.append(site_id)
    return tuple(dict.fromkeys(sites))


def _agent_keys(node: _Node, draft: _AgentDraft, registry: _KeyRegistry, environ: Mapping[str, str]) -> None:
    has_key, has_hash = node.has("api_key"), node.has("api_key_hash")
    key, key_hash = node.optional_text("api_key"), node.optional_text("api_key_hash")
    draft.key_given = has_key or has_hash
    if has_key and has_hash:
        node.place.error("give either api_key or api_key_hash, not both")
        return
    spec = None
    if key is not None:
        place = node.at("api_key")
        spec = _literal_key(place, _secret_resolve(place, key, environ), registry)
    elif key_hash is not None:
        spec = _hashed_key(node.at("api_key_hash"), key_hash, registry)
    if spec is not None:
        draft.keys.append(spec)


def _global_settings_read(node: _Node) -> GlobalSettings:
    default = GlobalSettings()
    settings = GlobalSettings(
        max_concurrent_agents=node.integer("max_concurrent_agents", default.max_concurrent_agents, minimum=1),
        session_timeout=node.integer("session_timeout", default.session_timeout, minimum=60),
        key_rotation_enabled=node.boolean("key_rotation_enabled", default.key_rotation_enabled),
        audit_log_level=node.choice("audit_log_level", default.audit_log_level, _LOG_LEVELS),
    )
    node.finish()
    return settings


# --- api_keys.txt ---------------------------------------------------------------------------------------


def _api_keys_read(
    report: _Report,
    text: str,
    drafts: list[_AgentDraft],
    registry: _KeyRegistry,
    environ: Mapping[str, str],
) -> None:
    """Add each `token:client_id:scopes` line's key to its agent, creating agents agents.yml lacks."""
    by_id: dict[str, _AgentDraft] = {}
    for draft in drafts:
        if draft.id:
            by_id.setdefault(draft.id, draft)
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        place = _Place(report, API_KEYS_FILE, f"line {number}")
        parts = [part.strip() for part in line.split(":", 2)]
        if len(parts) != 3 or not parts[0] or not parts[1]:
            place.error("expected token:client_id:scopes")
            continue
        token, client_id, scopes_text = parts
        if not ID_RE.fullmatch(client_id):
            place.error(f"client_id {_ID_RULE}")
            continue
        found = by_id.get(client_id)
        if found is None:
            draft = by_id[client_id] = _AgentDraft(place=place, id=client_id, name=client_id, role="agent")
            drafts.append(draft)
        else:
            draft = found
        draft.key_given = True
        _line_scopes_merge(place, draft, _scopes([(place, s) for s in scopes_text.split(",") if s.strip()]))
        spec = _literal_key(place, _secret_resolve(place, token, environ), registry)
        if spec is not None:
            draft.keys.append(spec)


def _line_scopes_merge(place: _Place, draft: _AgentDraft, scopes: tuple[str, ...]) -> None:
    if not scopes:
        return
    if draft.scopes is None:
        draft.scopes, draft.scopes_from = scopes, place.path
    elif set(scopes) != set(draft.scopes):
        place.error(f"scopes differ from {draft.scopes_from}")


# --- sites.yml ------------------------------------------------------------------------------------------


def _sites_read(
    root: _Node | None, environ: Mapping[str, str]
) -> tuple[list[SiteConfig], PublishingSettings, list[str] | None]:
    """The sites, the publishing settings and the site ids (None when there is no usable site list)."""
    if root is None:
        return [], PublishingSettings(), None
    items = root.items("sites", required=True)
    if items == []:
        root.at("sites").error("at least one site is required")
    sites, ids, default_at = [], _Ids(), None
    statuses_at: list[_Place] = []
    for place, value in items or []:
        node = _Node.of(place, value)
        if node is None:
            continue
        site = _site_read(node, environ)
        ids.add(place, site.id)
        if site.is_default and default_at is not None:
            node.at("default").error(f"only one site may be the default (also {default_at.path})")
        elif site.is_default:
            default_at = place
        sites.append(site)
        statuses_at.append(node.at("allowed_statuses"))
    publishing = _publishing_read(root.child("publishing"))
    for site, place in zip(sites, statuses_at, strict=True):
        if site.allowed_statuses and publishing.default_status not in site.allowed_statuses:
            place.error(
                f"must include publishing.default_status '{publishing.default_status}' "
                "(the status of articles that ask for none)"
            )
    root.finish()
    return sites, publishing, None if items is None else list(ids.first_at)


def _site_read(node: _Node, environ: Mapping[str, str]) -> SiteConfig:
    pool = node.child("connection_pool")
    site = SiteConfig(
        id=node.identifier("id"),
        name=node.text("name", max_length=100),
        api_url=_api_url(node.at("api_url"), node.text("api_url")),
        username=node.text("username"),
        app_password=_secret_resolve(node.at("app_password"), node.text("app_password"), environ) or "",
        default_category=_term_name(node.at("default_category"), node.optional_text("default_category")) or None,
        default_tags=_tags(node),
        max_connections=pool.integer(
            "max_connections", _default(SiteConfig, "max_connections"), minimum=1, maximum=100
        ),
        idle_timeout=pool.integer("idle_timeout", _default(SiteConfig, "idle_timeout"), minimum=1),
        health_check_interval=node.integer(
            "health_check_interval", _default(SiteConfig, "health_check_interval"), minimum=10
        ),
        is_default=node.boolean("default", False),
        allow_shortcodes=node.boolean("allow_shortcodes", _default(SiteConfig, "allow_shortcodes")),
        keep_leading_heading=node.boolean("keep_leading_heading", _default(SiteConfig, "keep_leading_heading")),
        content_format=node.choice("content_format", _default(SiteConfig, "content_format"), CONTENT_FORMATS),
        allowed_statuses=_allowed_statuses(node),
    )
    pool.finish()
    node.finish()
    return site


def _allowed_statuses(node: _Node) -> tuple[str, ...]:
    """The WordPress statuses articles may ask for on a site: a non-empty list of POST_STATUSES."""
    items = node.items("allowed_statuses")
    if items is None:
        return _default(SiteConfig, "allowed_statuses")
    if not items:
        node.at("allowed_statuses").error(f"must name at least one of {', '.join(POST_STATUSES)}; omit it for all")
    statuses = []
    for place, value in items:
        status = _as_text(place, value)
        if status is not None and status not in POST_STATUSES:
            place.error(f"must be one of {', '.join(POST_STATUSES)} (got '{status}')")
        elif status is not None:
            statuses.append(status)
    return tuple(dict.fromkeys(statuses))


def _api_url(place: _Place, value: str) -> str:
    """The WordPress REST base without a trailing slash."""
    url = value.rstrip("/")
    if not url:  # missing: reported already
        return url
    parts = _http_url_parts(url)
    if parts is None:
        place.error("not an http(s) URL")
    elif parts.username is not None or parts.password is not None:
        place.error("must not contain credentials; use username and app_password")
    elif not url.endswith(_WP_API_PATH):
        place.error(f"does not end with {_WP_API_PATH}")
    else:
        try:  # address literals only: a host name is checked at every connection (sites/urlguard.py)
            url_guard_check(url=url, field=place.path, resolve=False)
        except URLRefused as error:
            place.error(f"{error.code}: {error.problem}")
    return url


def _http_url_parts(url: str) -> SplitResult | None:
    if any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a malformed port or IPv6 host
        return None
    return parts if valid else None


def _tags(node: _Node) -> tuple[str, ...]:
    """A list of tags, or one comma-separated string; stripped, blanks and duplicates dropped."""
    raw = node.value("default_tags")
    if isinstance(raw, str):
        items = [(node.at("default_tags"), part) for part in raw.split(",")]
    else:
        items = node.items("default_tags") or []
    return tuple(dict.fromkeys(tag for place, value in items if (tag := _term_name(place, _as_text(place, value)))))


def _term_name(place: _Place, name: str | None) -> str | None:
    if name and (problem := term_name_problem(name)):
        place.error(problem)
        return None
    return name


def _publishing_read(node: _Node) -> PublishingSettings:
    default = PublishingSettings()
    settings = PublishingSettings(
        default_status=node.choice("default_status", default.default_status, PUBLISH_STATUSES),
        max_concurrent_publishes=node.integer("max_concurrent_publishes", default.max_concurrent_publishes, minimum=1),
        retry_attempts=node.integer("retry_attempts", default.retry_attempts, minimum=0, maximum=10),
        retry_delay=node.integer("retry_delay", default.retry_delay, minimum=1),
        timeout=node.integer("timeout", default.timeout, minimum=1),
    )
    node.finish()
    return settings


# --- system.yml -----------------------------------------------------------------------------------------


def _system_read(root: _Node | None) -> SystemSettings:
    if root is None:
        return SystemSettings()
    default = SystemSettings()
    values = {}
    for section, keys in _SYSTEM_FIELDS.items():
        node = root.child(section)
        for key, (name, minimum, maximum) in keys.items():
            values[name] = node.integer(key, getattr(default, name), minimum=minimum, maximum=maximum)
        node.finish()
    root.finish()
    settings = SystemSettings(**values)
    if settings.max_request_bytes < settings.max_content_bytes:
        root.at("limits").key("max_request_bytes").error(
            f"must be at least limits.max_content_bytes ({settings.max_content_bytes})"
        )
    return settings
