"""The Celery worker keeps its database connection from task to task, and checks it around each task as
Django does around requests: a connection the database dropped does not fail the next task."""

from __future__ import annotations

import pytest
from django.db import connection

from articles.models import Article
from wpublisher.celery import _database_connections_checked, app


def test_celery_s_django_fixup_keeps_connections_between_tasks():
    assert app.conf.get("CELERY_DB_REUSE_MAX") >= 100


@pytest.mark.django_db(transaction=True)
def test_celery_s_django_fixup_leaves_the_connection_open_around_a_task():
    if connection.vendor != "postgresql":
        pytest.skip("Django never closes the in-memory SQLite test database")
    from celery.fixups.django import DjangoWorkerFixup

    from articles.tasks import publish_article

    fixup = DjangoWorkerFixup(app)
    Article.objects.count()
    before = connection.connection
    fixup.on_task_prerun(sender=publish_article)
    Article.objects.count()
    fixup.on_task_postrun(sender=publish_article)
    assert connection.connection is before is not None


@pytest.mark.django_db(transaction=True)
def test_a_task_after_the_database_dropped_the_worker_s_connection_reconnects():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no server to drop the connection")
    _database_connections_checked()  # task_postrun of an earlier task
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    admin = connection.get_new_connection(connection.get_connection_params())
    try:
        admin.autocommit = True
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        admin.close()
    _database_connections_checked()  # task_prerun of the next task
    assert Article.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid
