"""Exactly once when WordPress is slower than `publishing.timeout`: a real WordPress whose post creation
takes longer than the timeout (a plugin sleeping before the post is saved), real Celery worker processes.
Attempts give up while WordPress is still creating, later attempts look before the earlier creates land;
in the end one post is public and every late one is in the trash, audited."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import agent_entry
from tests.support.deployment import Deployment

pytestmark = pytest.mark.slow

PLUGIN = Path(__file__).resolve().parents[1] / "support" / "wordpress" / "slow-create.php"
SUBMIT_AND_APPROVE = """
from agents.models import Agent
from agents.actors import Actor
from articles.services import article_approve, article_submit
from django.contrib.auth.models import User
article = article_submit(agent=Agent.objects.get(pk="writer"), title={title!r}, content_markdown="Body",
                         target_site="wp1")
article_approve(actor=Actor(user=User.objects.get_or_create(username="reviewer")[0]), article_id=article.pk,
                expected_revision=article.revision_number)
result = article.pk
"""
STATE = """
from articles.models import Article
from audit.models import AuditLog
a = Article.objects.get(pk={article_id})
trashed = AuditLog.objects.filter(article_id=a.pk, event_type="publish_duplicate_trashed")
result = {{"status": a.status, "post_id": a.wordpress_post_id, "attempts": a.publish_attempts,
          "error": a.publish_error_message, "trashed": [row.metadata["post_id"] for row in trashed]}}
"""


@pytest.fixture
def slow_site(real_wordpress):
    plugin = real_wordpress.directory / "htdocs" / "wp-content" / "mu-plugins" / "wpl-test-slow-create.php"
    shutil.copy(PLUGIN, plugin)
    yield real_wordpress
    plugin.unlink()


@pytest.fixture
def deployment(tmp_path, slow_site):
    world = Deployment(
        tmp_path,
        agents=[agent_entry("writer")],
        sites=[slow_site.site_entry("wp1")],
        publishing={"retry_attempts": 3, "retry_delay": 1, "timeout": 3},
    )
    yield world
    world.close()


def test_a_site_slower_than_the_timeout_ends_with_one_public_post_and_the_late_ones_trashed(deployment, slow_site):
    marker = uuid.uuid4().hex[:10]
    article_id = deployment.run(SUBMIT_AND_APPROVE.format(title=f"Slow {marker} [slow-create 5]"))
    deployment.start_worker(concurrency=1)

    def state() -> dict:
        return deployment.run(STATE.format(article_id=article_id))

    def posts() -> dict[int, str]:
        found = slow_site.get("wp1", "/posts", search=marker, status="any", context="edit", per_page=100)
        return {post["id"]: post["status"] for post in found}

    public_at_once: list[int] = []
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            public_at_once.append(sum(status == "publish" for status in posts().values()))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        published = deployment.wait_for(lambda: (s := state())["status"] != "publishing" and s, 120, "the publish")
        assert published["status"] == "published", published["error"]
        settled = deployment.wait_for(
            lambda: (s := state())["trashed"] and posts() == {published["post_id"]: "publish"} and s,
            90,
            "the late posts to be trashed",
        )
        time.sleep(6)  # longer than any create still in flight
    finally:
        watching.set()
        watcher.join()
    # Never two public posts, not even for a moment.
    assert max(public_at_once) == 1
    # At least one attempt gave up while WordPress was still creating its post.
    assert published["attempts"] >= 2
    # Every create lands in the end (each takes 5 s); the late ones were drafts, never public, and the
    # reconciliation after the publish put them in the trash.
    assert posts() == {published["post_id"]: "publish"}
    for post_id in settled["trashed"]:
        assert slow_site.get("wp1", f"/posts/{post_id}", context="edit")["status"] == "trash"
