"""The Celery application. Tasks live in each app's tasks.py; settings come from Django settings
(CELERY_*), which choose Redis or the server-less filesystem broker."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wpublisher.settings")

app = Celery("wpublisher")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _load_config_in_worker(**_) -> None:
    """Each worker process holds the running config (site passwords, publishing settings) in memory and
    follows the files; the web process is the one that syncs them into the database."""
    from django.conf import settings

    from wpublisher.config.services import config_reload
    from wpublisher.config.watcher import config_watch_start

    config_reload(sync=False)
    config_watch_start(settings.CONFIG_DIR, sync=False)
