"""Files that hold secrets (config files, their backups, the SQLite database) are readable by their owner
only: mode 0600, whatever the umask. A file that already exists with a wider mode is narrowed; one that
cannot be (another user's, a read-only mount) is left as it is and keeps working. Standard library only:
settings.py uses it before Django is set up."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

PRIVATE_MODE = 0o600
# What SQLite keeps beside a database file (it creates them with the database file's own mode).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def file_private(path: Path) -> None:
    """Narrow `path` to 0600 when it exists and group or others may use it."""
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            path.chmod(mode & PRIVATE_MODE)
    except FileNotFoundError:
        return
    except OSError as error:
        logger.warning("cannot make %s private (mode 0600): %s", path, error.strerror)


def files_private(paths: Iterable[Path]) -> None:
    for path in paths:
        file_private(path)


def file_write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (a temporary file in the same folder, then a rename), mode 0600."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp: mode 0600
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def sqlite_database_private(path: Path) -> None:
    """Create the SQLite database file empty with mode 0600 when it does not exist yet (SQLite gives its
    -wal, -shm and -journal files the database file's mode), and narrow existing ones to 0600."""
    with contextlib.suppress(FileExistsError, OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
    files_private([path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)])
