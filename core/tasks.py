"""Queueing Celery tasks from services without importing the tasks modules (which import the services).

A service names the task; the app's AppConfig.ready imports its tasks module, so every process (web
server, worker, commands) has the task registered and calls it the way `.delay` does, eager mode included."""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.db import transaction


def task_enqueue(name: str, *args: Any) -> None:
    """Queue the registered task `name` with `args` now (a KeyError names a task no AppConfig.ready loaded)."""
    current_app.tasks[name].delay(*args)


def task_enqueue_on_commit(name: str, *args: Any) -> None:
    """Queue the task `name` with `args` once the current transaction commits (at once outside one), so
    that the worker reads what the transaction wrote and a rolled-back write queues nothing."""
    transaction.on_commit(lambda: task_enqueue(name, *args))
