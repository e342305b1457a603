"""Naming processes, so that work or sessions a process held can be recognised as orphaned when it died."""

from __future__ import annotations

import os
import socket


def process_label() -> str:
    """host:pid of the current process."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def process_is_dead(label: str) -> bool:
    """True when `label` names a process of this host that no longer runs. Processes of other hosts cannot
    be checked from here (False)."""
    host, _, pid = label.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False
