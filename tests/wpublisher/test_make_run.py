"""`make run` on the embedded default: web, worker and beat come up with no external service, /health
answers, a task crosses from one process to the worker, and one Ctrl-C stops everything."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_with_env(marker: str) -> list[int]:
    """PIDs of processes whose environment holds `marker` (every process `make run` started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_make_run_serves_health_runs_tasks_and_stops_on_one_ctrl_c(tmp_path):
    port = free_port()
    data_dir, config_dir = tmp_path / "data", tmp_path / "config"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(PORT=str(port), WPUBLISHER_DATA_DIR=str(data_dir), WPUBLISHER_CONFIG_DIR=str(config_dir))
    log = (tmp_path / "make-run.log").open("w+")
    make = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def healthy():
            try:
                status, body = get_json(f"http://127.0.0.1:{port}/health")
            except OSError:
                return None
            return body if status == 200 and body["config"]["status"] == "ok" else None

        body = wait_for(healthy, 120, "/health")
        assert body["status"] == "ok"
        assert body["broker"]["status"] == "ok"
        assert body["database"] == {"status": "ok"}  # the details are for staff only
        assert sqlite3.connect(data_dir / "wpublisher.sqlite3").execute("PRAGMA journal_mode").fetchone() == ("wal",)

        # init printed the keys once; the config it wrote holds only their hashes.
        output = Path(log.name).read_text()
        keys = re.findall(r"^  [\w.-]+: (wpk_\S+)$", output, re.M)
        assert len(keys) == 3
        assert not [key for key in keys if key in (config_dir / "agents.yml").read_text()]

        # A task sent from another process reaches the worker through the server-less broker.
        subprocess.run(
            [
                ROOT / ".venv/bin/python",
                "manage.py",
                "shell",
                "-c",
                "from audit.tasks import apply_audit_retention as t; t.delay()",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        wait_for(
            lambda: re.search(r"Task audit.apply_retention\[[\w-]+\] succeeded", Path(log.name).read_text()),
            60,
            "the worker to run the task",
        )
        started = processes_with_env(f"WPUBLISHER_DATA_DIR={data_dir}")
        assert len(started) >= 4  # make, the supervisor, daphne, worker (+ its children), beat
    finally:
        # Ctrl-C in a terminal signals the foreground process group.
        os.killpg(make.pid, signal.SIGINT)
        make.wait(timeout=60)
    wait_for(lambda: not processes_with_env(f"WPUBLISHER_DATA_DIR={data_dir}"), 30, "every process to stop")
