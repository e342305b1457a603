"""The state `manage.py serve` leaves for the web process to report (wpublisher.supervisor writes it): which
processes run, how often they restarted, how the last one exited. /health, /metrics and the console's
dashboard read it here. The file outlives a supervisor that was killed, so a reader trusts it only while
the process that wrote it still runs."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings

STATE_FILE = "processes.json"
RUNNING, BACKING_OFF, STOPPING, STOPPED = "running", "backing-off", "stopping", "stopped"


def process_start_marker(pid: int) -> str | None:
    """What tells this process apart from a later one that reuses its pid (a container's serve is often
    pid 1 in every run): the boot id and the process's start time since boot. None where /proc is not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; the fields after its ")" do not.
    fields = stat.rpartition(")")[2].split()
    return f"{boot_id}:{fields[19]}" if len(fields) > 19 else None  # field 22: starttime


def state_path() -> Path:
    """Where serve writes its state: the data directory every process of this deployment shares."""
    return Path(settings.DATA_DIR) / STATE_FILE


@dataclass(frozen=True)
class ProcessExit:
    code: int | None
    signal: str | None
    at: datetime | None
    ran_for_s: float | None

    @property
    def how(self) -> str:
        """'SIGKILL' or 'code 1'."""
        return self.signal or f"code {self.code}"

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "signal": self.signal,
            "at": self.at.isoformat(timespec="milliseconds") if self.at else None,
            "ran_for_s": self.ran_for_s,
        }


@dataclass(frozen=True)
class ProcessStatus:
    """One child as the supervisor last recorded it."""

    name: str
    state: str
    pid: int | None
    started_at: datetime | None
    restarts: int
    last_exit: ProcessExit | None
    restart_at: datetime | None

    @property
    def up(self) -> bool:
        return self.state == RUNNING

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.state,
            "pid": self.pid,
            "started_at": self.started_at.isoformat(timespec="milliseconds") if self.started_at else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit.as_json() if self.last_exit else None,
            "restart_at": self.restart_at.isoformat(timespec="milliseconds") if self.restart_at else None,
        }


@dataclass(frozen=True)
class Supervision:
    """What /health, /metrics and the dashboard say about the processes.

    status: "ok" (every child running), "degraded" (a child is down, backing off or stopping),
    "unsupervised" (no serve wrote state here: compose, a test, a web server started alone), or
    "unknown" (the state file is unreadable, or the serve that wrote it no longer runs: its children's
    last recorded states would be stale, so none is reported)."""

    status: str
    detail: str = ""
    supervisor_pid: int | None = None
    updated_at: datetime | None = None
    children: list[ProcessStatus] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.supervisor_pid is not None:
            body["supervisor_pid"] = self.supervisor_pid
            body["updated_at"] = self.updated_at.isoformat(timespec="milliseconds") if self.updated_at else None
        if self.children:
            body["children"] = {child.name: child.as_json() for child in self.children}
        return body


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _supervisor_gone(supervisor: dict[str, Any]) -> str | None:
    """Why the recorded supervisor cannot be the one running now, or None while it runs."""
    pid = supervisor.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return f"{STATE_FILE} names no manage.py serve"
    if supervisor.get("host") != socket.gethostname():
        return f"recorded by manage.py serve on another host ({supervisor.get('host')})"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"the manage.py serve that recorded them (pid {pid}) no longer runs"
    except PermissionError:
        pass  # alive, another user's: the marker below decides
    recorded, current = supervisor.get("process_marker"), process_start_marker(pid)
    if recorded and current and recorded != current:
        return f"the manage.py serve that recorded them (pid {pid}) no longer runs; that pid is another process now"
    return None


def supervision_status(path: Path | None = None) -> Supervision:
    """The processes as the running supervisor last recorded them (read at every call: it is one small
    file, and /health must not report a restart late)."""
    path = path if path is not None else state_path()
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return Supervision("unsupervised", "not run by manage.py serve: nothing restarts the processes here")
    except (OSError, ValueError) as error:
        return Supervision("unknown", f"cannot read {path.name}: {error}")
    try:
        supervisor = raw["supervisor"]
        gone = _supervisor_gone(supervisor)
        updated_at = _when(raw.get("updated_at"))
        if gone:
            return Supervision("unknown", gone, supervisor_pid=supervisor.get("pid"), updated_at=updated_at)
        children = [
            ProcessStatus(
                name=name,
                state=str(entry["state"]),
                pid=entry.get("pid"),
                started_at=_when(entry.get("started_at")),
                restarts=int(entry.get("restarts", 0)),
                last_exit=ProcessExit(
                    code=entry["last_exit"].get("code"),
                    signal=entry["last_exit"].get("signal"),
                    at=_when(entry["last_exit"].get("at")),
                    ran_for_s=entry["last_exit"].get("ran_for_s"),
                )
                if entry.get("last_exit")
                else None,
                restart_at=_when(entry.get("restart_at")),
            )
            for name, entry in raw["processes"].items()
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return Supervision("unknown", f"{path.name} is not a state file of this version: {error!r}")
    all_up = supervisor.get("state") == RUNNING and all(child.up for child in children)
    detail = "" if supervisor.get("state") == RUNNING else f"serve is {supervisor.get('state')}"
    return Supervision(
        "ok" if all_up else "degraded",
        detail,
        supervisor_pid=supervisor["pid"],
        updated_at=updated_at,
        children=children,
    )
