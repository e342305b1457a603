"""`manage.py serve` supervises its children (wpublisher.supervisor): a child that exits is restarted with
backoff and no child's death stops another; /health, /metrics and the dashboard report the processes from
the state file serve writes; Ctrl-C stops everything, Celery's pool processes included.

The backoff schedule and the reading of the state file are unit tests; the supervisor itself is tested
with small stand-in children (crashing, steady, deaf to SIGTERM), and then as `manage.py serve` really
runs: daphne, a Celery worker and beat of a deployment of their own, killed with SIGKILL one by one."""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.supervision import BACKING_OFF, RUNNING, STATE_FILE, process_start_marker, supervision_status
from tests.conftest import agent_entry, site_entry
from tests.factories import UserFactory
from tests.support.browser import chromium_launch, chromium_required, reviewer_login
from tests.support.deployment import ROOT, Deployment
from wpublisher.supervisor import Supervisor, backoff_delay

PYTHON = sys.executable
ARTIFACTS = ROOT / "test-artifacts" / "supervisor"


# --- The backoff schedule ----------------------------------------------------------------------------------


def test_backoff_doubles_from_one_second_up_to_a_minute():
    assert [backoff_delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff_delay(10_000) == 60  # a child failing for days does not overflow
    assert [backoff_delay(n, initial=0.5, cap=3) for n in range(1, 5)] == [0.5, 1, 2, 3]


def test_backoff_starts_over_after_a_child_ran_stably(tmp_path):
    supervisor = Supervisor({"worker": ["true"]}, state_file=tmp_path / STATE_FILE, stable_after=60)
    (child,) = supervisor.children
    delays = [supervisor._schedule_restart(child, 0.0, ran_for=2.0) for _ in range(4)]
    assert delays == [1, 2, 4, 8]
    assert child.state == BACKING_OFF
    # It ran for more than a minute before this exit: the next restart comes after 1 s again.
    assert supervisor._schedule_restart(child, 0.0, ran_for=61.0) == 1
    assert supervisor._schedule_restart(child, 0.0, ran_for=3.0) == 2


# --- Reading the state file --------------------------------------------------------------------------------


def _state_file(directory: Path, *, worker_restarts: int = 1, worker_state: str = RUNNING) -> Path:
    """A state file as this process's supervisor would write it (this test process stands in for serve)."""
    path = directory / STATE_FILE
    supervisor = Supervisor({"web": ["true"], "worker": ["true"], "beat": ["true"]}, state_file=path)
    supervisor.state = RUNNING
    web, worker, beat = supervisor.children
    for child, pid in ((web, 11), (worker, 12), (beat, 13)):
        child.state = RUNNING
        child.process = SimpleNamespace(pid=pid, returncode=None)  # what the supervisor reads of a Popen
        child.started_at = time.time() - 30
    worker.restarts = worker_restarts
    worker.last_exit = {"code": None, "signal": "SIGKILL", "at": "2026-01-02T03:04:05.000+00:00", "ran_for_s": 42.0}
    if worker_state == BACKING_OFF:
        worker.state, worker.restart_at, worker.process.returncode = BACKING_OFF, time.time() + 4, -9
    supervisor._write_state()
    return path


def test_state_file_is_replaced_whole_and_private(tmp_path):
    path = _state_file(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temporary file left beside it
    raw = json.loads(path.read_text())
    assert raw["supervisor"]["pid"] == os.getpid() and raw["supervisor"]["state"] == RUNNING
    assert raw["processes"]["worker"] == {
        "state": RUNNING,
        "pid": 12,
        "started_at": raw["processes"]["worker"]["started_at"],
        "restarts": 1,
        "last_exit": {"code": None, "signal": "SIGKILL", "at": "2026-01-02T03:04:05.000+00:00", "ran_for_s": 42.0},
        "restart_at": None,
    }


def test_a_live_supervisors_state_is_reported(tmp_path):
    status = supervision_status(_state_file(tmp_path))
    assert status.status == "ok" and status.supervisor_pid == os.getpid()
    worker = {c.name: c for c in status.children}["worker"]
    assert (worker.up, worker.pid, worker.restarts, worker.last_exit.how) == (True, 12, 1, "SIGKILL")

    down = supervision_status(_state_file(tmp_path, worker_state=BACKING_OFF))
    assert down.status == "degraded"
    assert down.as_json()["children"]["worker"]["status"] == "backing-off"
    assert down.as_json()["children"]["worker"]["pid"] is None


def test_no_state_file_means_unsupervised(tmp_path):
    status = supervision_status(tmp_path / STATE_FILE)
    assert status.status == "unsupervised" and status.children == []
    assert status.as_json() == {"status": "unsupervised", "detail": status.detail}


def test_a_dead_supervisors_state_is_not_reported_as_running(tmp_path):
    path = _state_file(tmp_path)
    gone = subprocess.run([PYTHON, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    raw = json.loads(path.read_text())
    raw["supervisor"]["pid"] = int(gone.stdout)
    path.write_text(json.dumps(raw))
    status = supervision_status(path)
    assert status.status == "unknown" and status.children == []
    assert f"(pid {int(gone.stdout)}) no longer runs" in status.detail
    assert "children" not in status.as_json()


def test_a_reused_supervisor_pid_or_another_host_is_not_trusted(tmp_path):
    path = _state_file(tmp_path)
    raw = json.loads(path.read_text())
    if process_start_marker(os.getpid()):  # Linux: the pid is alive but started at another time
        path.write_text(json.dumps({**raw, "supervisor": {**raw["supervisor"], "process_marker": "other-boot:1"}}))
        assert supervision_status(path).status == "unknown"
        assert "another process now" in supervision_status(path).detail
    path.write_text(json.dumps({**raw, "supervisor": {**raw["supervisor"], "host": "elsewhere"}}))
    assert supervision_status(path).status == "unknown"


def test_an_unreadable_state_file_is_unknown(tmp_path):
    path = tmp_path / STATE_FILE
    path.write_text("{not json")
    assert supervision_status(path).status == "unknown"
    path.write_text(json.dumps({"supervisor": {"pid": os.getpid(), "host": socket.gethostname()}, "processes": []}))
    assert supervision_status(path).status == "unknown"


# --- /health, /metrics and the dashboard -------------------------------------------------------------------


@pytest.mark.django_db
def test_health_reports_the_processes_and_a_down_one_degrades_it_with_200(client, loaded_config, settings, tmp_path):
    loaded_config(agents=[agent_entry("a")], sites=[site_entry("s")])
    client.force_login(UserFactory())  # the processes are a detail for staff
    settings.DATA_DIR = tmp_path
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["processes"]["status"] == "unsupervised"

    _state_file(tmp_path)
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["processes"]["children"]["worker"]["restarts"] == 1
    assert body["processes"]["children"]["worker"]["last_exit"]["signal"] == "SIGKILL"

    _state_file(tmp_path, worker_state=BACKING_OFF)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["processes"]["children"]["worker"]["status"] == "backing-off"

    # serve was killed: its last record is not reported, and says nothing against this process.
    path = tmp_path / STATE_FILE
    gone = subprocess.run([PYTHON, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    path.write_text(path.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {int(gone.stdout)}'))
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["processes"]["status"] == "unknown" and "children" not in body["processes"]


@pytest.mark.django_db
def test_metrics_count_restarts_and_show_which_process_is_up(client, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    _state_file(tmp_path, worker_restarts=3, worker_state=BACKING_OFF)
    text = client.get("/metrics").content.decode()
    assert "# TYPE wpublisher_process_restarts_total counter" in text
    assert 'wpublisher_process_restarts_total{process="worker"} 3.0' in text
    assert 'wpublisher_process_restarts_total{process="web"} 0.0' in text
    assert 'wpublisher_process_up{process="worker"} 0.0' in text
    assert 'wpublisher_process_up{process="beat"} 1.0' in text

    (tmp_path / STATE_FILE).unlink()  # no supervisor: no sample, rather than a stale one
    assert "wpublisher_process_up{" not in client.get("/metrics").content.decode()


@pytest.fixture
def reviewer_client(client, loaded_config):
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog")])
    client.force_login(UserFactory(username="alice", is_staff=True))
    return client


def _process_items(html: str) -> dict[str, tuple[str, str]]:
    """process name -> (its CSS class, its text) in the dashboard's processes block."""
    block = re.search(r'<section class="card" id="processes".*?</section>', html, re.S).group(0)
    items = re.findall(r'<li class="([^"]+)" data-process="(\w+)"[^>]*>(.*?)</li>', block, re.S)
    return {name: (css, " ".join(re.sub(r"<[^>]+>", "", text).split())) for css, name, text in items}


def test_the_dashboard_shows_the_processes_with_a_restart_as_a_warning(reviewer_client, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    assert "not run by manage.py serve" in reviewer_client.get("/").content.decode()

    _state_file(tmp_path)
    items = _process_items(reviewer_client.get("/").content.decode())
    assert list(items) == ["web", "worker", "beat"]
    assert items["web"] == ("health-healthy", "web running")
    css, text = items["worker"]
    assert css == "health-warning"
    assert text.startswith("worker running · 1 restart · last exit: SIGKILL")

    _state_file(tmp_path, worker_state=BACKING_OFF)
    # The htmx refresh of the dashboard carries the block too.
    items = _process_items(reviewer_client.get("/", headers={"HX-Request": "true"}).content.decode())
    assert items["worker"][0] == "health-error" and "down, restarting at" in items["worker"][1]


# --- The supervisor with stand-in children -----------------------------------------------------------------

DRIVER = """
import json, logging, sys
from pathlib import Path
from wpublisher.supervisor import Supervisor
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
spec = json.loads(sys.argv[1])
supervisor = Supervisor(
    spec["commands"], state_file=Path(spec["state_file"]), stop_timeout=spec["stop_timeout"],
    initial_backoff=spec["initial_backoff"],
)
sys.exit(supervisor.run())
"""
STEADY = "import time; time.sleep(600)"
# Deaf to SIGTERM, and so is the process it starts in its group (as a worker's pool process could be).
DEAF = (
    "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "child = subprocess.Popen([sys.executable, '-c', "
    "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)']); "
    "open(sys.argv[1], 'w').write(str(child.pid)); time.sleep(600)"
)


def _run_supervisor(tmp_path: Path, commands: dict, *, stop_timeout: float = 5, initial_backoff: float = 1):
    spec = {
        "commands": commands,
        "state_file": str(tmp_path / STATE_FILE),
        "stop_timeout": stop_timeout,
        "initial_backoff": initial_backoff,
    }
    log = (tmp_path / "supervisor.log").open("w")
    process = subprocess.Popen(
        [PYTHON, "-c", DRIVER, json.dumps(spec)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, Path(log.name)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _children(tmp_path: Path) -> dict:
    try:
        return json.loads((tmp_path / STATE_FILE).read_text())["processes"]
    except (OSError, ValueError):
        return {}


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.slow
def test_a_crashing_child_is_restarted_with_backoff_and_the_others_keep_running(tmp_path):
    commands = {"crasher": [PYTHON, "-c", "import sys; sys.exit(3)"], "steady": [PYTHON, "-c", STEADY]}
    supervisor, log = _run_supervisor(tmp_path, commands, initial_backoff=0.2)
    try:
        steady = _wait_for(lambda: _children(tmp_path).get("steady", {}).get("pid"), 30, "the steady child")
        crasher = _wait_for(
            lambda: (c := _children(tmp_path).get("crasher", {})) and c["restarts"] >= 3 and c, 30, "3 restarts"
        )
        assert crasher["last_exit"]["code"] == 3 and crasher["last_exit"]["signal"] is None
        assert _children(tmp_path)["steady"]["pid"] == steady and _alive(steady)
        delays = re.findall(
            r"crasher \(pid \d+\) exited with code 3 after [\d.]+s; restarting in ([\d.]+)s", log.read_text()
        )
        assert delays[:3] == ["0.2", "0.4", "0.8"]
        assert "crasher restarted (pid" in log.read_text()

        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(timeout=15) == 0
        assert not _alive(steady)
        final = json.loads((tmp_path / STATE_FILE).read_text())
        assert final["supervisor"]["state"] == "stopped"
        assert {entry["state"] for entry in final["processes"].values()} == {"stopped"}
        # Nothing was restarted once the stop was asked for.
        assert "restarted" not in log.read_text().partition("stopping")[2]
    finally:
        _stop(supervisor)


@pytest.mark.slow
def test_a_child_deaf_to_sigterm_is_killed_with_its_group_after_the_timeout(tmp_path):
    grandchild_file = tmp_path / "grandchild.pid"
    commands = {"deaf": [PYTHON, "-c", DEAF, str(grandchild_file)], "steady": [PYTHON, "-c", STEADY]}
    supervisor, log = _run_supervisor(tmp_path, commands, stop_timeout=1.5)
    try:
        grandchild = int(_wait_for(lambda: grandchild_file.exists() and grandchild_file.read_text(), 30, "grandchild"))
        deaf = _children(tmp_path)["deaf"]["pid"]
        started = time.monotonic()
        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(timeout=15) == 0
        elapsed = time.monotonic() - started
        assert 1.4 < elapsed < 8, elapsed
        assert not _alive(deaf) and not _alive(grandchild)
        assert f"deaf (pid {deaf}): did not stop in 1.5s; killing its process group" in log.read_text()
    finally:
        _stop(supervisor)
        if grandchild_file.exists() and _alive(int(grandchild_file.read_text())):
            os.kill(int(grandchild_file.read_text()), signal.SIGKILL)


@pytest.mark.slow
def test_a_second_ctrl_c_kills_at_once(tmp_path):
    grandchild_file = tmp_path / "grandchild.pid"
    supervisor, log = _run_supervisor(tmp_path, {"deaf": [PYTHON, "-c", DEAF, str(grandchild_file)]}, stop_timeout=60)
    try:
        grandchild = int(_wait_for(lambda: grandchild_file.exists() and grandchild_file.read_text(), 30, "grandchild"))
        started = time.monotonic()
        supervisor.send_signal(signal.SIGINT)
        _wait_for(lambda: "stopping deaf" in log.read_text(), 10, "the stop to begin")
        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(timeout=10) == 0
        assert time.monotonic() - started < 8
        assert not _alive(grandchild)
        assert "a second signal; killing its process group" in log.read_text()
    finally:
        _stop(supervisor)
        if grandchild_file.exists() and _alive(int(grandchild_file.read_text())):
            os.kill(int(grandchild_file.read_text()), signal.SIGKILL)


@pytest.mark.slow
def test_children_do_not_outlive_a_supervisor_killed_with_sigkill(tmp_path):
    """serve itself killed (kill -9, out of memory): its children stop too, so a new `make run` does not
    find a worker and beat of the old one still running."""
    supervisor, _ = _run_supervisor(tmp_path, {"steady": [PYTHON, "-c", STEADY]})
    try:
        steady = _wait_for(lambda: _children(tmp_path).get("steady", {}).get("pid"), 30, "the steady child")
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait()
        _wait_for(lambda: not _alive(steady), 10, "the child to stop with its supervisor")
    finally:
        _stop(supervisor)
        if _children(tmp_path).get("steady", {}).get("pid") and _alive(steady):
            os.kill(steady, signal.SIGKILL)


# --- manage.py serve, for real ------------------------------------------------------------------------------


def _get(url: str, timeout: float = 5, opener: urllib.request.OpenerDirector | None = None) -> tuple[int, str]:
    try:
        with (opener.open if opener else urllib.request.urlopen)(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _staff_opener(url: str, username: str, password: str) -> urllib.request.OpenerDirector:
    """A client logged in to the console: /health shows the processes to staff only."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{url}/login/", timeout=10) as response:
        response.read()
    token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    form = {"username": username, "password": password, "csrfmiddlewaretoken": token}
    with opener.open(f"{url}/login/", data=urllib.parse.urlencode(form).encode(), timeout=10) as response:
        response.read()
    assert any(cookie.name == "sessionid" for cookie in jar), "the reviewer could not log in"
    return opener


def _group(pgid: int) -> list[int]:
    """Running processes of a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _with_env(marker: str) -> list[int]:
    """Running processes whose environment holds `marker` (all that this deployment's serve started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class Served:
    """`manage.py serve` of a deployment of its own, on a free port, its output in a log file."""

    def __init__(self, world: Deployment, port: int, process: subprocess.Popen, log: Path, password: str):
        self.world, self.port, self.process, self.log, self.password = world, port, process, log, password
        self.marker = f"WPUBLISHER_DATA_DIR={world.env['WPUBLISHER_DATA_DIR']}\0"
        self._opener: urllib.request.OpenerDirector | None = None

    @property
    def opener(self) -> urllib.request.OpenerDirector:
        """Logged in as the reviewer `init --reviewer` created (on first use, once serve answers)."""
        if self._opener is None:
            self._opener = _staff_opener(self.url, "alice", self.password)
        return self._opener

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> dict | None:
        try:
            status, body = _get(f"{self.url}/health", opener=self.opener)
        except OSError:
            return None
        return json.loads(body) if status == 200 else None

    def child(self, name: str) -> dict | None:
        body = self.health()
        return body["processes"]["children"][name] if body and "children" in body["processes"] else None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class HealthPoller(threading.Thread):
    """/health every 0.1 s while a child restarts: every answer must come, and be a 200."""

    def __init__(self, url: str, opener: urllib.request.OpenerDirector | None = None):
        super().__init__(daemon=True)
        self.url, self.answers, self.failures, self._done = url, [], [], threading.Event()
        self.opener = opener

    def run(self) -> None:
        while not self._done.is_set():
            try:
                status, body = _get(f"{self.url}/health", timeout=10, opener=self.opener)
                self.answers.append((status, json.loads(body)["processes"]))
            except OSError as error:
                self.failures.append(repr(error))
            self._done.wait(0.1)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=15)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    world = Deployment(tmp_path_factory.mktemp("serve"), agents=[agent_entry("writer")], sites=[site_entry("blog")])
    password = re.search(r"password \(shown once\): (\S+)", world.manage("init", "--reviewer", "alice")).group(1)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = world.directory / "serve.log"
    process = subprocess.Popen(
        [PYTHON, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port), "--stop-timeout", "15"],
        cwd=ROOT,
        env=world.env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    served = Served(world, port, process, log, password)
    try:
        started = time.monotonic()
        _wait_for(
            lambda: (body := served.health()) and body["processes"]["status"] == "ok" and "ready." in served.output(),
            120,
            f"serve to answer /health with every process running:\n{served.output()[-3000:]}",
        )
        print(f"serve up in {time.monotonic() - started:.1f}s")
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pid in _with_env(served.marker):  # whatever a failed test left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        world.close()


def _kill_and_watch_restart(served: Served, name: str) -> tuple[dict, dict, HealthPoller, float]:
    """SIGKILL the child's main process while /health is polled (the poller still runs when this returns);
    returns the child's state before and once restarted, and when it was killed."""
    before = served.child(name)
    poller = HealthPoller(served.url, served.opener)
    poller.start()
    time.sleep(0.3)
    killed = time.monotonic()
    os.kill(before["pid"], signal.SIGKILL)
    after = _wait_for(
        lambda: (c := served.child(name)) and c["status"] == "running" and c["pid"] != before["pid"] and c,
        60,
        f"{name} to be restarted:\n{served.output()[-3000:]}",
    )
    return before, after, poller, killed


@pytest.mark.slow
def test_a_killed_worker_is_restarted_while_the_web_server_keeps_answering(served):
    worker = served.child("worker")["pid"]
    pool = [pid for pid in _group(worker) if pid != worker]
    assert pool, "the worker's pool processes"
    ready_before = served.output().count(" ready.")
    before, after, poller, killed = _kill_and_watch_restart(served, "worker")
    try:
        assert after["restarts"] == 1
        assert after["last_exit"]["signal"] == "SIGKILL" and after["last_exit"]["code"] is None
        # The new worker takes tasks: one sent from another process runs.
        _wait_for(lambda: served.output().count(" ready.") > ready_before, 60, "the new worker to be ready")
        ready_at = time.monotonic()
        mark = len(served.output())
        served.world.manage("shell", "-c", "from audit.tasks import apply_audit_retention as t; t.delay()")
        _wait_for(
            lambda: re.search(r"Task audit.apply_retention\[[\w-]+\] succeeded", served.output()[mark:]),
            60,
            "the restarted worker to run a task",
        )
        print(f"worker restarted and ready {ready_at - killed:.1f}s after SIGKILL")
    finally:
        poller.stop()
    # The web server answered all along, and said the worker was down while it was.
    assert poller.failures == [] and len(poller.answers) >= 5
    assert {status for status, _ in poller.answers} == {200}
    assert any(
        p["status"] == "degraded" and p["children"]["worker"]["status"] == "backing-off" for _, p in poller.answers
    )
    # The dead worker's pool processes went with it, and nobody else was restarted.
    assert _group(before["pid"]) == [] and all(not _alive(pid) for pid in pool)
    body = served.health()
    assert body["processes"]["status"] == "ok"
    assert body["processes"]["children"]["web"]["restarts"] == 0
    assert body["processes"]["children"]["beat"]["restarts"] == 0
    metrics = _get(f"{served.url}/metrics")[1]
    assert 'wpublisher_process_restarts_total{process="worker"} 1.0' in metrics
    assert 'wpublisher_process_up{process="worker"} 1.0' in metrics
    output = served.output()
    assert re.search(rf"worker \(pid {before['pid']}\) exited with SIGKILL after [\d.]+s; .*restarting in 1s", output)
    assert f"worker restarted (pid {after['pid']}, restart 1)" in output


@pytest.mark.slow
def test_a_killed_beat_is_restarted(served):
    starts = served.output().count("beat: Starting...")
    _, after, poller, killed = _kill_and_watch_restart(served, "beat")
    try:
        _wait_for(lambda: served.output().count("beat: Starting...") > starts, 60, "the new beat to start")
        print(f"beat restarted {time.monotonic() - killed:.1f}s after SIGKILL")
    finally:
        poller.stop()
    assert poller.failures == [] and {status for status, _ in poller.answers} == {200}
    assert after["restarts"] == 1 and after["last_exit"]["signal"] == "SIGKILL"
    metrics = _get(f"{served.url}/metrics")[1]
    assert 'wpublisher_process_restarts_total{process="beat"} 1.0' in metrics
    assert 'wpublisher_process_up{process="beat"} 1.0' in metrics


@pytest.mark.slow
def test_a_killed_web_server_is_restarted_too(served):
    before = served.child("web")
    workers = {name: served.child(name)["pid"] for name in ("worker", "beat")}
    killed = time.monotonic()
    os.kill(before["pid"], signal.SIGKILL)
    after = _wait_for(
        lambda: (c := served.child("web")) and c["pid"] != before["pid"] and c, 60, "the web server to come back"
    )
    print(f"web answering again {time.monotonic() - killed:.1f}s after SIGKILL")
    assert after["restarts"] == 1 and after["last_exit"]["signal"] == "SIGKILL"
    assert {name: served.child(name)["pid"] for name in ("worker", "beat")} == workers


@pytest.mark.slow
def test_the_dashboard_shows_the_processes_at_desktop_and_phone_widths(served):
    chromium_required()
    from playwright.sync_api import sync_playwright

    children = served.health()["processes"]["children"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = chromium_launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            reviewer_login(page, served.url, "alice", served.password)
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(f"{served.url}/")
                block = page.locator("#processes")
                block.scroll_into_view_if_needed()
                box = block.bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
                for name, child in children.items():
                    item = block.locator(f"[data-process={name}]")
                    expected = "health-warning" if child["restarts"] else "health-healthy"
                    assert item.get_attribute("class") == expected
                    if child["restarts"]:
                        assert f"{child['restarts']} restart" in item.inner_text()
                    item_box = item.bounding_box()
                    assert item_box["x"] + item_box["width"] <= box["x"] + box["width"] + 1
                page.screenshot(path=str(ARTIFACTS / f"dashboard-{width}.png"), full_page=True)
        finally:
            browser.close()


@pytest.mark.slow
def test_ctrl_c_stops_every_process_and_serve_exits_0(served):
    everything = _with_env(served.marker)
    worker = served.child("worker")["pid"]
    pool = [pid for pid in _group(worker) if pid != worker]
    assert pool, "the worker's pool processes"
    assert set(pool) <= set(everything)
    started = time.monotonic()
    served.process.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends to serve (its children have their own)
    assert served.process.wait(timeout=40) == 0
    elapsed = time.monotonic() - started
    print(f"Ctrl-C stopped everything in {elapsed:.1f}s")
    assert elapsed < 15 + 10
    assert [pid for pid in everything if _alive(pid)] == []
    assert _with_env(served.marker) == []
    output = served.output()
    assert "stopping web, worker, beat" in output
    # The worker had its warm shutdown (SIGTERM to its main process only), not a kill.
    assert re.search(r"worker \(pid \d+\) stopped in [\d.]+s \(code 0\)", output)
    state = supervision_status(Path(served.world.env["WPUBLISHER_DATA_DIR"]) / STATE_FILE)
    assert state.status == "unknown" and state.children == []
