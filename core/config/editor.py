"""Editing agents.yml and sites.yml from the console: secrets masked, validation with the same messages as
check_config, a diff, and writing with a backup (`configuration.editor` saves and reloads)."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.conf import settings
from django.utils import timezone

from core.config.schema import config_parse
from core.config.types import AGENTS_FILE, API_KEYS_FILE, SITES_FILE, SYSTEM_FILE, ConfigInvalid
from core.exceptions import ValidationFailed
from core.files import file_private, file_write_private
from core.keys import hash_spec_format, key_hash, key_lookup_id

EDITABLE_FILES = (AGENTS_FILE, SITES_FILE)
MASK = "••••••••"
# Where each file keeps its secrets: (list key, field).
_SECRET_FIELDS = {AGENTS_FILE: ("agents", "api_key"), SITES_FILE: ("sites", "app_password")}
_MASK_RE = re.compile(re.escape(MASK) + r"\d*")


def _path(name: str) -> Path:
    if name not in EDITABLE_FILES:
        raise ValidationFailed(f"only {', '.join(EDITABLE_FILES)} can be edited here", field="file")
    return settings.CONFIG_DIR / name


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _literal_secrets(name: str, text: str) -> list[str]:
    """The secrets written literally in the file (not ${ENV} references), in order of appearance."""
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return []
    list_key, field = _SECRET_FIELDS[name]
    values = []
    for entry in document.get(list_key) or [] if isinstance(document, dict) else []:
        value = entry.get(field) if isinstance(entry, dict) else None
        if isinstance(value, str) and value and not value.startswith("${") and value not in values:
            values.append(value)
    return sorted(values, key=text.find)


@dataclass(frozen=True)
class _SecretField:
    """Where one secret field sits: its entry's position and id in the list, and its value node."""

    index: int
    entry_id: object
    node: yaml.ScalarNode

    def same_field(self, other: _SecretField) -> bool:
        """The same entry's secret field: by id, or by position when the entry has no id."""
        if self.entry_id is not None:
            return other.entry_id == self.entry_id
        return other.entry_id is None and other.index == self.index


