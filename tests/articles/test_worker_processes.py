"""Exactly-once publishing with real Celery worker processes and a real WordPress: a task delivered
twice at once, and a worker killed after WordPress created the post but before the result was saved."""

from __future__ import annotations

import signal
import uuid

import pytest

from tests.conftest import agent_entry
from tests.support.deployment import Deployment

pytestmark = pytest.mark.slow

SUBMIT_AND_APPROVE = """
from agents.models import Agent
from agents.actors import Actor
from articles.services import article_approve, article_submit
from django.contrib.auth.models import User
writer = Agent.objects.get(pk="writer")
article = article_submit(agent=writer, title={title!r}, content_markdown="Body", target_site="wp1")
reviewer, _ = User.objects.get_or_create(username="reviewer")
article_approve(actor=Actor(user=reviewer), article_id=article.pk, expected_revision=1)
result = article.pk
"""
STATE = """
from articles.models import Article
from audit.models import AuditLog
a = Article.objects.get(pk={article_id})
starts = AuditLog.objects.filter(article_id=a.pk, event_type="publish_started").count()
result = {{"status": a.status, "post_id": a.wordpress_post_id, "title": a.title, "starts": starts,
          "error": a.publish_error_message}}
"""


@pytest.fixture
def deployment(tmp_path, real_wordpress):
    world = Deployment(
        tmp_path,
        agents=[agent_entry("writer")],
        sites=[real_wordpress.site_entry("wp1")],
        publishing={"retry_attempts": 1, "retry_delay": 1, "timeout": 10},
    )
    yield world
    world.close()


def post_ids(real_wordpress, title: str) -> list[int]:
    """The posts on wp1 with this (unique) title, drafts included: published, a post has its clean slug."""
    return [p["id"] for p in real_wordpress.get("wp1", "/posts", search=title, status="any", context="edit")]


def state(deployment: Deployment, article_id: int) -> dict:
    return deployment.run(STATE.format(article_id=article_id))


def published(deployment: Deployment, article_id: int) -> dict:
    return deployment.wait_for(
        lambda: (s := state(deployment, article_id))["status"] in ("published", "publish_failed") and s,
        90,
        f"article {article_id} to be published",
    )


def test_a_task_delivered_twice_at_once_posts_once(deployment, real_wordpress):
    article_id = deployment.run(SUBMIT_AND_APPROVE.format(title=f"Twice {uuid.uuid4().hex[:8]}"))
    deployment.run(f"from articles.tasks import publish_article\npublish_article.delay({article_id})")
    # Both deliveries wait in the queue; two worker processes take them at once. The slug lookup is
    # slowed down so that the second delivery arrives while the first is still publishing.
    slow = (
        "import time, sites.wordpress as wp\n"
        "real = wp.WordPressClient.posts_find_by_slug\n"
        "wp.WordPressClient.posts_find_by_slug = lambda self, slug: (time.sleep(2), real(self, slug))[1]\n"
    )
    deployment.start_worker(concurrency=2, preload=slow)
    result = published(deployment, article_id)
    assert result["status"] == "published", result["error"]
    deployment.wait_for(lambda: deployment.worker_log().count("articles.publish_article[") >= 4, 30, "both tasks")
    assert "succeeded in" in deployment.worker_log() and "'skipped'" in deployment.worker_log()
    assert result["starts"] == 1
    assert post_ids(real_wordpress, result["title"]) == [result["post_id"]]


def test_a_worker_process_killed_after_the_post_was_created_leaves_exactly_one_post(
    deployment, real_wordpress, tmp_path
):
    marker = tmp_path / "killed-once"
    # The pool process dies (SIGKILL) right after WordPress created the post, before the result is saved.
    kill_once = (
        "import os, signal, pathlib, articles.services.publishing as s\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "real = s.article_publish_succeed\n"
        "def succeed(**kwargs):\n"
        "    if not marker.exists():\n"
        "        marker.write_text('x')\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(**kwargs)\n"
        "s.article_publish_succeed = succeed\n"
    )
    article_id = deployment.run(SUBMIT_AND_APPROVE.format(title=f"Killed {uuid.uuid4().hex[:8]}"))
    deployment.start_worker(concurrency=1, preload=kill_once)
    result = published(deployment, article_id)
    assert marker.exists() and "WorkerLostError" in deployment.worker_log()
    # The lost task came back to a new pool process, which found the post instead of posting again.
    assert result["status"] == "published", result["error"]
    assert result["starts"] == 2
    assert post_ids(real_wordpress, result["title"]) == [result["post_id"]]


def test_a_whole_worker_killed_mid_publish_is_recovered_by_a_new_worker(deployment, real_wordpress, tmp_path):
    marker = tmp_path / "worker-killed"
    kill_worker = (
        "import os, signal, pathlib, articles.services.publishing as s\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "def succeed(**kwargs):\n"
        "    marker.write_text('x')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "s.article_publish_succeed = succeed\n"
    )
    article_id = deployment.run(SUBMIT_AND_APPROVE.format(title=f"Recovered {uuid.uuid4().hex[:8]}"))
    first = deployment.start_worker(pool="solo", preload=kill_worker)
    deployment.wait_for(lambda: first.poll() is not None, 60, "the first worker to die")
    assert first.returncode == -signal.SIGKILL and marker.exists()
    assert state(deployment, article_id)["status"] == "publishing"
    deployment.start_worker(pool="solo")
    # The dead worker's message comes back by itself on the embedded broker (its owner is dead); on Redis
    # only after the visibility timeout, so beat's recovery (every 15 s; run once by hand here) queues it.
    recovered = deployment.run("from articles.tasks import recover_stuck_publishes\nresult = recover_stuck_publishes()")
    assert recovered in (0, 1)
    result = published(deployment, article_id)
    assert result["status"] == "published", result["error"]
    assert post_ids(real_wordpress, result["title"]) == [result["post_id"]]
