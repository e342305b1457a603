from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from core.supervision import state_path
from wpublisher.supervisor import STOP_TIMEOUT, Supervisor


class Command(BaseCommand):
    help = (
        "Run wpublisher on one machine: the web server (daphne), a Celery worker and Celery beat, each "
        "restarted with backoff when it exits. One Ctrl-C stops all three; a second kills them at once."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
        parser.add_argument(
            "--stop-timeout",
            type=float,
            default=STOP_TIMEOUT,
            help="seconds the processes get to finish their work after Ctrl-C before they are killed",
        )

    def handle(self, *args, host: str, port: int, concurrency: int, stop_timeout: float, **options) -> None:
        python = sys.executable
        embedded = not settings.REDIS_URL
        # The server-less broker has no broadcast channel for gossip, mingle and heartbeats.
        worker_flags = ["--without-gossip", "--without-mingle", "--without-heartbeat"] if embedded else []
        celery = [python, "-m", "celery", "-A", "wpublisher"]
        commands = {
            # daphne, its access log with query strings redacted (wpublisher/webserver.py)
            "web": [python, "-m", "wpublisher.webserver", "-b", host, "-p", str(port), "wpublisher.asgi:application"],
            "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency", str(concurrency), *worker_flags],
            "beat": [*celery, "beat", "--loglevel", "INFO", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
        }
        supervisor = Supervisor(commands, state_file=state_path(), stop_timeout=stop_timeout)
        self.stdout.write(f"wpublisher on http://{host}:{port}/ (web, worker, beat); Ctrl-C stops all")
        self.stdout.flush()
        sys.exit(supervisor.run())
