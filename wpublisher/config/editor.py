"""Editing agents.yml and sites.yml from the console: secrets masked, validation with the same messages as
check_config, a diff, and saving with a backup and a hot reload."""

from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import yaml
from django.conf import settings
from django.utils import timezone

from wpublisher.config.schema import AGENTS_FILE, API_KEYS_FILE, SITES_FILE, SYSTEM_FILE, ConfigInvalid, config_parse
from wpublisher.config.services import ReloadResult, config_reload
from wpublisher.exceptions import ValidationFailed

EDITABLE_FILES = (AGENTS_FILE, SITES_FILE)
MASK = "••••••••"
# Where each file keeps its secrets: (list key, field).
_SECRET_FIELDS = {AGENTS_FILE: ("agents", "api_key"), SITES_FILE: ("sites", "app_password")}


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
    """Masks left as they were become the secrets they stand for again; edited ones are what was typed."""
    for number, secret in reversed(list(enumerate(_literal_secrets(name, original), start=1))):
        edited = edited.replace(_token(number), secret)
    return edited


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
    texts = {**_current_texts(), name: _unmask(name, edited, original)}
    try:
        config_parse(texts, environ=os.environ)
        problems: list[str] = []
    except ConfigInvalid as invalid:
        problems = invalid.messages
    masked_original, _ = config_file_read_masked(name=name)
    diff = difflib.unified_diff(
        masked_original.splitlines(), edited.splitlines(), f"{name} (running)", f"{name} (edited)", lineterm=""
    )
    kinds = {"+": "added", "-": "removed", "@": "hunk"}
    return problems, [(kinds.get(line[:1], "same"), line) for line in diff]


def config_file_save(*, name: str, edited: str, fingerprint: str) -> ReloadResult:
    """Save a valid edited file: a backup of the old one first, then an atomic replace and a reload.
    An invalid file is refused with its messages and nothing is written."""
    problems, _ = config_file_check(name=name, edited=edited, fingerprint=fingerprint)
    if problems:
        raise ConfigInvalid(problems)
    path = _path(name)
    original = path.read_text()
    backups = settings.CONFIG_DIR / "backups"
    backups.mkdir(exist_ok=True)
    shutil.copy2(path, backups / f"{name}.{timezone.now():%Y%m%d-%H%M%S-%f}")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.")
    with os.fdopen(handle, "w") as file:
        file.write(_unmask(name, edited, original))
    os.chmod(temporary, path.stat().st_mode & 0o777)
    os.replace(temporary, path)
    return config_reload(sync=True)
