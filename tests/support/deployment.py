"""wpublisher as separate processes, as it runs for real: its own data dir, config dir and database,
`manage.py` commands, and Celery workers. Used where a test needs what only processes show (a worker
killed mid-task, two deliveries of one task)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import yaml

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


class Deployment:
    def __init__(
        self,
        directory: Path,
        *,
        agents: list[dict],
        sites: list[dict],
        publishing: dict | None = None,
        global_settings: dict | None = None,
        system: dict | None = None,
    ):
        self.directory = directory
        self.config_dir = directory / "config"
        self.config_dir.mkdir(parents=True)
        agents_doc = {"agents": agents, "global_settings": global_settings or {}}
        (self.config_dir / "agents.yml").write_text(yaml.safe_dump(agents_doc))
        (self.config_dir / "sites.yml").write_text(yaml.safe_dump({"sites": sites, "publishing": publishing or {}}))
        if system:
            (self.config_dir / "system.yml").write_text(yaml.safe_dump(system))
        self.web: subprocess.Popen | None = None
        self.port: int | None = None
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))},
            "WPUBLISHER_DATA_DIR": str(directory / "data"),
            "WPUBLISHER_CONFIG_DIR": str(self.config_dir),
            "API_KEY_BCRYPT_ROUNDS": "4",
        }
        self._database = None
        if os.environ.get("DATABASE_URL"):
            # A database of its own next to the test database, dropped at the end.
            self._database = f"wpublisher_e2e_{uuid.uuid4().hex[:10]}"
            self.env["DATABASE_URL"] = urlunparse(
                urlparse(os.environ["DATABASE_URL"])._replace(path=f"/{self._database}")
            )
            self._admin_sql(f'CREATE DATABASE "{self._database}"')
        if os.environ.get("REDIS_URL"):
            # Another Redis database, so no message of another test run is ever consumed here.
            self.env["REDIS_URL"] = urlunparse(urlparse(os.environ["REDIS_URL"])._replace(path="/7"))
            self.redis_flush()
        self.workers: list[subprocess.Popen] = []
        self.manage("migrate", "--noinput")

    def _admin_sql(self, sql: str) -> None:
        import psycopg

        url = urlparse(os.environ["DATABASE_URL"])._replace(path="/postgres")
        with psycopg.connect(urlunparse(url), autocommit=True) as conn:
            conn.execute(sql)

    def redis_flush(self) -> None:
        import redis

        redis.Redis.from_url(self.env["REDIS_URL"]).flushdb()

    def manage(self, *args: str, timeout: int = 120) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stderr[-4000:]}"
        return result.stdout

    def run(self, code: str) -> object:
        """Run Python in a wpublisher process (Django set up, config loaded and synced); returns what the
        code assigned to `result`, through JSON."""
        script = (
            "import json\nfrom configuration.reload import config_reload\nconfig_reload(sync=True)\n"
            f"result = None\n{code}\nprint('RESULT=' + json.dumps(result, default=str))"
        )
        out = self.manage("shell", "-c", script)
        line = next(line for line in reversed(out.splitlines()) if line.startswith("RESULT="))
        return json.loads(line.removeprefix("RESULT="))

    def start_worker(self, *, concurrency: int = 1, pool: str = "prefork", preload: str = "") -> subprocess.Popen:
        """A Celery worker. `preload` is Python run in the worker before it starts (a test's sabotage)."""
        argv = [
            "celery",
            "-A",
            "wpublisher",
            "worker",
            "--loglevel",
            "INFO",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        launcher = (
            "import os, sys, django\n"
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'wpublisher.settings')\n"
            f"django.setup()\n{preload}\nfrom celery.__main__ import main\nsys.argv = {argv!r}\nmain()\n"
        )
        log = (self.directory / f"worker-{len(self.workers)}.log").open("w")
        worker = subprocess.Popen(
            [PYTHON, "-c", launcher],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(worker)
        self.wait_for(lambda: "ready." in Path(log.name).read_text(), 60, "the worker to start")
        return worker

    def start_web(self, *, server: str = "daphne", env: dict[str, str] | None = None, preload: str = "") -> str:
        """The web server (daphne, or uvicorn) on a free port; returns its base URL once /health answers.
        `env` adds to the environment of this process only; `preload` is Python run in it before the server
        starts (a test's sabotage, as for the workers)."""
        import socket
        import urllib.request

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        log = (self.directory / "web.log").open("w")
        command = {
            "daphne": ["-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)],
            "uvicorn": ["-m", "uvicorn", "--host", "127.0.0.1", "--port", str(self.port), "--lifespan", "on"],
        }[server]
        argv = [*command, "wpublisher.asgi:application"]
        if preload:
            # The same server, run as `python -m` runs it, after the preload.
            launcher = (
                f"{preload}\nimport runpy, sys\nsys.argv = [{argv[1]!r}, *{argv[2:]!r}]\n"
                f"runpy.run_module({argv[1]!r}, run_name='__main__', alter_sys=True)\n"
            )
            argv = ["-c", launcher]
        self.web = subprocess.Popen(
            [PYTHON, *argv],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def up() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return True
            except OSError:
                return self.web.poll() is not None and _raise(f"the web server exited:\n{self.web_log()[-3000:]}")

        self.wait_for(up, 60, "the web server to answer /health")
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def web_log(self) -> str:
        return (self.directory / "web.log").read_text()

    def web_signal(self, signum: int = signal.SIGTERM) -> float:
        """Send `signum` to the web server process alone (as `manage.py serve` does); returns when, on
        the time.monotonic() clock, so a test can measure how long the server takes to exit."""
        assert self.web is not None, "no web server started"
        sent = time.monotonic()
        self.web.send_signal(signum)
        return sent

    def web_wait_exit(self, timeout: float) -> float:
        """Wait up to `timeout` seconds for the web server to exit; returns the time.monotonic() of its exit
        (noticed within 50 ms) or raises AssertionError with the end of its log."""
        assert self.web is not None, "no web server started"
        deadline = time.monotonic() + timeout
        while self.web.poll() is None:
            if time.monotonic() >= deadline:
                raise AssertionError(f"the web server did not exit in {timeout}s:\n{self.web_log()[-3000:]}")
            time.sleep(0.05)
        return time.monotonic()

    def worker_log(self, index: int = 0) -> str:
        return (self.directory / f"worker-{index}.log").read_text()

    @staticmethod
    def wait_for(check, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def close(self) -> None:
        for worker in [*self.workers, *([self.web] if self.web else [])]:
            stop_process_group(worker)
        if self._database:
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)')
        if os.environ.get("REDIS_URL"):
            self.redis_flush()


def stop_process_group(process: subprocess.Popen, timeout: float = 20) -> None:
    """Stop a process started with start_new_session, and its children: SIGTERM, then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _raise(message: str) -> bool:
    raise AssertionError(message)
