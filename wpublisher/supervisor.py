"""Supervision of the processes that `manage.py serve` runs (web, worker, beat), and the state it leaves
for the web process to report.

A child that exits while nobody asked it to is restarted after an exponential backoff, and no child's
death stops another: a worker killed by a broker error must not take the MCP sessions and the console
down with it. Each child runs in its own session (its own process group), so that a terminal's Ctrl-C
reaches only the supervisor, which then stops every child once, and so that a child's own children
(Celery's pool processes) can be killed with it.

The supervisor writes its state to `processes.json` in the data directory after every change; /health,
/metrics and the console's dashboard read it there. Only the supervisor writes it. The file outlives a
supervisor that was killed, so a reader trusts it only while the process that wrote it still runs."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.supervision import BACKING_OFF, RUNNING, STATE_FILE, STOPPED, STOPPING, process_start_marker

logger = logging.getLogger(__name__)


def _die_with_parent() -> None:
    """In the child, before it runs: on Linux, get SIGTERM when the supervisor dies (killed with -9, out
    of memory), so no worker or beat outlives it and a new `make run` does not find them still running."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# First restart after 1 s, then 2, 4, ... up to a minute between attempts of a child that keeps failing.
INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 60.0
# A child that ran this long before it exited counts as having been healthy: its backoff starts over.
STABLE_AFTER = 60.0
# How long the children get to finish their work after Ctrl-C before their process groups are killed.
STOP_TIMEOUT = 15.0
# How often the supervisor looks at its children (and how late it notices a signal, at most).
TICK = 0.1


def backoff_delay(failures: int, *, initial: float = INITIAL_BACKOFF, cap: float = MAX_BACKOFF) -> float:
    """Seconds before restarting a child after its `failures`-th exit in a row (1 for the first)."""
    if failures < 1:
        return 0.0
    # Capped before exponentiating: a child failing for days must not overflow the float.
    return min(cap, initial * 2 ** min(failures - 1, 32))


def exit_description(returncode: int) -> tuple[int | None, str | None]:
    """(exit code, None) for a process that exited, (None, signal name) for one a signal killed."""
    if returncode >= 0:
        return returncode, None
    try:
        return None, signal.Signals(-returncode).name
    except ValueError:
        return None, f"signal {-returncode}"


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds") if timestamp else None


def _kill_group(pgid: int, signum: int = signal.SIGKILL) -> bool:
    """Signal every process left in a child's process group; False when the group is empty."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # the pid was reused by a group we do not own: nothing of ours is left
        return False
    return True


# --- The supervisor (only in `manage.py serve`) -----------------------------------------------------------


@dataclass
class Child:
    """One supervised command and what happened to it."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    state: str = STOPPED
    started_at: float | None = None  # wall clock, for people
    started_monotonic: float = 0.0  # for durations
    restarts: int = 0
    failures: int = 0  # exits in a row that came before STABLE_AFTER
    last_exit: dict[str, Any] | None = None
    restart_due: float | None = None  # monotonic
    restart_at: float | None = None  # wall clock

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.returncode is None else None

    def as_state(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "pid": self.pid,
            "started_at": _iso(self.started_at) if self.pid else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "restart_at": _iso(self.restart_at) if self.state == BACKING_OFF else None,
        }


