"""The running configuration: load, validate, sync into the database, hot-reload.

A process holds one immutable `Config`. A reload reads and validates the files first; only a valid
config is synced and then swapped in with a single assignment, so a request sees the old or the new
config, never a mix. An invalid file leaves the last good config running and is audited with the exact
messages.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditLog, EventType, Severity
from audit.redaction import secrets_register
from audit.services import audit_record
from wpublisher.config.schema import (
    AGENTS_FILE,
    API_KEYS_FILE,
    SITES_FILE,
    SYSTEM_FILE,
    Config,
    ConfigInvalid,
    config_read,
)
from wpublisher.files import files_private

logger = logging.getLogger(__name__)


@dataclass
class ConfigState:
    config: Config | None = None
    loaded_at: datetime | None = None
    last_error: list[str] = field(default_factory=list)
    last_error_at: datetime | None = None
    # Every secret any config of this process held: a key a rotation moved out of the files (into an
    # api_key_hash) is still masked in logs and audit rows.
    secrets_seen: frozenset[str] = frozenset()


_state = ConfigState()
_reload_lock = threading.Lock()


def config_current_or_none() -> Config | None:
    return _state.config


def config_current() -> Config:
    """The running config, loaded (without syncing) on first use. Raises ConfigInvalid when no valid
    config has ever been loaded in this process."""
    if _state.config is None:
        config_reload(sync=False)
    if _state.config is None:
        raise ConfigInvalid(_state.last_error or ["no configuration loaded"])
    return _state.config


def config_status() -> dict:
    """For /health: what is running and the last error, if any."""
    config = _state.config
    return {
        "status": "error" if config is None else ("warning" if _state.last_error else "ok"),
        "directory": str(settings.CONFIG_DIR),
        "fingerprint": config.fingerprint[:12] if config else None,
        "agents": len(config.agents) if config else 0,
        "sites": len(config.sites) if config else 0,
        "loaded_at": _state.loaded_at.isoformat() if _state.loaded_at else None,
        "last_error": _state.last_error or None,
        "last_error_at": _state.last_error_at.isoformat() if _state.last_error_at else None,
    }


@dataclass
class ReloadResult:
    ok: bool
    changed: bool
    messages: list[str]
    summary: dict


def config_reload(*, sync: bool = True) -> ReloadResult:
    """Read and validate the files; on success sync them into the database (when `sync`) and swap them
    in. On failure keep the running config and audit the messages. Safe to call from any thread."""
    from agents.services import agent_keys_hash_new

    with _reload_lock:
        # The files hold keys and application passwords: owner only, also when written by hand.
        files_private(settings.CONFIG_DIR / name for name in (AGENTS_FILE, SITES_FILE, SYSTEM_FILE, API_KEYS_FILE))
        try:
            config = config_read(settings.CONFIG_DIR, environ=os.environ)
        except ConfigInvalid as invalid:
            _config_failed(invalid.messages, sync=sync)
            return ReloadResult(ok=False, changed=False, messages=invalid.messages, summary={})
        if _state.config is not None and _state.config.fingerprint == config.fingerprint:
            _state.last_error, _state.last_error_at = [], None
            return ReloadResult(ok=True, changed=False, messages=[], summary={})
        summary: dict = {}
        if sync:
            new_hashes = agent_keys_hash_new(agents=config.agents)
            summary = _config_sync(config, new_hashes)
        _state.secrets_seen |= config.secrets()
        secrets_register(_state.secrets_seen)
        _state.config, _state.loaded_at = config, timezone.now()
        _state.last_error, _state.last_error_at = [], None
        logger.info("configuration loaded: %d agents, %d sites", len(config.agents), len(config.sites))
        return ReloadResult(ok=True, changed=True, messages=[], summary=summary)


def _config_sync(config: Config, new_hashes: dict[str, str]) -> dict:
    from agents.services import agent_keys_sync, agents_sync
    from sites.services import sites_sync

    with transaction.atomic():
        site_report = sites_sync(sites=config.sites)
        agent_report = agents_sync(agents=config.agents)
        agent_keys_sync(agents=config.agents, new_hashes=new_hashes, report=agent_report)
        summary = {
            "fingerprint": config.fingerprint,
            "agents": len(config.agents),
            "sites": len(config.sites),
            "agents_added": agent_report.added,
            "agents_updated": agent_report.updated,
            "agents_deactivated": agent_report.deactivated,
            "keys_added": agent_report.keys_added,
            "keys_revoked": agent_report.keys_revoked,
            "sites_added": site_report.added,
            "sites_updated": site_report.updated,
            "sites_deactivated": site_report.deactivated,
        }
        # Several processes may load the same files; the first one to sync them audits the reload.
        if not _last_config_audit_matches(EventType.CONFIG_RELOADED, config.fingerprint):
            audit_record(
                event_type=EventType.CONFIG_RELOADED,
                message=f"configuration loaded: {len(config.agents)} agents, {len(config.sites)} sites",
                metadata=summary,
            )
    return summary


def _last_config_audit_matches(event_type: EventType, fingerprint: str) -> bool:
    last = (
        AuditLog.objects.filter(event_type__in=[EventType.CONFIG_RELOADED, EventType.CONFIG_ERROR])
        .order_by("-id")
        .values("event_type", "metadata")
        .first()
    )
    return bool(last and last["event_type"] == event_type and last["metadata"].get("fingerprint") == fingerprint)


def _config_failed(messages: list[str], *, sync: bool) -> None:
    _state.last_error, _state.last_error_at = messages, timezone.now()
    keeping = "keeping the last good configuration" if _state.config else "no configuration is running"
    logger.error("configuration invalid, %s:\n  %s", keeping, "\n  ".join(messages))
    if not sync:
        return
    fingerprint = "error:" + "\n".join(messages)
    if not _last_config_audit_matches(EventType.CONFIG_ERROR, fingerprint):
        audit_record(
            event_type=EventType.CONFIG_ERROR,
            severity=Severity.ERROR,
            message=f"configuration invalid, {keeping}: " + "; ".join(messages),
            metadata={"messages": messages, "fingerprint": fingerprint},
        )
