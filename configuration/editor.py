"""Saving a config file edited in the console: written by `core.config.editor`, then reloaded here."""

from __future__ import annotations

from configuration.reload import ReloadResult, config_reload
from core.config.editor import config_file_write


def config_file_save(*, name: str, edited: str, fingerprint: str) -> ReloadResult:
    """Save a valid edited file (a backup of the old one first, then an atomic replace) and reload it.
    An invalid file is refused with its messages and nothing is written."""
    config_file_write(name=name, edited=edited, fingerprint=fingerprint)
    return config_reload(sync=True)
