"""Hot reload: watch the config directory and reload when one of its files changes."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from django.db import connections
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from configuration.reload import config_reload
from core.config.types import AGENTS_FILE, API_KEYS_FILE, SITES_FILE, SYSTEM_FILE

logger = logging.getLogger(__name__)

WATCHED_FILES = frozenset({AGENTS_FILE, SITES_FILE, SYSTEM_FILE, API_KEYS_FILE})
# Editors write a file in several steps (truncate, write, rename); wait until they are done.
DEBOUNCE_SECONDS = 0.3


class _ConfigFileHandler(FileSystemEventHandler):
    def __init__(self, on_change):
        self._on_change = on_change
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in {"opened", "closed_no_write"}:
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if not any(Path(str(p)).name in WATCHED_FILES for p in paths if p):
            return
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(DEBOUNCE_SECONDS, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def stop(self) -> None:
        """Cancel a pending reload and wait for one that is running."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            timer.join(timeout=30)

    def _fire(self) -> None:
        try:
            self._on_change()
        except Exception:
            logger.exception("configuration reload failed")
        finally:
            connections.close_all()  # this timer thread's own connections


_observer = None
_handler: _ConfigFileHandler | None = None
_observer_lock = threading.Lock()


def config_watch_start(config_dir: Path, *, sync: bool = True) -> None:
    """Start watching `config_dir` (once per process)."""
    global _observer, _handler

    with _observer_lock:
        if _observer is not None:
            return
        observer = Observer()
        _handler = _ConfigFileHandler(lambda: config_reload(sync=sync))
        observer.schedule(_handler, str(config_dir))
        observer.daemon = True
        observer.start()
        _observer = observer
        logger.info("watching %s for configuration changes", config_dir)


def config_watch_stop() -> None:
    global _observer, _handler
    with _observer_lock:
        if _observer is not None:
            _observer.stop()
            _observer.join(timeout=5)
            _observer = None
        if _handler is not None:
            _handler.stop()
            _handler = None