def _secret_fields(name: str, text: str) -> list[_SecretField]:
    """Every `<list>[i].<secret field>` scalar of the file, with its entry's id (empty when unparsable)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return []
    list_key, field = _SECRET_FIELDS[name]
    entries = _mapping_get(root, list_key)
    found = []
    for index, entry in enumerate(entries.value if isinstance(entries, yaml.SequenceNode) else []):
        value, entry_id = _mapping_get(entry, field), _mapping_get(entry, "id")
        if isinstance(value, yaml.ScalarNode):
            found.append(_SecretField(index, entry_id.value if isinstance(entry_id, yaml.ScalarNode) else None, value))
    return found


def _mapping_get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _token(number: int) -> str:
    return f"{MASK}{number}"


def config_file_read_masked(*, name: str) -> tuple[str, str]:
    """(text with every literal secret replaced by a numbered mask, fingerprint of the file on disk)."""
    text = _path(name).read_text()
    masked = text
    for number, secret in enumerate(_literal_secrets(name, text), start=1):
        masked = masked.replace(secret, _token(number))
    return masked, _fingerprint(text)


def _unmask(name: str, edited: str, original: str) -> str:
    """Masks left as they were become the secrets they stand for again; edited ones are what was typed.
    A mask stands for its secret only as the whole value of the field it came from (the same field of the
    entry with the same id, or at the same place when the entry has no id): anywhere else (another field, a
    comment, another entry) it is refused, naming where it was found, so that moving a mask never copies a
    secret into a field that is shown (a site's name is shown to every agent)."""
    secrets = _literal_secrets(name, original)
    origins: dict[str, list[_SecretField]] = {}
    for place in _secret_fields(name, original):
        if place.node.value in secrets:
            origins.setdefault(_token(secrets.index(place.node.value) + 1), []).append(place)
    replacements = []
    for place in _secret_fields(name, edited):
        if any(origin.same_field(place) for origin in origins.get(place.node.value, [])):
            secret = secrets[int(place.node.value.removeprefix(MASK)) - 1]
            replacements.append((place.node.start_mark.index, place.node.end_mark.index, json.dumps(secret)))
    unmasked = edited
    for start, end, value in sorted(replacements, reverse=True):
        unmasked = unmasked[:start] + value + unmasked[end:]
    if (left := _MASK_RE.search(unmasked)) is not None:
        raise ConfigInvalid([f"{name}: {_where(name, unmasked, left.start())}: {_MASK_RULE}"])
    return unmasked


_MASK_RULE = (
    f"a masked secret ({MASK}N) may stand only as the whole value of the field it came from; type the value itself here"
)


def _where(name: str, text: str, offset: int) -> str:
    """The YAML path of the scalar at `offset` in `text` (`sites[0].name`), else its line."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        root = None
    path = _path_at(root, offset, "") if root is not None else None
    return path or f"line {text.count(chr(10), 0, offset) + 1}"


def _path_at(node: yaml.Node, offset: int, path: str) -> str | None:
    if not node.start_mark.index <= offset < max(node.end_mark.index, node.start_mark.index + 1):
        return None
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            label = key.value if isinstance(key, yaml.ScalarNode) else "?"
            child = f"{path}.{label}" if path else str(label)
            if key.start_mark.index <= offset < key.end_mark.index:
                return child
            if (found := _path_at(value, offset, child)) is not None:
                return found
        return None
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            if (found := _path_at(item, offset, f"{path}[{index}]")) is not None:
                return found
        return None
    return path or None


def _current_texts() -> dict[str, str | None]:
    texts: dict[str, str | None] = {}
    for name in (AGENTS_FILE, SITES_FILE, SYSTEM_FILE, API_KEYS_FILE):
        path = settings.CONFIG_DIR / name
        texts[name] = path.read_text() if path.exists() else None
    return texts


def config_file_check(*, name: str, edited: str, fingerprint: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Validate an edited file together with the other current files. Returns (problems, diff of the masked
    texts); problems are exactly the messages `manage.py check_config` would print."""
    original = _path(name).read_text()
    if _fingerprint(original) != fingerprint:
        raise ValidationFailed(f"{name} changed on disk since you opened it; reload the page", field="file")
    try:
        config_parse({**_current_texts(), name: _unmask(name, edited, original)}, environ=os.environ)
        problems: list[str] = []
    except ConfigInvalid as invalid:
        problems = invalid.messages
    masked_original, _ = config_file_read_masked(name=name)
    diff = difflib.unified_diff(
        masked_original.splitlines(), edited.splitlines(), f"{name} (running)", f"{name} (edited)", lineterm=""
    )
    kinds = {"+": "added", "-": "removed", "@": "hunk"}
    return problems, [(kinds.get(line[:1], "same"), line) for line in diff]


def config_file_write(*, name: str, edited: str, fingerprint: str) -> None:
    """Write a valid edited file: a backup of the old one first, then an atomic replace (the caller
    reloads). An invalid file is refused with its messages and nothing is written."""
    problems, _ = config_file_check(name=name, edited=edited, fingerprint=fingerprint)
    if problems:
        raise ConfigInvalid(problems)
    path = _path(name)
    original = path.read_text()
    _backup_write(name, original)
    file_write_private(path, _unmask(name, edited, original))


def _backup_write(name: str, text: str) -> None:
    """Keep `text` as CONFIG_DIR/backups/<name>.<timestamp>, mode 0600 (it holds the file's secrets), and
    only the newest `settings.CONFIG_BACKUPS_KEEP` backups of that file."""
    backups = settings.CONFIG_DIR / "backups"
    backups.mkdir(mode=0o700, exist_ok=True)
    file_write_private(backups / f"{name}.{timezone.now():%Y%m%d-%H%M%S-%f}", text)
    kept = sorted(backups.glob(f"{name}.*[0-9]"), reverse=True)  # timestamps sort by time
    for old in kept[max(settings.CONFIG_BACKUPS_KEEP, 1) :]:
        old.unlink(missing_ok=True)
    for backup in kept[: max(settings.CONFIG_BACKUPS_KEEP, 1)]:
        file_private(backup)  # backups written before 0600 was the rule


def config_agent_key_hash(*, agent_id: str) -> bool:
    """Replace the agent's `api_key` written in clear in agents.yml by the `api_key_hash` of the same key
    (same lookup id, so the stored key is the same); the running processes' watchers reload it. Called
    when the agent's key is rotated: the file then never holds the old key in clear, live during the grace
    or dead after it. `${NAME}` references and api_keys.txt lines are left as they are. Returns whether
    the file changed."""
    path = settings.CONFIG_DIR / AGENTS_FILE
    try:
        text = path.read_text()
        root = yaml.compose(text)
    except (OSError, yaml.YAMLError):
        return False
    edits = []
    entries = _mapping_get(root, "agents")
    for entry in entries.value if isinstance(entries, yaml.SequenceNode) else []:
        entry_id, value = _mapping_get(entry, "id"), _mapping_get(entry, "api_key")
        if not (isinstance(entry_id, yaml.ScalarNode) and entry_id.value == agent_id):
            continue
        if not isinstance(value, yaml.ScalarNode) or not value.value or value.value.startswith("${"):
            continue
        key_node = next(k for k, v in entry.value if v is value)
        secret = value.value
        spec = hash_spec_format(key_lookup_id(secret), key_hash(secret, rounds=settings.API_KEY_BCRYPT_ROUNDS))
        edits.append((key_node.start_mark.index, value.end_mark.index, f"api_key_hash: {json.dumps(spec)}"))
    if not edits:
        return False
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    file_write_private(path, text)
    return True
