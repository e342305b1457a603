"""The running configuration of this process: what is loaded, when, and the last error.

A process holds one immutable `Config`, swapped in with a single assignment so that a request sees the old
or the new config, never a mix. Reading it is all most code needs (`config_current`, `system_limits`);
loading it from the files without touching the database happens here too, on first use. Reloading with a
sync into the database and an audit row is `configuration.reload`, which only entry points call.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from core.config.schema import config_read
from core.config.types import (
    AGENTS_FILE,
    API_KEYS_FILE,
    SITES_FILE,
    SYSTEM_FILE,
    Config,
    ConfigInvalid,
    GlobalSettings,
    SystemSettings,
)
from core.files import files_private
from core.redaction import secrets_register

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
# Held while the files are read and, in a reload, synced: one load at a time per process (re-entrant: a
# sync that reads the running config before the first one is installed loads it without waiting on itself).
config_lock = threading.RLock()


def config_state_reset() -> None:
    """Forget the loaded config (tests start each from the files)."""
    global _state
    _state = ConfigState()


def config_current() -> Config:
    """The running config, loaded (without syncing) on first use. Raises ConfigInvalid when no valid
    config has ever been loaded in this process."""
    if _state.config is None:
        with config_lock:
            if _state.config is None:
                try:
                    config_install(config_files_read())
                except ConfigInvalid as invalid:
                    config_failed(invalid.messages)
    if _state.config is None:
        raise ConfigInvalid(_state.last_error or ["no configuration loaded"])
    return _state.config


def global_settings() -> GlobalSettings:
    """agents.yml's global_settings as running now, or the defaults while no valid config has been loaded."""
    config = _state.config
    return config.global_settings if config else GlobalSettings()


def system_limits() -> SystemSettings:
    """system.yml's limits as running now, or the defaults while no valid config has been loaded."""
    config = _state.config
    return config.system if config else SystemSettings()


def config_files_read() -> Config:
    """Read and validate the files in CONFIG_DIR (owner only: they hold keys and application passwords,
    also when written by hand). Raises ConfigInvalid with every problem."""
    files_private(settings.CONFIG_DIR / name for name in (AGENTS_FILE, SITES_FILE, SYSTEM_FILE, API_KEYS_FILE))
    return config_read(settings.CONFIG_DIR, environ=os.environ)


def config_is_running(config: Config) -> bool:
    """Whether `config` is what runs now; clears a past error, since the files are valid again."""
    if _state.config is not None and _state.config.fingerprint == config.fingerprint:
        _state.last_error, _state.last_error_at = [], None
        return True
    return False


def config_install(config: Config) -> None:
    """Swap `config` in (one assignment) and mask its secrets in logs and audit rows from now on."""
    _state.secrets_seen |= config.secrets()
    secrets_register(_state.secrets_seen)
    _state.config, _state.loaded_at = config, timezone.now()
    _state.last_error, _state.last_error_at = [], None
    logger.info("configuration loaded: %d agents, %d sites", len(config.agents), len(config.sites))


def config_failed(messages: list[str]) -> str:
    """Record and log an invalid set of files; the running config, if any, stays. Returns what stays."""
    _state.last_error, _state.last_error_at = messages, timezone.now()
    keeping = "keeping the last good configuration" if _state.config else "no configuration is running"
    logger.error("configuration invalid, %s:\n  %s", keeping, "\n  ".join(messages))
    return keeping


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
