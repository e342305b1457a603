"""`make soak`: wpublisher run as a user runs it, under mixed work and faults, against real WordPress sites.

Stands up three real WordPress sites (scripts/wordpress-local.sh), puts a fault-injecting proxy
(bench/faultproxy.py) in front of two of them, writes a config dir, and runs `manage.py migrate`,
`manage.py init --reviewer` and `manage.py serve` with a data dir of its own (on PostgreSQL + Redis when
DATABASE_URL / REDIS_URL are set: a fresh database and a Redis db number of its own). Then, in phases:

- soak: 10 agents submitting and polling over MCP, a reviewer approving (70 %) and rejecting through the
  console, /health and /metrics polled, two config edits on disk. Checks: no restart, no 5xx, no error,
  submitted = stored, approved = published exactly once (posts counted on WordPress), each tool's p95
  per minute flat.
- faults: one site answering 30 % 5xx, 10 % held past the timeout and 10 % of creates refused 400, one
  slow site. Checks: every approved article published exactly once (the reviewer retries what ends
  publish_failed, as a person would), no create retried by the publisher after a 4xx.
- kill-worker: the Celery worker SIGKILLed (main process or a pool process) at random moments across
  100 publishes. Checks: 0 duplicate and 0 lost posts.
- restart-web: 50 agents submitting while the web process is restarted (SIGTERM; serve restarts it).
  Checks: every acknowledged submission stored, once.

Prints a summary, writes bench/results-soak-<set-up>.json (a --smoke run writes var/ instead) and
exits 1 when a check fails. The run's directory (serve.log, the proxies' logs) is kept when one does.

    .venv/bin/python bench/soak.py [--minutes 30] [--smoke] [--phases soak,faults,kill-worker,restart-web]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlsplit, urlunparse

import httpx2
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.faultproxy import PASS_THROUGH, FaultPlan, FaultProxy  # noqa: E402
from bench.soak_clients import (  # noqa: E402
    Call,
    McpAgent,
    Recorder,
    Reviewer,
    ToolFailed,
    TransportFailure,
    percentile,
    reviewer_password,
    status_counts,
)
from core.keys import key_generate  # noqa: E402 - after the path is set
from tests.support.wordpress import LocalWordPress  # noqa: E402

PYTHON = sys.executable
PHASES = ("soak", "faults", "kill-worker", "restart-web")
MCP_TOOLS = ("submit_article", "get_article_status", "list_articles", "get_article", "list_sites")
# What a soak agent does between submissions when it is not polling an outstanding article.
BROWSING = ("get_article_status", "get_article", "list_articles", "list_sites")
BROWSING_WEIGHTS = (40, 20, 35, 5)
REVIEWER = "soak-reviewer"
REDIS_DB = 5  # a Redis database of its own: the tests use 0 and 7, the benchmark 1
# The publishing settings of the run: short, so that retries, timeouts and reconciliations happen within
# it. A held request waits `hold` seconds, past the timeout.
PUBLISHING = {"retry_attempts": 3, "retry_delay": 1, "timeout": 4, "max_concurrent_publishes": 5}
HOLD = PUBLISHING["timeout"] + 1.5
FAULTY = FaultPlan(error_share=0.30, timeout_share=0.10, create_4xx_share=0.10, refuse_first_creates=1, hold=HOLD)
SLOW = FaultPlan(delay=0.3)
# A publish that needed several attempts is looked at again this long after it settled
# (articles.services.publish_reconcile_delay), plus a margin for a busy machine.
RECONCILE_WAIT = 2 * PUBLISHING["timeout"] + 10 + 5
# The soak's "flat" rule: the p95 of the last buckets at most this many times that of the first ones, or
# at most FLAT_SLACK_MS above it (a few ms of noise on a fast tool is not a trend).
FLAT_RATIO, FLAT_SLACK_MS = 2.0, 25.0
# A bucket with fewer calls of a tool has no p95 worth comparing (it would be about its slowest call).
MIN_BUCKET_CALLS = 20


@dataclass(frozen=True)
class Sizes:
    """How much each phase does. The soak is sized by time, the fault phases by counts."""

    soak_seconds: float
    soak_agents: int
    submit_every: float  # seconds between one agent's submissions
    think: tuple[float, float]  # seconds between one agent's calls
    review_every: float
    health_every: float
    metrics_every: float
    bucket_seconds: float  # the p95-over-time buckets
    fault_articles: int
    kill_publishes: int
    kills: int
    kill_gap: tuple[float, float]
    restart_agents: int
    restarts: int
    restart_seconds: float  # how long the 50 agents submit
    settle_seconds: float  # at most this long for every approved article to settle after a phase

    @classmethod
    def of(cls, *, minutes: float | None, smoke: bool) -> Sizes:
        if smoke:
            return cls(
                soak_seconds=minutes * 60 if minutes else 25,
                soak_agents=10,
                submit_every=6,
                think=(0.3, 1.0),
                review_every=1.5,
                health_every=2,
                metrics_every=10,
                bucket_seconds=8,
                fault_articles=8,
                kill_publishes=10,
                kills=2,
                kill_gap=(2, 5),
                restart_agents=50,
                restarts=1,
                restart_seconds=15,
                settle_seconds=120,
            )
        return cls(
            soak_seconds=(minutes or 30) * 60,
            soak_agents=10,
            submit_every=20,
            think=(0.5, 1.5),
            review_every=3,
            health_every=5,
            metrics_every=30,
            bucket_seconds=60,
            fault_articles=60,
            kill_publishes=100,
            kills=10,
            kill_gap=(5, 15),
            restart_agents=50,
            restarts=3,
            restart_seconds=90,
            settle_seconds=300,
        )


@dataclass
class PhaseBook:
    """What one phase did, as the clients know it: the articles acknowledged to agents, the reviewer's
    decisions and retries, and when."""

    name: str
    marker: str
    started: float = 0.0  # time.time()
    ended: float = 0.0
    acknowledged: dict[int, dict] = field(default_factory=dict)  # article id -> title, site, agent, t
    unanswered: int = 0  # submissions that got no answer with an article id
    decisions: dict[int, str] = field(default_factory=dict)  # article id -> approve / reject
    decided_at: dict[int, float] = field(default_factory=dict)
    not_applied: int = 0  # a decision the next listing still showed pending
    retries: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))  # manual publish retries
    last_settled: float = 0.0
    checks: dict[str, dict] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    verifying: asyncio.Task | None = None  # the post count, when it waits for reconciliations

    def check(self, name: str, ok: bool, value: Any, want: str, *, judged: bool = True) -> None:
        """Record a check; one that is not `judged` is reported but fails nothing."""
        self.checks[name] = {"ok": bool(ok), "value": value, "want": want, "judged": judged}

    @property
    def failed(self) -> list[str]:
        return [name for name, check in self.checks.items() if check["judged"] and not check["ok"]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_name() -> str:
    """embedded, postgresql or postgresql-redis: as bench/run.py names its result files."""
    if not os.environ.get("DATABASE_URL"):
        return "embedded"
    return "postgresql" + ("-redis" if os.environ.get("REDIS_URL") else "")


def _start_marker(pid: int) -> str | None:
    """The start time of a process, so that a pid the system reused is never signalled by mistake."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def _children(pid: int) -> list[int]:
    """The direct children of a process, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if fields and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")).decode(errors="replace")
    except OSError:
        return ""


# --- Articles ------------------------------------------------------------------------------------------------

TOPICS = (
    "caching static sites",
    "a week with PostgreSQL",
    "notes on review queues",
    "what the retry budget is for",
    "small servers, big days",
    "the cost of a cold start",
    "writing for two audiences",
    "idempotent by design",
)


def article_arguments(rng: random.Random, *, marker: str, agent_id: str, n: int, sites: list[str]) -> dict:
    """submit_article arguments: a title unique to this run, phase, agent and count (so that its post can be
    found on WordPress), a Markdown body of 1 to 4 KB, sometimes tags and a category (else the site's)."""
    topic = rng.choice(TOPICS)
    paragraphs = [
        f"Paragraph {i} about {topic}: " + " ".join(rng.choice(TOPICS).split()[0] for _ in range(rng.randint(40, 90)))
        for i in range(rng.randint(2, 6))
    ]
    body = "\n\n".join(
        [
            f"# {topic.capitalize()}",
            paragraphs[0],
            "## Points\n\n" + "\n".join(f"- point {k} with *emphasis* and `code`" for k in range(rng.randint(2, 5))),
            *paragraphs[1:],
            "```python\nprint('soak')\n```",
            "[A link](https://example.org/soak) and **bold** text.",
        ]
    )
    arguments: dict[str, Any] = {
        "title": f"{marker} {agent_id} n{n} {topic}",
        "content_markdown": body,
        "target_site": rng.choice(sites),
        "idempotency_key": str(uuid.uuid4()),
    }
    if rng.random() < 0.6:
        arguments["tags"] = ["soak", f"topic-{rng.randint(0, 4)}"]
    if rng.random() < 0.4:
        arguments["category"] = "Soak news"
    return arguments


# --- The run -------------------------------------------------------------------------------------------------


class Run:
    def __init__(self, *, sizes: Sizes, smoke: bool, phases: list[str], keep: bool, output: Path | None):
        self.sizes, self.smoke, self.phases, self.keep = sizes, smoke, phases, keep
        self.directory = Path(tempfile.mkdtemp(prefix="wpublisher-soak-"))
        self.data_dir, self.config_dir = self.directory / "data", self.directory / "config"
        self.config_dir.mkdir()
        self.setup = setup_name()
        self.output = output or (
            ROOT / "var" / f"soak-smoke-{self.setup}.json"
            if smoke
            else ROOT / "bench" / f"results-soak-{self.setup}.json"
        )
        self.marker = f"wps{uuid.uuid4().hex[:8]}"
        self.rng = random.Random()  # noqa: S311 - a load pattern, not a secret
        self.recorder = Recorder()
        self.books: dict[str, PhaseBook] = {}
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))},
            "WPUBLISHER_DATA_DIR": str(self.data_dir),
            "WPUBLISHER_CONFIG_DIR": str(self.config_dir),
            "DJANGO_SETTINGS_MODULE": "wpublisher.settings",
            # serve's log is kept for the report: INFO has the worker's "ready." and each restart.
            "LOG_LEVEL": "INFO",
        }
        if smoke:
            # bcrypt at its real cost (12) makes 50 agents' first calls after a web restart take 10 s of CPU
            # on this machine: real, and measured by the full run; the smoke run only checks the harness.
            self.env["API_KEY_BCRYPT_ROUNDS"] = "4"
        self.database: str | None = None
        self.wordpress: LocalWordPress | None = None
        self.proxies: dict[str, FaultProxy] = {}
        self.sites: dict[str, dict] = {}  # site id -> the real site (sites.json entry)
        self.config: dict[str, dict] = {}
        self.keys: dict[str, str] = {}
        self.serve: subprocess.Popen | None = None
        self.serve_log_path = self.directory / "serve.log"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.reviewer: Reviewer | None = None
        # What the supervisor reported, over time: child -> [(time, pid, restarts, state)].
        self.process_history: dict[str, list[tuple[float, int | None, int, str]]] = defaultdict(list)
        self.started_processes: dict[int, str | None] = {}  # pid -> start marker: what to stop at the end
        self.health: list[dict] = []
        self.metrics_restarts: dict[str, float] = {}
        self.results: dict[str, Any] = {}

    # --- set-up ---------------------------------------------------------------------------------------------

    def stand_up(self) -> None:
        started = time.monotonic()
        self._database_create()
        self.wordpress = LocalWordPress(self.directory / "wordpress", count=3)
        self.wordpress.up()
        self.sites = dict(self.wordpress.sites)
        for site_id, seed in (("wp2", 2), ("wp3", 3)):
            parts = urlsplit(self.sites[site_id]["api_url"])
            proxy = FaultProxy(f"{parts.scheme}://{parts.netloc}", name=site_id, seed=seed)
            proxy.start()
            self.proxies[site_id] = proxy
        self._config_write()
        self.manage("migrate", "--noinput")
        self.reviewer_password = reviewer_password(self.manage("init", "--reviewer", REVIEWER))
        self._serve_start()
        print(f"set up in {time.monotonic() - started:.0f}s: {self.base_url}, {self.directory}", flush=True)

    def _database_create(self) -> None:
        if os.environ.get("DATABASE_URL"):
            self.database = f"wpublisher_soak_{uuid.uuid4().hex[:10]}"
            self.env["DATABASE_URL"] = urlunparse(
                urlparse(os.environ["DATABASE_URL"])._replace(path=f"/{self.database}")
            )
            self._admin_sql(f'CREATE DATABASE "{self.database}"')
        if os.environ.get("REDIS_URL"):
            self.env["REDIS_URL"] = urlunparse(urlparse(os.environ["REDIS_URL"])._replace(path=f"/{REDIS_DB}"))
            self._redis_flush()

    def _database_drop(self) -> None:
        if self.database:
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self.database = None
        if os.environ.get("REDIS_URL"):
            self._redis_flush()

    @staticmethod
    def _admin_sql(sql: str) -> None:
        import psycopg

        url = urlparse(os.environ["DATABASE_URL"])._replace(path="/postgres")
        with psycopg.connect(urlunparse(url), autocommit=True) as conn:
            conn.execute(sql)

    def _redis_flush(self) -> None:
        import redis

        redis.Redis.from_url(self.env["REDIS_URL"]).flushdb()

    def _site_entry(self, site_id: str) -> dict:
        site = self.sites[site_id]
        api_url = self.proxies[site_id].url_for(site["api_url"]) if site_id in self.proxies else site["api_url"]
        entry = {
            "id": site_id,
            "name": f"Soak {site_id}" + {"wp2": " (faulty proxy)", "wp3": " (slow proxy)"}.get(site_id, ""),
            "api_url": api_url,
            "username": site["username"],
            "app_password": site["app_password"],
            "default_category": "Uncategorized",
            "default_tags": ["soak"],
            "health_check_interval": 10,
        }
        if site_id == "wp1":
            entry["default"] = True
        return entry

    def _config_write(self) -> None:
        self.keys = {f"soak-{n:02d}": key_generate()[1] for n in range(1, self.sizes.restart_agents + 1)}
        self.config = {
            "agents.yml": {
                "agents": [
                    {
                        "id": agent_id,
                        "name": f"Soak agent {agent_id}",
                        "role": "content-creator",
                        "api_key": key,
                        "scopes": ["article:submit", "article:read"],
                    }
                    for agent_id, key in self.keys.items()
                ],
                "global_settings": {"max_concurrent_agents": 100},
            },
            "sites.yml": {"sites": [self._site_entry(s) for s in sorted(self.sites)], "publishing": PUBLISHING},
            "system.yml": {"rate_limits": {"tool_calls_per_minute": 10000}},
        }
        for name, document in self.config.items():
            path = self.config_dir / name
            path.write_text(yaml.safe_dump(document, sort_keys=False))
            path.chmod(0o600)

    def manage(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(  # noqa: S603 - our own command
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, "LOG_LEVEL": "WARNING"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result.stdout

    def _serve_start(self) -> None:
        log = self.serve_log_path.open("ab")
        self.serve = subprocess.Popen(  # noqa: S603 - our own command
            [PYTHON, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started_processes[self.serve.pid] = _start_marker(self.serve.pid)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.serve.poll() is not None:
                raise RuntimeError(f"manage.py serve exited ({self.serve.returncode}):\n{self.serve_log()[-4000:]}")
            self._processes_poll()
            try:
                response = httpx2.get(f"{self.base_url}/health", timeout=5)
                if response.status_code == 200 and self._worker_ready():
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"manage.py serve did not answer /health in 180s:\n{self.serve_log()[-4000:]}")

    def _worker_ready(self) -> bool:
        """The worker logged that it is ready (it must consume before the first approval is timed)."""
        return "ready." in self.serve_log()

    def serve_log(self) -> str:
        try:
            return self.serve_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- the supervised processes ---------------------------------------------------------------------------

    def processes(self) -> dict[str, dict]:
        """serve's children as its supervisor recorded them (processes.json): name -> pid, restarts, state.
        Without that file (a serve that does not write it), the children found in /proc, restarts unknown."""
        try:
            state = json.loads((self.data_dir / "processes.json").read_text())
            return {
                name: {"pid": entry.get("pid"), "restarts": int(entry.get("restarts", 0)), "state": entry.get("state")}
                for name, entry in state["processes"].items()
            }
        except (OSError, ValueError, KeyError, TypeError):
            pass
        found: dict[str, dict] = {}
        if self.serve is not None:
            for pid in _children(self.serve.pid):
                command = _cmdline(pid)
                name = "web" if "daphne" in command else "beat" if " beat" in command else "worker"
                found[name] = {"pid": pid, "restarts": -1, "state": "running"}
        return found

    def _processes_poll(self) -> dict[str, dict]:
        now = time.time()
        current = self.processes()
        for name, entry in current.items():
            history = self.process_history[name]
            row = (now, entry["pid"], entry["restarts"], entry["state"])
            if not history or history[-1][1:] != row[1:]:
                history.append(row)
            pid = entry["pid"]
            if pid and pid not in self.started_processes:
                self.started_processes[pid] = _start_marker(pid)
        return current

    def restarts(self) -> dict[str, int]:
        """Restarts per child: the supervisor's count, else the pid changes seen."""
        counts = {}
        for name, history in self.process_history.items():
            recorded = max((row[2] for row in history), default=0)
            pids = [row[1] for row in history if row[1]]
            changes = sum(1 for a, b in itertools.pairwise(pids) if a != b)
            counts[name] = recorded if recorded >= 0 else changes
        return counts

    def pid(self, name: str) -> int | None:
        entry = self._processes_poll().get(name) or {}
        return entry.get("pid") if entry.get("state") in (None, "running") else None

    async def monitor(self, stop: asyncio.Event) -> None:
        """Poll serve's state, /health and /metrics for the whole run. Raises when serve itself exits: the
        run cannot go on (run_phases stops the phase)."""
        async with httpx2.AsyncClient(base_url=self.base_url, timeout=10) as http:
            next_health = next_metrics = 0.0
            while not stop.is_set():
                if self.serve is not None and self.serve.poll() is not None:
                    raise RuntimeError(
                        f"manage.py serve exited ({self.serve.returncode}) during {self.recorder.phase}:\n"
                        f"{self.serve_log()[-3000:]}"
                    )
                self._processes_poll()
                now = time.monotonic()
                if now >= next_health:
                    next_health = now + self.sizes.health_every
                    await self._health_sample(http)
                if now >= next_metrics:
                    next_metrics = now + self.sizes.metrics_every
                    await self._metrics_sample(http)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)

    async def _health_sample(self, http: httpx2.AsyncClient) -> dict | None:
        sent, started = time.time(), time.perf_counter()
        # /health shows the config's fingerprint and last error to staff only: as the reviewer, once logged in.
        session = self.reviewer.http.cookies.get("sessionid") if self.reviewer else None
        try:
            response = await http.get("/health", headers={"Cookie": f"sessionid={session}"} if session else None)
        except httpx2.HTTPError as error:
            outcome = "connect" if isinstance(error, httpx2.ConnectError) else "transport"
            self.recorder.add(t=sent, client="monitor", tool="health", ms=0.0, status=None, outcome=outcome)
            self.health.append({"t": sent, "phase": self.recorder.phase, "code": None})
            return None
        ms = (time.perf_counter() - started) * 1000
        outcome = "ok" if response.status_code == 200 else f"http_{response.status_code}"
        self.recorder.add(t=sent, client="monitor", tool="health", ms=ms, status=response.status_code, outcome=outcome)
        try:
            body = response.json()
        except ValueError:
            body = {}
        sample = {
            "t": sent,
            "phase": self.recorder.phase,
            "code": response.status_code,
            "status": body.get("status"),
            "config": (body.get("config") or {}).get("status"),
            "fingerprint": (body.get("config") or {}).get("fingerprint"),
            "config_error": (body.get("config") or {}).get("last_error"),
            "processes": (body.get("processes") or {}).get("status"),
            "broker": (body.get("broker") or {}).get("status"),
        }
        self.health.append(sample)
        return sample

    async def _metrics_sample(self, http: httpx2.AsyncClient) -> None:
        sent, started = time.time(), time.perf_counter()
        try:
            response = await http.get("/metrics")
        except httpx2.HTTPError as error:
            outcome = "connect" if isinstance(error, httpx2.ConnectError) else "transport"
            self.recorder.add(t=sent, client="monitor", tool="metrics", ms=0.0, status=None, outcome=outcome)
            return
        ms = (time.perf_counter() - started) * 1000
        outcome = "ok" if response.status_code == 200 else f"http_{response.status_code}"
        self.recorder.add(t=sent, client="monitor", tool="metrics", ms=ms, status=response.status_code, outcome=outcome)
        for line in response.text.splitlines():
            match = re.match(r'wpublisher_process_restarts_total\{process="(\w+)"\} ([0-9.e+]+)', line)
            if match:
                self.metrics_restarts[match.group(1)] = float(match.group(2))

    # --- agents and the reviewer ----------------------------------------------------------------------------

    def agent(self, agent_id: str) -> McpAgent:
        return McpAgent(base_url=self.base_url, agent_id=agent_id, key=self.keys[agent_id], recorder=self.recorder)

    async def submit(
        self, book: PhaseBook, agent: McpAgent, arguments: dict, *, retry_until: float | None
    ) -> dict | None:
        """One submission; acknowledged when an answer with an article id comes back. With `retry_until`,
        sent again (same idempotency key) after a lost answer until then."""
        try:
            if retry_until is None:
                result = await agent.call("submit_article", arguments)
            else:
                result = await agent.call_retrying("submit_article", arguments, deadline=retry_until)
        except (TransportFailure, ToolFailed):
            book.unanswered += 1
            return None
        book.acknowledged[int(result["id"])] = {
            "title": arguments["title"],
            "site": arguments["target_site"],
            "agent": agent.agent_id,
            "t": time.time(),
        }
        return result

    async def review(
        self, book: PhaseBook, *, approve_share: float, done: asyncio.Event, retry_failed: bool, wave: int = 0
    ) -> None:
        """The reviewer at the console until `done` is set and nothing of the phase is pending any more (nor,
        with `retry_failed`, failed): approves `approve_share` of what is pending, one by one or a few at once
        through the batch form; with `retry_failed`, retries a failed publish as a person would. `wave`
        (> 0) approves at most that many per round, so that publishes are spread over the phase."""
        assert self.reviewer is not None
        while True:
            try:
                pending = await self.reviewer.articles(search=book.marker, status="pending_review")
                failed = (
                    await self.reviewer.articles(search=book.marker, status="publish_failed") if retry_failed else []
                )
                # With retries, a publish still running may yet fail: the reviewer waits for it.
                running = done.is_set() and not pending and not failed and retry_failed
                if running:
                    running = bool(await self.reviewer.articles(search=book.marker, status="publishing"))
                if done.is_set() and not pending and not failed and not running:
                    return
            except TransportFailure:
                await asyncio.sleep(1)
                continue
            approvals, rejections = [], []
            for article in pending[:wave] if wave else pending:
                article_id = int(article["id"])
                if article_id in book.decisions:
                    book.not_applied += 1
                decision = book.decisions.get(article_id) or (
                    "approve" if self.rng.random() < approve_share else "reject"
                )
                book.decisions[article_id] = decision
                book.decided_at[article_id] = time.time()
                (approvals if decision == "approve" else rejections).append(article)
            try:
                if len(approvals) > 1 and self.rng.random() < 0.3:
                    await self.reviewer.batch("approve", approvals)
                else:
                    for article in approvals:
                        await self.reviewer.approve(article)
                if len(rejections) > 1 and self.rng.random() < 0.3:
                    await self.reviewer.batch("reject", rejections, reason="soak: batch reject")
                else:
                    for article in rejections:
                        await self.reviewer.reject(article)
                for article in failed:
                    book.retries[int(article["id"])].append(time.time())
                    await self.reviewer.retry(int(article["id"]))
            except TransportFailure:
                pass  # recorded; the next round sees what is still pending
            await asyncio.sleep(self.sizes.review_every)

    async def settle(self, book: PhaseBook, *, timeout: float) -> dict[str, int]:
        """Wait until no approved article of the phase is still publishing (at most `timeout` seconds);
        returns the final status counts."""
        assert self.reviewer is not None
        deadline = time.monotonic() + timeout
        approved = {i for i, d in book.decisions.items() if d == "approve"}
        statuses: dict[int, str] = {}
        while True:
            try:
                articles = await self.reviewer.articles(search=book.marker)
                statuses = {int(a["id"]): a["status"] for a in articles}
                open_ = [i for i in approved if statuses.get(i) in ("publishing", "pending_review")]
            except TransportFailure:
                open_ = list(approved)  # unknown: the web does not answer
            if not open_ or time.monotonic() > deadline:
                book.last_settled = time.time()
                return dict(Counter(statuses.values()))
            await asyncio.sleep(1)

    # --- checking -------------------------------------------------------------------------------------------

    def stored(self, marker: str) -> dict:
        """The database's view of a phase's articles and their publish events (manage.py shell)."""
        code = (
            "import json\n"
            "from django.db.models import Count\n"
            "from articles.models import Article\n"
            "from audit.models import AuditLog\n"
            f"articles = Article.objects.filter(title__contains={marker!r})\n"
            "rows = list(articles.values('id', 'title', 'status', 'target_site_id', 'wordpress_post_id', "
            "'publish_attempts'))\n"
            "events = AuditLog.objects.filter(article_id__in=articles.values('id'))\n"
            "counts = dict(events.values_list('event_type').annotate(n=Count('id')).values_list('event_type', 'n'))\n"
            "trashed = list(events.filter(event_type='publish_duplicate_trashed').values_list('article_id', "
            "'metadata'))\n"
            "print('RESULT=' + json.dumps({'rows': rows, 'events': counts, 'trashed': trashed}, default=str))\n"
        )
        out = self.manage("shell", "-c", code)
        line = next(line for line in reversed(out.splitlines()) if line.startswith("RESULT="))
        return json.loads(line.removeprefix("RESULT="))

    def posts(self, marker: str) -> dict[str, list[dict]]:
        """Every post of a phase on every site, trashed ones included, read from WordPress itself (not
        through the proxies): site id -> posts."""
        import requests

        found: dict[str, list[dict]] = {}
        for site_id, site in self.sites.items():
            posts: list[dict] = []
            for status in ("any", "trash"):
                for page in range(1, 1000):
                    response = requests.get(
                        f"{site['api_url']}/posts",
                        params={
                            "search": marker,
                            "status": status,
                            "context": "edit",
                            "per_page": 100,
                            "page": page,
                            "_fields": "id,status,slug,title",
                        },
                        auth=(site["username"], site["app_password"]),
                        timeout=60,
                    )
                    if response.status_code == 400 and page > 1:
                        break  # past the last page
                    response.raise_for_status()
                    batch = response.json()
                    posts.extend(batch)
                    if len(batch) < 100:
                        break
            found[site_id] = posts
        return found

    def verify_publishing(self, book: PhaseBook, *, database: dict | None = None) -> dict:
        """submitted = stored; approved = published, each with exactly one post that is not in the trash,
        on its site and public; no post for any other article; trashed duplicates audited."""
        database = database or self.stored(book.marker)
        rows = {int(r["id"]): r for r in database["rows"]}
        by_title: dict[str, list[int]] = defaultdict(list)
        for article_id, row in rows.items():
            by_title[row["title"]].append(article_id)
        posts = self.posts(book.marker)
        live: dict[int, list[tuple[str, dict]]] = defaultdict(list)
        trashed: dict[int, list[tuple[str, dict]]] = defaultdict(list)
        stray = []
        for site_id, site_posts in posts.items():
            for post in site_posts:
                title = (post.get("title") or {}).get("raw", "")
                ids = by_title.get(title, [])
                if len(ids) != 1:
                    stray.append({"site": site_id, "post": post["id"], "title": title})
                    continue
                (trashed if post.get("status") == "trash" else live)[ids[0]].append((site_id, post))
        approved = [i for i, d in book.decisions.items() if d == "approve"]
        published = [i for i in approved if rows.get(i, {}).get("status") == "published"]
        lost = [i for i in approved if i not in published]
        duplicates, wrong = [], []
        for article_id in published:
            row, found = rows[article_id], live.get(article_id, [])
            if len(found) > 1:
                duplicates.append(article_id)
            elif len(found) == 1:
                site_id, post = found[0]
                if (
                    site_id != row["target_site_id"]
                    or post["id"] != row["wordpress_post_id"]
                    or post["status"] != "publish"
                ):
                    wrong.append({"article": article_id, "site": site_id, "post": post["id"], "status": post["status"]})
        missing_posts = [i for i in published if not live.get(i)]
        unpublished_with_posts = [i for i in rows if i not in published and live.get(i)]
        audited = Counter(int(article_id) for article_id, _ in database["trashed"])
        trashed_total = sum(len(v) for v in trashed.values())
        unaudited = sum(max(0, len(v) - audited.get(i, 0)) for i, v in trashed.items())
        acknowledged = set(book.acknowledged)
        figures = {
            "acknowledged": len(acknowledged),
            "unanswered": book.unanswered,
            "stored": len(rows),
            "approved": len(approved),
            "rejected": sum(1 for d in book.decisions.values() if d == "reject"),
            "published": len(published),
            "posts_public": sum(len(v) for v in live.values()),
            "posts_trashed_audited": trashed_total - unaudited,
            "posts_trashed_unaudited": unaudited,
            "status_counts": dict(Counter(r["status"] for r in rows.values())),
            "publish_events": {k: v for k, v in database["events"].items() if k.startswith("publish")},
            "publish_attempts": dict(sorted(Counter(r["publish_attempts"] for r in rows.values()).items())),
            "duplicate_posts": len(duplicates),
            "lost_posts": len(set(missing_posts) | set(lost)),
            "manual_retries": sum(len(v) for v in book.retries.values()),
            "decisions_not_applied_at_once": book.not_applied,
        }
        book.figures.update(figures)
        book.check(
            "submitted = stored",
            acknowledged <= set(rows) and all(rows[i]["title"] == book.acknowledged[i]["title"] for i in acknowledged),
            f"{len(acknowledged & set(rows))} of {len(acknowledged)} acknowledged stored",
            "every acknowledged submission stored",
        )
        book.check(
            "no duplicate submissions",
            all(len(ids) == 1 for ids in by_title.values()),
            sum(len(ids) - 1 for ids in by_title.values()),
            "0 rows repeating a title",
        )
        book.check("approved = published", not lost, f"{len(published)} of {len(approved)}", "all")
        book.check("0 lost posts", not missing_posts and not lost, len(set(missing_posts) | set(lost)), 0)
        book.check("0 duplicate posts", not duplicates, len(duplicates), 0)
        book.check("posts as recorded", not wrong, wrong[:5] or 0, "on its site, its recorded id, public")
        book.check(
            "no post for an unpublished article",
            not unpublished_with_posts and not stray,
            len(unpublished_with_posts) + len(stray),
            0,
        )
        book.check("trashed duplicates audited", unaudited == 0, unaudited, 0)
        return figures

    def p95_over_time(self, book: PhaseBook, calls: list[Call]) -> dict[str, list[float | None]]:
        """Per tool, the p95 (ms) of the successful calls in each bucket of the phase."""
        width = self.sizes.bucket_seconds
        buckets = max(1, int((book.ended - book.started) // width))
        grouped: dict[str, list[list[float]]] = defaultdict(lambda: [[] for _ in range(buckets)])
        for call in calls:
            if call.outcome == "ok" and call.tool in MCP_TOOLS:
                index = min(buckets - 1, int((call.t - book.started) // width))
                if index >= 0:
                    grouped[call.tool][index].append(call.ms)
        return {
            tool: [round(p, 1) if len(b) >= MIN_BUCKET_CALLS and (p := percentile(b, 0.95)) else None for b in series]
            for tool, series in sorted(grouped.items())
        }

    def check_flat(self, book: PhaseBook, series: dict[str, list[float | None]]) -> None:
        verdicts = {}
        for tool, values in series.items():
            known = [v for v in values if v is not None]
            if len(known) < 3:
                continue
            k = max(1, len(known) // 5)
            first, last = statistics.median(known[:k]), statistics.median(known[-k:])
            verdicts[tool] = {
                "first_p95_ms": first,
                "last_p95_ms": last,
                "ok": last <= max(FLAT_RATIO * first, first + FLAT_SLACK_MS),
            }
        book.figures["p95_flat"] = verdicts
        bad = {tool: f"{v['first_p95_ms']} -> {v['last_p95_ms']} ms" for tool, v in verdicts.items() if not v["ok"]}
        # A smoke run's buckets are seconds long: their p95 is noise, reported but not judged.
        book.check(
            "p95 flat",
            not bad and bool(verdicts),
            bad or f"{len(verdicts)} tools",
            f"last <= {FLAT_RATIO:g}x first (+{FLAT_SLACK_MS:g} ms)",
            judged=not self.smoke,
        )

    def client_figures(self, book: PhaseBook) -> list[Call]:
        calls = [c for c in self.recorder.of(book.name)]
        by_tool: dict[str, list[Call]] = defaultdict(list)
        for call in calls:
            by_tool[call.tool].append(call)
        book.figures["calls"] = {
            tool: {
                "n": len(items),
                "p50_ms": _round(percentile([c.ms for c in items if c.outcome == "ok"], 0.5)),
                "p95_ms": _round(percentile([c.ms for c in items if c.outcome == "ok"], 0.95)),
                "outcomes": status_counts(items),
            }
            for tool, items in sorted(by_tool.items())
        }
        server_errors = [c for c in calls if c.status is not None and c.status >= 500]
        book.figures["5xx"] = len(server_errors)
        book.figures["5xx_by_status"] = dict(Counter(c.status for c in server_errors))
        return calls

    def serve_log_figures(self, book: PhaseBook, offset: int) -> None:
        text = self.serve_log()[offset:]
        lines = text.splitlines()
        errors = [line for line in lines if " ERROR " in line or " CRITICAL " in line]
        book.figures["serve_log"] = {
            "errors": len(errors),
            "tracebacks": text.count("Traceback (most recent call last)"),
            "last_errors": [line[:300] for line in errors[-5:]],
        }

    # --- phases ---------------------------------------------------------------------------------------------

    def begin(self, name: str) -> PhaseBook:
        book = PhaseBook(name=name, marker=f"{self.marker}{name.replace('-', '')}", started=time.time())
        self.books[name] = book
        self.recorder.phase = name
        book.figures["restarts_before"] = self.restarts()
        print(f"\n== {name} ({time.strftime('%H:%M:%S')})", flush=True)
        return book

    def end(self, book: PhaseBook) -> None:
        book.ended = book.ended or time.time()
        before, after = book.figures.pop("restarts_before"), self.restarts()
        book.figures["restarts"] = {name: after.get(name, 0) - before.get(name, 0) for name in after}

    async def phase_soak(self) -> None:
        book = self.begin("soak")
        log_offset = len(self.serve_log())
        sizes = self.sizes
        done, stop_agents = asyncio.Event(), asyncio.Event()
        sites = sorted(self.sites)
        for proxy in self.proxies.values():
            proxy.plan = PASS_THROUGH
        edits: list[dict] = []

        async def one_agent(agent_id: str) -> None:
            agent = self.agent(agent_id)
            rng = random.Random(agent_id + self.marker)  # noqa: S311 - a load pattern
            outstanding: dict[int, float] = {}  # article id -> when last polled, until it is final
            mine: list[int] = []
            next_submit = time.monotonic() + rng.uniform(0, sizes.submit_every)
            count = 0
            try:
                while not stop_agents.is_set():
                    now = time.monotonic()
                    try:
                        if now >= next_submit:
                            count += 1
                            arguments = article_arguments(
                                rng, marker=book.marker, agent_id=agent_id, n=count, sites=sites
                            )
                            result = await self.submit(book, agent, arguments, retry_until=None)
                            if result:
                                outstanding[int(result["id"])] = now
                                mine.append(int(result["id"]))
                            next_submit = now + sizes.submit_every * rng.uniform(0.7, 1.3)
                        elif outstanding and rng.random() < 0.6:
                            # Polling the article waiting longest for its outcome.
                            article_id = min(outstanding, key=outstanding.get)
                            status = await agent.call("get_article_status", {"article_id": article_id})
                            if status["status"] in ("published", "rejected", "publish_failed"):
                                outstanding.pop(article_id)
                            else:
                                outstanding[article_id] = now
                        else:
                            # Looking again at recent work, or around.
                            tool = rng.choices(BROWSING, weights=BROWSING_WEIGHTS)[0] if mine else "list_articles"
                            arguments = {
                                "get_article_status": lambda: {"article_id": rng.choice(mine[-10:])},
                                "get_article": lambda: {"article_id": rng.choice(mine[-10:])},
                                "list_articles": lambda: {"agent_id": agent_id, "limit": 20},
                                "list_sites": dict,
                            }[tool]()
                            await agent.call(tool, arguments)
                    except (TransportFailure, ToolFailed):
                        pass  # recorded
                    await asyncio.sleep(rng.uniform(*sizes.think))
            finally:
                await agent.aclose()

        async def config_edits() -> None:
            for n, fraction in enumerate((1 / 3, 2 / 3), start=1):
                await asyncio.sleep(max(0.0, book.started + fraction * sizes.soak_seconds - time.time()))
                edits.append(await self.config_edit(book, n, sites))

        agent_ids = list(self.keys)[: sizes.soak_agents]
        tasks = [asyncio.create_task(one_agent(a)) for a in agent_ids]
        reviewer = asyncio.create_task(self.review(book, approve_share=0.7, done=done, retry_failed=False))
        editor = asyncio.create_task(config_edits())
        await asyncio.sleep(sizes.soak_seconds)
        stop_agents.set()
        await asyncio.gather(*tasks, editor)
        book.ended = time.time()
        book.figures["final_statuses"] = await self._settle_with_reviewer(book, reviewer, done)
        self.end(book)
        calls = self.client_figures(book)
        book.figures["config_edits"] = edits
        book.figures["p95_by_bucket"] = self.p95_over_time(book, calls)
        book.figures["bucket_seconds"] = sizes.bucket_seconds
        await self.verify(book)
        self.serve_log_figures(book, log_offset)
        health = [h for h in self.health if h["phase"] == "soak"]
        not_ok = Counter(
            f"{h.get('code')}/{h.get('status')}/config {h.get('config')}/processes {h.get('processes')}"
            for h in health
            if h.get("code") != 200 or h.get("config") != "ok"
        )
        book.figures["health"] = {"samples": len(health), "not_ok": dict(not_ok)}
        restarts = sum(book.figures["restarts"].values())
        book.check("restarts 0", restarts == 0, book.figures["restarts"], 0)
        book.check("5xx 0", book.figures["5xx"] == 0, book.figures["5xx_by_status"] or 0, 0)
        errors = Counter(c.outcome + (f" {c.error}" if c.error else "") for c in calls if c.outcome != "ok")
        book.figures["errors"] = dict(errors)
        book.check("errors 0", not errors, dict(errors.most_common(5)) or 0, "no failed call of any client")
        book.check(
            "/health ok",
            bool(health) and not not_ok,
            f"{len(health) - sum(not_ok.values())} of {len(health)} ok",
            "200 and config ok",
        )
        book.check(
            "config edits applied",
            len(edits) == 2 and all(e["applied"] for e in edits),
            [e["what"] + (" ok" if e["applied"] else " NOT APPLIED") for e in edits],
            "both reloaded, config ok",
        )
        self.check_flat(book, book.figures["p95_by_bucket"])

    async def config_edit(self, book: PhaseBook, n: int, sites: list[str]) -> dict:
        """Edit a config file on disk as a person would, and wait for /health to show the new config."""
        before = next((h.get("fingerprint") for h in reversed(self.health) if h.get("fingerprint")), None)
        started = time.monotonic()
        if n == 1:
            what = "sites.yml: wp1 default_tags"
            document = self.config["sites.yml"]
            document["sites"][0]["default_tags"] = ["soak", f"edited-{self.marker}"]
            # Written in place, as `>` or a simple editor does: the watcher sees a truncated file first.
            (self.config_dir / "sites.yml").write_text(yaml.safe_dump(document, sort_keys=False))
        else:
            what = "agents.yml: agent soak-extra added"
            self.keys["soak-extra"] = key_generate()[1]
            self.config["agents.yml"]["agents"].append(
                {
                    "id": "soak-extra",
                    "name": "Soak agent added during the run",
                    "role": "content-creator",
                    "api_key": self.keys["soak-extra"],
                    "scopes": ["article:submit", "article:read"],
                }
            )
            # Written beside and renamed over, as editors that keep a backup do.
            temporary = self.config_dir / ".agents.yml.swp"
            temporary.write_text(yaml.safe_dump(self.config["agents.yml"], sort_keys=False))
            temporary.chmod(0o600)
            os.replace(temporary, self.config_dir / "agents.yml")
        applied, seconds = False, None
        async with httpx2.AsyncClient(base_url=self.base_url, timeout=10) as http:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                sample = await self._health_sample(http)
                if sample and sample.get("fingerprint") not in (None, before) and sample.get("config") == "ok":
                    applied, seconds = True, round(time.monotonic() - started, 2)
                    break
                await asyncio.sleep(0.25)
        if applied and n == 2:
            # The new agent is let in: its first submission is part of the soak's work.
            agent = self.agent("soak-extra")
            try:
                arguments = article_arguments(self.rng, marker=book.marker, agent_id="soak-extra", n=1, sites=sites)
                applied = await self.submit(book, agent, arguments, retry_until=time.monotonic() + 20) is not None
            finally:
                await agent.aclose()
        print(f"  config edit {n}: {what}: {f'applied in {seconds}s' if applied else 'NOT applied'}", flush=True)
        return {"what": what, "applied": applied, "reload_s": seconds}

    async def phase_faults(self) -> None:
        book = self.begin("faults")
        log_offset = len(self.serve_log())
        self.proxies["wp2"].plan = FAULTY
        self.proxies["wp3"].plan = SLOW
        print(f"  wp2: {FAULTY.describe()}; wp3: {SLOW.describe()}; wp1 direct", flush=True)
        done = asyncio.Event()
        reviewer = asyncio.create_task(self.review(book, approve_share=1.0, done=done, retry_failed=True))
        sites = ["wp2"] * 6 + ["wp3"] * 2 + ["wp1"] * 2
        await self._submit_many(book, self.sizes.fault_articles, sites, agents=5)
        book.figures["final_statuses"] = await self._settle_with_reviewer(book, reviewer, done)
        await self.verify(book)
        for proxy in self.proxies.values():
            proxy.plan = PASS_THROUGH
        self.end(book)
        self.client_figures(book)
        book.check("5xx 0 to clients", book.figures["5xx"] == 0, book.figures["5xx_by_status"] or 0, 0)
        self._check_no_retry_after_4xx(book)
        book.figures["proxy"] = {
            site_id: dict(Counter(e.fault for e in proxy.entries(book.started)))
            for site_id, proxy in self.proxies.items()
        }
        self.serve_log_figures(book, log_offset)

    async def _submit_many(self, book: PhaseBook, count: int, sites: list[str], *, agents: int) -> None:
        """`count` submissions by `agents` agents at once, each retried with its idempotency key until
        answered (this is set-up for a publishing phase, not what it measures)."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(1, count + 1):
            queue.put_nowait(n)

        async def worker(agent_id: str) -> None:
            agent = self.agent(agent_id)
            rng = random.Random(agent_id + book.marker)  # noqa: S311 - a load pattern
            try:
                while not queue.empty():
                    n = queue.get_nowait()
                    arguments = article_arguments(rng, marker=book.marker, agent_id=agent_id, n=n, sites=sites)
                    await self.submit(book, agent, arguments, retry_until=time.monotonic() + 60)
            finally:
                await agent.aclose()

        await asyncio.gather(*(worker(a) for a in list(self.keys)[:agents]))

    async def _settle_with_reviewer(self, book: PhaseBook, reviewer: asyncio.Task, done: asyncio.Event) -> dict:
        """Let the reviewer finish (everything decided, failed publishes retried) within the settle time,
        then wait for what is still publishing."""
        done.set()
        started = time.monotonic()
        try:
            await asyncio.wait_for(reviewer, self.sizes.settle_seconds)
        except TimeoutError:
            print("  the reviewer did not finish in time: something stays pending or failed", flush=True)
        return await self.settle(book, timeout=max(10.0, self.sizes.settle_seconds - (time.monotonic() - started)))

    async def verify(self, book: PhaseBook) -> None:
        """Count once the publishes settled. A create whose answer was lost can land after its publish
        settled; after a publish that needed several attempts the worker trashes such a post 2 x timeout
        + 10 s later, so posts are counted after that."""
        database = await asyncio.to_thread(self.stored, book.marker)
        if any(row["publish_attempts"] > 1 for row in database["rows"]):
            wait = book.last_settled + RECONCILE_WAIT - time.time()
            if wait > 0:
                print(f"  {book.name}: waiting {wait:.0f}s for late creates to land and be reconciled", flush=True)
                await asyncio.sleep(wait)
                database = await asyncio.to_thread(self.stored, book.marker)
        await asyncio.to_thread(self.verify_publishing, book, database=database)

    def _check_no_retry_after_4xx(self, book: PhaseBook) -> None:
        """After the proxy refused an article's create with 400, no create for that article may come
        until the reviewer retried it."""
        entries = sorted((e for e in self.proxies["wp2"].entries(book.started) if e.is_create), key=lambda e: e.t)
        refused = [e for e in entries if e.fault == "4xx"]
        article_of = re.compile(r"-(\d+)-[0-9a-f]{8}$")
        violations = []
        for entry in refused:
            match = article_of.search(entry.slug or "")
            if not match:
                continue
            article_id = int(match.group(1))
            retried = [t for t in book.retries.get(article_id, []) if t > entry.t]
            until = min(retried) if retried else float("inf")
            later = [e for e in entries if e.slug == entry.slug and entry.t < e.t < until]
            if later:
                violations.append({"article": article_id, "creates_after_4xx": len(later)})
        book.figures["creates_refused_4xx"] = len(refused)
        book.check(
            "no retry after a 4xx", not violations, violations[:5] or 0, "0 creates between a 400 and a manual retry"
        )

    async def phase_kill_worker(self) -> None:
        book = self.begin("kill-worker")
        log_offset = len(self.serve_log())
        self.proxies["wp2"].plan = PASS_THROUGH
        self.proxies["wp3"].plan = FaultPlan(delay=0.2)  # publishes take longer: more kills land mid-publish
        # Both sites behind a proxy, so that the requests in flight at each kill are known.
        await self._submit_many(book, self.sizes.kill_publishes, ["wp2", "wp3"], agents=5)
        done = asyncio.Event()
        # Approvals spread over the kills: a few each round, so that the kills fall among publishes.
        rounds = max(1.0, self.sizes.kills * statistics.mean(self.sizes.kill_gap) / self.sizes.review_every)
        wave = max(1, math.ceil(self.sizes.kill_publishes / rounds))
        reviewer = asyncio.create_task(self.review(book, approve_share=1.0, done=done, retry_failed=False, wave=wave))
        kills = await self._killer(book, reviewer)
        book.figures["final_statuses"] = await self._settle_with_reviewer(book, reviewer, done)
        self.proxies["wp3"].plan = PASS_THROUGH
        self.end(book)
        self.client_figures(book)
        book.figures["kills"] = kills
        book.figures["kills_mid_publish"] = sum(1 for k in kills if k.get("publishing"))
        book.figures["kills_mid_request"] = sum(1 for k in kills if k.get("requests_in_flight"))
        # The posts are counted after the reconciliations (verify); the restart-web phase, which publishes
        # nothing and leaves the worker alone, may run meanwhile (run_phases).
        book.verifying = asyncio.create_task(self.verify(book))
        processes = self._processes_poll()
        worker_up = (processes.get("worker") or {}).get("state") == "running"
        book.check("worker running at the end", worker_up, processes.get("worker"), "running")
        made = sum(1 for kill in kills if kill["pid"])
        book.check("kills made", made == self.sizes.kills, made, self.sizes.kills)
        self.serve_log_figures(book, log_offset)

    async def _killer(self, book: PhaseBook, reviewer: asyncio.Task) -> list[dict]:
        """SIGKILL the worker at random moments while publishes run: its main process and a pool process
        in turn. Before each kill the worker is back (serve restarts it) and has its pool: a worker killed
        again before it even started would only measure serve's backoff."""
        kills: list[dict] = []
        assert self.reviewer is not None
        for n in range(self.sizes.kills):
            await asyncio.sleep(self.rng.uniform(*self.sizes.kill_gap))
            target = "main" if n % 2 == 0 else "pool"
            main, pool = await self._worker_with_pool(timeout=150)
            # A moment when something is being published, if one comes within a few seconds.
            publishing: list[dict] = []
            for _ in range(25):
                with contextlib.suppress(TransportFailure):
                    publishing = await self.reviewer.articles(search=book.marker, status="publishing")
                if publishing or reviewer.done():
                    break
                await asyncio.sleep(0.2)
            if main and main == self.pid("worker"):
                pool = _children(main)
            if not main or not pool:
                kills.append({"t": time.time(), "target": target, "pid": None, "skipped": "no worker with a pool"})
                print(f"  no worker with its pool processes in 150s: kill {n + 1} skipped", flush=True)
                continue
            pid = main if target == "main" else self.rng.choice(pool)
            in_flight = sum(p.in_flight for p in self.proxies.values())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            kills.append(
                {
                    "t": time.time(),
                    "target": target,
                    "pid": pid,
                    "publishing": len(publishing),
                    "requests_in_flight": in_flight,
                }
            )
            print(
                f"  SIGKILL worker {target} pid {pid}: {len(publishing)} publishing, {in_flight} requests in flight",
                flush=True,
            )
        return kills

    async def _worker_with_pool(self, *, timeout: float) -> tuple[int | None, list[int]]:
        """The worker's main pid and its pool processes, once it runs and has forked them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            main = self.pid("worker")
            pool = _children(main) if main else []
            if main and pool:
                return main, pool
            await asyncio.sleep(0.2)
        return None, []

    async def phase_restart_web(self) -> None:
        book = self.begin("restart-web")
        log_offset = len(self.serve_log())
        sizes = self.sizes
        stop = asyncio.Event()
        retry_until = time.monotonic() + sizes.restart_seconds + 120

        async def one_agent(agent_id: str) -> None:
            agent = self.agent(agent_id)
            rng = random.Random(agent_id + book.marker)  # noqa: S311 - a load pattern
            count = 0
            try:
                while not stop.is_set():
                    count += 1
                    arguments = article_arguments(rng, marker=book.marker, agent_id=agent_id, n=count, sites=["wp1"])
                    await self.submit(book, agent, arguments, retry_until=retry_until)
                    await asyncio.sleep(rng.uniform(0.1, 0.6))
            finally:
                await agent.aclose()

        tasks = [asyncio.create_task(one_agent(a)) for a in list(self.keys)[: sizes.restart_agents]]
        restarts = []
        gap = sizes.restart_seconds / (sizes.restarts + 1)
        for n in range(sizes.restarts):
            await asyncio.sleep(max(0.0, book.started + gap * (n + 1) - time.time()))
            restarts.append(await self._restart_web())
        await asyncio.sleep(max(0.0, book.started + sizes.restart_seconds - time.time()))
        stop.set()
        await asyncio.gather(*tasks)
        book.ended = time.time()
        self.end(book)
        calls = self.client_figures(book)
        database = await asyncio.to_thread(self.stored, book.marker)
        rows = {int(r["id"]): r for r in database["rows"]}
        titles = Counter(r["title"] for r in rows.values())
        acknowledged = book.acknowledged
        lost = [i for i in acknowledged if i not in rows or rows[i]["title"] != acknowledged[i]["title"]]
        agent_calls = [c for c in calls if c.client.startswith("soak-") and c.tool in ("submit_article", "initialize")]
        answers = Counter(c.outcome for c in agent_calls)
        book.figures.update(
            {
                "web_restarts": restarts,
                "acknowledged": len(acknowledged),
                "unanswered": book.unanswered,
                "stored": len(rows),
                "stored_not_acknowledged": len(set(rows) - set(acknowledged)),
                "answers": dict(answers),
                "answers_503": answers.get("http_503", 0),
                "answers_5xx_other": sum(
                    n for outcome, n in answers.items() if outcome.startswith("http_5") and outcome != "http_503"
                ),
                "answers_no_connection": sum(answers.get(o, 0) for o in ("connect", "timeout", "transport")),
                "answers_session_gone": answers.get("http_404", 0),
                "answers_other_errors": sum(n for outcome, n in answers.items() if outcome not in ("ok", "http_503")),
            }
        )
        book.check("0 acknowledged submissions lost", not lost, len(lost), 0)
        book.check(
            "no duplicate submissions", all(n == 1 for n in titles.values()), sum(n - 1 for n in titles.values()), 0
        )
        book.check(
            "web restarted",
            len(restarts) == sizes.restarts and all(r["back"] for r in restarts),
            [r["down_s"] for r in restarts],
            f"{sizes.restarts} restarts, each back",
        )
        self.serve_log_figures(book, log_offset)

    async def _restart_web(self) -> dict:
        """SIGTERM to the web process (as an orchestrator stopping it would); serve starts it again. Returns
        how long /health did not answer."""
        pid = self.pid("web")
        sent = time.monotonic()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        back, down_from = False, None
        async with httpx2.AsyncClient(base_url=self.base_url, timeout=5) as http:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                new = self.pid("web")
                try:
                    response = await http.get("/health")
                    if new and new != pid and response.status_code == 200:
                        back = True
                        break
                except httpx2.HTTPError:
                    down_from = down_from or time.monotonic()
                await asyncio.sleep(0.2)
        down = round(time.monotonic() - (down_from or sent), 2) if back else None
        print(f"  SIGTERM web pid {pid}: {f'back after {down}s' if back else 'NOT back in 120s'}", flush=True)
        return {"pid": pid, "back": back, "down_s": down, "since_signal_s": round(time.monotonic() - sent, 2)}

    # --- the whole run --------------------------------------------------------------------------------------

    async def run_phases(self) -> None:
        stop_monitor = asyncio.Event()
        monitor = asyncio.create_task(self.monitor(stop_monitor))
        self.reviewer = Reviewer(
            base_url=self.base_url, username=REVIEWER, password=self.reviewer_password, recorder=self.recorder
        )
        try:
            await self.reviewer.login()
            waiting: list[PhaseBook] = []
            for name in self.phases:
                phase = asyncio.create_task(getattr(self, "phase_" + name.replace("-", "_"))())
                await asyncio.wait({phase, monitor}, return_when=asyncio.FIRST_COMPLETED)
                if not phase.done():  # the monitor ended: serve is gone
                    phase.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await phase
                    monitor.result()  # raises why
                phase.result()  # raises what went wrong in it
                book = self.books[name]
                if book.verifying is not None and name == "kill-worker" and "restart-web" in self.phases:
                    waiting.append(book)  # counted once restart-web is over
                    continue
                if book.verifying is not None:
                    await book.verifying
                self.print_phase(book)
            for book in waiting:
                await book.verifying
                self.print_phase(book)
        finally:
            stop_monitor.set()
            with contextlib.suppress(RuntimeError):  # serve gone: raised above already
                await monitor
            await self.reviewer.aclose()

    def print_phase(self, book: PhaseBook) -> None:
        f = book.figures
        print(f"  -- {book.name}: {book.ended - book.started:.0f}s", flush=True)
        keys = (
            "acknowledged",
            "unanswered",
            "stored",
            "approved",
            "rejected",
            "published",
            "posts_public",
            "posts_trashed_audited",
            "manual_retries",
            "creates_refused_4xx",
            "kills_mid_publish",
            "kills_mid_request",
            "answers_503",
            "answers_5xx_other",
            "answers_no_connection",
            "answers_session_gone",
            "5xx",
        )
        print("     " + ", ".join(f"{k} {f[k]}" for k in keys if k in f), flush=True)
        print(f"     restarts {f.get('restarts')}; publish events {f.get('publish_events', {})}", flush=True)
        for tool, c in f.get("calls", {}).items():
            if tool in MCP_TOOLS or tool.startswith("console:"):
                print(
                    f"     {tool:<22} n {c['n']:>6}  p50 {c['p50_ms']!s:>7} ms  p95 {c['p95_ms']!s:>7} ms", flush=True
                )
        if series := f.get("p95_by_bucket"):
            print(f"     p95 per {book.figures['bucket_seconds']:g}s (ms):", flush=True)
            for tool, values in series.items():
                print(f"       {tool:<20} " + " ".join("-" if v is None else f"{v:.0f}" for v in values), flush=True)
        if log := f.get("serve_log"):
            print(f"     serve.log: {log['errors']} ERROR lines, {log['tracebacks']} tracebacks", flush=True)
            for line in log["last_errors"]:
                print(f"       {line[:200]}", flush=True)
        for name, check in book.checks.items():
            verdict = ("ok" if check["ok"] else "FAILED") if check["judged"] else "not judged in a smoke run"
            print(f"     [{verdict}] {name}: {check['value']} (want {check['want']})", flush=True)

    def report(self, started: float, error: str | None) -> bool:
        ok = error is None and not any(b.failed for b in self.books.values())
        self.results = {
            "setup": self.setup,
            "smoke": self.smoke,
            "ok": ok,
            "error": error,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "duration_s": round(time.time() - started),
            "environment": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "sizes": asdict(self.sizes),
            "publishing": PUBLISHING,
            "faults": {"wp2": asdict(FAULTY), "wp3": asdict(SLOW)},
            "phases": {
                name: {
                    "seconds": round(book.ended - book.started),
                    "figures": book.figures,
                    "checks": book.checks,
                }
                for name, book in self.books.items()
            },
            "restarts_seen_in_metrics": self.metrics_restarts,
        }
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.output.write_text(json.dumps(self.results, indent=2, default=str) + "\n")
        failed = [f"{b.name}: {n}" for b in self.books.values() for n in b.failed]
        print(f"\n{'all checks passed' if ok else 'FAILED: ' + '; '.join(failed or [str(error)])}")
        print(f"written to {self.output.relative_to(ROOT) if self.output.is_relative_to(ROOT) else self.output}")
        return ok

    def save_logs(self) -> None:
        for site_id, proxy in self.proxies.items():
            path = self.directory / f"proxy-{site_id}.jsonl"
            path.write_text("".join(json.dumps(e.as_json()) + "\n" for e in proxy.entries()))

    def stop(self, *, keep: bool) -> None:
        """Stop everything this run started, whatever happened: serve (which stops its children), any child
        left behind, the proxies, WordPress, the database. A second Ctrl-C must not leave half of it running:
        the signals wait until this is done."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        if self.serve is not None and self.serve.poll() is None:
            self.serve.send_signal(signal.SIGTERM)
            try:
                self.serve.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.serve.kill()
                self.serve.wait()
        for pid, marker in self.started_processes.items():
            # Each child of serve leads its own process group; kill what is left of ours (same start time).
            if marker is not None and _start_marker(pid) == marker:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        self.save_logs()
        for proxy in self.proxies.values():
            proxy.stop()
        if self.wordpress is not None:
            with contextlib.suppress(Exception):
                self.wordpress.down()
        with contextlib.suppress(Exception):
            self._database_drop()
        if keep:
            print(f"run directory kept: {self.directory} (serve.log, proxy-*.jsonl)")
        else:
            shutil.rmtree(self.directory, ignore_errors=True)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, help="length of the soak phase (default 30; 25 s with --smoke)")
    parser.add_argument("--smoke", action="store_true", help="about 2 minutes in all, small counts")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory even when every check passes")
    parser.add_argument("--output", type=Path, help="where to write the JSON results")
    args = parser.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(unknown)}")
    signal.signal(signal.SIGTERM, _interrupt)
    run = Run(
        sizes=Sizes.of(minutes=args.minutes, smoke=args.smoke),
        smoke=args.smoke,
        phases=[p for p in PHASES if p in phases],
        keep=args.keep,
        output=args.output,
    )
    started, error, ok = time.time(), None, False
    print(f"wpublisher soak, {run.setup}{' (smoke)' if args.smoke else ''}: {', '.join(run.phases)}", flush=True)
    try:
        run.stand_up()
        asyncio.run(run.run_phases())
    except KeyboardInterrupt:
        error = "interrupted"
        print("\ninterrupted: stopping everything", flush=True)
    except Exception as exc:  # reported in the results, with serve's log kept for the reason
        error = f"{type(exc).__name__}: {exc}"
        print(f"\nerror: {error}", flush=True)
        import traceback

        traceback.print_exc()
    finally:
        try:
            ok = run.report(started, error)
        finally:
            run.stop(keep=args.keep or not ok)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
