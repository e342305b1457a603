"""The Celery application. Tasks live in each app's tasks.py; settings come from Django settings
(CELERY_*), which choose Redis or the server-less filesystem broker."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wpublisher.settings")

app = Celery("wpublisher")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _load_config_in_worker(**_) -> None:
    """Each worker process holds the running config (site passwords, publishing settings) in memory and
    follows the files; the web process is the one that syncs them into the database."""
    from django.conf import settings

    from configuration.reload import config_reload
    from configuration.watcher import config_watch_start

    config_reload(sync=False)
    config_watch_start(settings.CONFIG_DIR, sync=False)


@task_prerun.connect
@task_postrun.connect
def _database_connections_checked(sender: Any = None, **_) -> None:
    """Around each task, what Django does around each request: drop a connection that broke or outlived
    CONN_MAX_AGE, and check the kept one before its next use. Celery's own Django fix-up would close every
    connection around every task instead (a new PostgreSQL connection cost milliseconds of each publish);
    CELERY_DB_REUSE_MAX keeps them for that many tasks."""
    from django.db import close_old_connections

    if not getattr(getattr(sender, "request", None), "is_eager", False):  # eager: inside the caller's transaction
        close_old_connections()