class Supervisor:
    """Runs `commands` (name -> argv) until SIGINT, SIGTERM or SIGHUP; restarts each one that exits.

    `run()` returns 0 once a requested stop has stopped every child: SIGTERM to each child's main process
    (Celery's worker then finishes its running tasks and stops its pool itself; a signal to its whole
    group would kill the pool children mid-task), up to `stop_timeout` seconds to exit, then SIGKILL to
    whatever is left in each process group. A second signal while stopping kills them at once."""

    def __init__(
        self,
        commands: dict[str, list[str]],
        *,
        state_file: Path,
        stop_timeout: float = STOP_TIMEOUT,
        initial_backoff: float = INITIAL_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        stable_after: float = STABLE_AFTER,
    ) -> None:
        self.children = [Child(name, list(argv)) for name, argv in commands.items()]
        self.state_file = state_file
        self.stop_timeout = stop_timeout
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.stable_after = stable_after
        self.state = STOPPED
        self.started_at = time.time()
        self._stop_requested = False
        self._kill_now = False

    # Signals only set flags: the loop acts on them within a TICK, never inside a handler that may have
    # interrupted a fork or a write of the state file.
    def _on_signal(self, signum: int, frame: object) -> None:
        if self._stop_requested:
            self._kill_now = True
        self._stop_requested = True

    def run(self) -> int:
        handled = [signal.SIGINT, signal.SIGTERM]
        # A closed terminal stops everything too, unless serve was started to survive it (nohup).
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            handled.append(signal.SIGHUP)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in handled}
        try:
            self.state = RUNNING
            for child in self.children:
                if not self._stop_requested:
                    self._start(child)
            self._write_state()
            while not self._stop_requested:
                self._watch()
                time.sleep(TICK)
        finally:
            # Also after an unexpected error in the loop: children must never outlive their supervisor.
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 0

    def _start(self, child: Child) -> None:
        now = time.monotonic()
        child.started_at, child.started_monotonic = time.time(), now
        child.restart_due = child.restart_at = None
        try:
            # Own session: a terminal's Ctrl-C reaches the supervisor only, and the group holds the
            # child's own children for the final SIGKILL.
            child.process = subprocess.Popen(  # noqa: S603 - our own commands
                child.argv, start_new_session=True, preexec_fn=_die_with_parent
            )
        except OSError as error:
            logger.error("%s could not be started: %s", child.name, error, extra={"event": "process_exited"})
            child.process = None
            self._schedule_restart(child, now)
            return
        child.state = RUNNING
        if child.restarts:
            logger.warning(
                "%s restarted (pid %d, restart %d)",
                child.name,
                child.process.pid,
                child.restarts,
                extra={"event": "process_restarted"},
            )
        else:
            logger.info("%s started (pid %d)", child.name, child.process.pid, extra={"event": "process_started"})

    def _watch(self) -> None:
        """Notice exits, start the children whose backoff is over, and record each change."""
        changed = False
        now = time.monotonic()
        for child in self.children:
            if child.state == RUNNING and child.process is not None and child.process.poll() is not None:
                self._exited(child, now)
                changed = True
            elif child.state == BACKING_OFF and child.restart_due is not None and now >= child.restart_due:
                child.restarts += 1
                self._start(child)
                changed = True
        if changed:
            self._write_state()

    def _exited(self, child: Child, now: float) -> None:
        assert child.process is not None
        code, signame = exit_description(child.process.returncode)
        ran_for = now - child.started_monotonic
        child.last_exit = {"code": code, "signal": signame, "at": _iso(time.time()), "ran_for_s": round(ran_for, 1)}
        # The main process is gone; what it started (a worker's pool) must not go on without it.
        leftovers = _kill_group(child.process.pid)
        delay = self._schedule_restart(child, now, ran_for=ran_for)
        logger.error(
            "%s (pid %d) exited with %s after %.1fs%s; restarting in %gs",
            child.name,
            child.process.pid,
            signame or f"code {code}",
            ran_for,
            "; killed the rest of its process group" if leftovers else "",
            delay,
            extra={"event": "process_exited"},
        )

    def _schedule_restart(self, child: Child, now: float, *, ran_for: float = 0.0) -> float:
        if ran_for >= self.stable_after:
            child.failures = 0
        child.failures += 1
        delay = backoff_delay(child.failures, initial=self.initial_backoff, cap=self.max_backoff)
        child.state = BACKING_OFF
        child.restart_due, child.restart_at = now + delay, time.time() + delay
        return delay

    def _stop_all(self) -> None:
        self.state = STOPPING
        running = [(c, c.process) for c in self.children if c.process is not None and c.process.returncode is None]
        running_children = [child for child, _ in running]
        for child in self.children:
            child.state = STOPPING if child in running_children else STOPPED
        self._write_state()
        if running:
            names = ", ".join(c.name for c in running_children)
            logger.info("stopping %s", names, extra={"event": "processes_stopping"})
        for _, process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        deadline = started + self.stop_timeout
        waiting = list(running)
        while waiting and not self._kill_now and time.monotonic() < deadline:
            for child, process in [pair for pair in waiting if pair[1].poll() is not None]:
                waiting.remove((child, process))
                self._stopped(child, f"stopped in {time.monotonic() - started:.1f}s")
            time.sleep(TICK)
        for child, process in running:
            if (child, process) in waiting and process.poll() is None:
                why = "a second signal" if self._kill_now else f"did not stop in {self.stop_timeout:g}s"
                logger.warning("%s (pid %d): %s; killing its process group", child.name, process.pid, why)
            # Whatever is left of the group (the leader, or a pool process it left behind) is killed.
            _kill_group(process.pid)
            if (child, process) in waiting:
                process.wait()
                self._stopped(child, f"stopped in {time.monotonic() - started:.1f}s")
        self.state = STOPPED
        self._write_state()
        logger.info("stopped", extra={"event": "processes_stopped"})

    def _stopped(self, child: Child, how: str) -> None:
        assert child.process is not None
        code, signame = exit_description(child.process.returncode)
        child.state = STOPPED
        ran_for = round(time.monotonic() - child.started_monotonic, 1)
        child.last_exit = {"code": code, "signal": signame, "at": _iso(time.time()), "ran_for_s": ran_for}
        logger.info("%s (pid %d) %s (%s)", child.name, child.process.pid, how, signame or f"code {code}")

    def _write_state(self) -> None:
        """Replace the state file in one rename, so that a reader never sees half of it; 0600 like every
        other file of the data directory that holds details of the deployment."""
        pid = os.getpid()
        payload = {
            "supervisor": {
                "pid": pid,
                "host": socket.gethostname(),
                "process_marker": process_start_marker(pid),
                "state": self.state,
                "started_at": _iso(self.started_at),
            },
            "updated_at": _iso(time.time()),
            "processes": {child.name: child.as_state() for child in self.children},
        }
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self.state_file.parent, prefix=f".{STATE_FILE}.")
            try:
                os.fchmod(descriptor, 0o600)
                with os.fdopen(descriptor, "w") as handle:
                    json.dump(payload, handle, indent=1)
                os.replace(temporary, self.state_file)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as error:
            # Supervision matters more than its report: a full disk must not stop the restarts.
            logger.warning("could not write %s: %s", self.state_file, error)
