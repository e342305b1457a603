"""The dashboard with Django's test client: its publishing queue tells each publish's state in words (a lost
task is not "waiting to retry"), times are <time> elements, its tables become cards on narrow screens, and
its empty states say what to do next."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.actors import Actor
from agents.models import Agent
from articles.models import Article
from articles.services import article_approve, article_publish_retry_later, article_publish_start, article_submit
from tests.conftest import agent_entry, site_entry
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

HX = {"HX-Request": "true"}


@pytest.fixture
def reviewer(client, loaded_config):
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog")], publishing={"retry_attempts": 2})
    user = UserFactory(username="alice", is_staff=True)
    client.force_login(user)
    client.actor = Actor(user=user)
    return client


def approved(reviewer, title: str) -> Article:
    article = article_submit(agent=Agent.objects.get(pk="writer"), title=title, content_markdown="Text.")
    article_approve(actor=reviewer.actor, article_id=article.pk, expected_revision=1)
    return article


def failed_once(article: Article, *, delay: float) -> None:
    article_publish_start(article_id=article.pk, stale_after=timedelta(minutes=5))
    article_publish_retry_later(article_id=article.pk, error="site answered 503", delay_seconds=delay)


def queue_row(html: str, title: str) -> str:
    table = html.split('id="publishing-queue"', 1)[1].split("</table>", 1)[0]
    return next(row for row in table.split("<tr>") if title in row)


def test_the_publishing_queue_tells_a_retry_from_a_lost_task(reviewer):
    retrying = approved(reviewer, "Retrying")
    failed_once(retrying, delay=134.4)
    lost = approved(reviewer, "Lost")
    failed_once(lost, delay=10)
    Article.objects.filter(pk=lost.pk).update(publish_due_at=timezone.now() - timedelta(minutes=2))
    html = reviewer.get("/", headers=HX).content.decode()

    row = queue_row(html, "Retrying")
    assert "Attempt 1 of 3 failed; next try <time" in row and re.search(r">13[34] s</span>", row)
    assert "Last error: site answered 503" in row
    row = queue_row(html, "Lost")
    assert "waiting for recovery to re-queue it" in row and "next try" not in row
    assert "waiting to retry" not in html.lower()
    assert "every 30s" in html.split('id="dashboard"', 1)[1].split(">", 1)[0]  # lost or due: it looks again


def test_the_publishing_queue_is_a_table_of_cards_with_times(reviewer):
    approved(reviewer, "Queued one")
    html = reviewer.get("/", headers=HX).content.decode()
    table = html.split('<table class="cards" id="publishing-queue">', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r"<td[^>]*>", table)
    assert len(cells) == 4 and all("data-label=" in cell for cell in cells)
    assert re.search(
        r'<td data-label="Approved"><time datetime="[^"]+" title="[^"]+" data-relative>just now</time>', table
    )
    assert "Queued; starting as soon as a worker is free" in table


def test_times_are_time_elements_and_the_heading_is_there(reviewer):
    approved(reviewer, "Timed")
    Agent.objects.filter(pk="writer").update(last_seen=timezone.now() - timedelta(minutes=5))
    html = reviewer.get("/").content.decode()
    assert "<h1>Dashboard</h1>" in html
    feed = html.split('id="activity-feed"', 1)[1].split("</ol>", 1)[0]
    assert feed.count("<time ") >= 2 and "Alice approved article" in feed
    assert re.search(r"last seen <time [^>]+>5 min ago</time>", html)
    assert "_ERROR:" not in html


def test_empty_states_say_what_to_do_next(client):
    client.force_login(UserFactory(username="bob", is_staff=True))
    html = client.get("/").content.decode()
    assert "Nothing waiting to be published." in html and 'href="/articles/?status=pending_review"' in html
    assert "No agents yet. Add one to <code>agents.yml</code>" in html
    assert "No sites yet. Add a WordPress site to <code>sites.yml</code>" in html
    assert "Nothing has happened yet." in html
    assert "every 30s" not in html  # nothing publishing: no polling


def test_the_publishing_queue_reads_without_a_running_config(client):
    """An invalid config stops the workers, not the dashboard: the limits fall back to their defaults."""
    from tests.factories import ArticleFactory

    ArticleFactory(
        title="Stuck",
        status="publishing",
        publish_attempts=1,
        publish_error_message="timeout",
        publish_due_at=timezone.now() - timedelta(minutes=5),
    )
    client.force_login(UserFactory(username="bob", is_staff=True))
    row = queue_row(client.get("/").content.decode(), "Stuck")
    assert "waiting for recovery to re-queue it" in row and "Last error: timeout" in row
