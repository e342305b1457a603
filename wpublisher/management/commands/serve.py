from __future__ import annotations

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

# How long the processes get to finish their work after Ctrl-C before they are killed.
STOP_TIMEOUT = 15


class Command(BaseCommand):
    help = (
        "Run wpublisher on one machine: the web server (daphne), a Celery worker and Celery beat. "
        "One Ctrl-C stops all three."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")

    def handle(self, *args, host: str, port: int, concurrency: int, **options) -> None:
        python = sys.executable
        embedded = not settings.REDIS_URL
        # The server-less broker has no broadcast channel for gossip, mingle and heartbeats.
        worker_flags = ["--without-gossip", "--without-mingle", "--without-heartbeat"] if embedded else []
        commands = {
            "web": [python, "-m", "daphne", "-b", host, "-p", str(port), "wpublisher.asgi:application"],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "wpublisher",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(concurrency),
                *worker_flags,
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "wpublisher",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        stopping = False

        def request_stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        # Own sessions: a terminal's Ctrl-C reaches only this supervisor, which then stops each process once.
        processes = {
            name: subprocess.Popen(cmd, start_new_session=True)  # noqa: S603 - our own commands
            for name, cmd in commands.items()
        }
        self.stdout.write(f"wpublisher on http://{host}:{port}/ (web, worker, beat); Ctrl-C stops all")
        exit_code = 0
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with code {process.returncode}; stopping the others")
                    exit_code, stopping = 1, True
                    break
            time.sleep(0.2)
        self._stop_all(processes)
        sys.exit(exit_code)

    def _stop_all(self, processes: dict[str, subprocess.Popen]) -> None:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for name, process in processes.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {STOP_TIMEOUT}s; killing it")
                process.kill()
                process.wait()
        self.stdout.write("stopped")
