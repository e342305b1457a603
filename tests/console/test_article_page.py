"""The article page with Django's test client: it stays whole after its actions, its live region shows the
state the article is in now (status, review forms, messages, history), publishing progress is told in words
(attempt n of m, the next try, a lost task), and metadata says "none" rather than a site default that does
not exist."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.actors import Actor
from agents.models import Agent
from articles.models import Article, ArticleStatus
from articles.services import (
    article_approve,
    article_publish_fail,
    article_publish_retry_later,
    article_publish_start,
    article_publish_succeed,
    article_retry_publish,
    article_revise,
    article_submit,
)
from tests.conftest import agent_entry, site_entry
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

HX = {"HX-Request": "true"}
STALE_AFTER = timedelta(minutes=5)


@pytest.fixture
def reviewer(client, loaded_config):
    """A reviewer logged in; the worker tries a publish 3 times (2 retries); site "blog" has no defaults,
    site "news" has a default category and tags."""
    loaded_config(
        agents=[agent_entry("writer")],
        sites=[site_entry("blog"), site_entry("news", default_category="News", default_tags=["daily", "world"])],
        publishing={"retry_attempts": 2},
    )
    user = UserFactory(username="alice", is_staff=True)
    client.force_login(user)
    client.actor = Actor(user=user)
    return client


def submit(title: str = "A post", site: str = "blog", **fields) -> Article:
    return article_submit(
        agent=Agent.objects.get(pk="writer"), title=title, content_markdown="Body text.", target_site=site, **fields
    )


def approved(reviewer, **fields) -> Article:
    article = submit(**fields)
    article_approve(actor=reviewer.actor, article_id=article.pk, expected_revision=1)
    return article


def fail_once(article: Article, *, error: str = "site answered 503", delay: float = 134.4) -> None:
    article_publish_start(article_id=article.pk, stale_after=STALE_AFTER)
    article_publish_retry_later(article_id=article.pk, error=error, delay_seconds=delay)


def live_region(html: str) -> str:
    """The #article-live region's hx-get: what a live event makes the page fetch."""
    match = re.search(r'<div id="article-live"[^>]*hx-get="([^"]+)"', html)
    assert match, "no live region"
    return match.group(1).replace("&amp;", "&")


def status_card(html: str) -> str:
    return html.split('id="article-status"', 1)[1].split("</section>", 1)[0]


def self_contained_requesters(html: str) -> list[str]:
    """The tags that make requests, each checked to carry its own target, swap and select: htmx inheritance
    is off, so a form inside the live region must not rely on its parent's."""
    requesters = re.findall(r"<(?:form|div|a|button)\b[^>]*\bhx-(?:get|post)=[^>]*>", html)
    for tag in requesters:
        for attribute in ('hx-target="', 'hx-swap="outerHTML"', 'hx-select="#article-live"'):
            assert attribute in tag, f"{attribute} missing on {tag}"
    return requesters


def test_every_element_that_makes_a_request_carries_its_own_target_and_swap(reviewer):
    article = submit()
    article_revise(agent=Agent.objects.get(pk="writer"), article_id=article.pk, content_markdown="Body, revised.")
    html = reviewer.get(f"/articles/{article.pk}/").content.decode()
    assert len(self_contained_requesters(html)) == 4  # the live region, approve, reject, compare


def test_after_retry_the_whole_page_stays_and_shows_the_new_state(reviewer):
    article = approved(reviewer)
    article_publish_start(article_id=article.pk, stale_after=STALE_AFTER)
    article_publish_fail(article_id=article.pk, error="site answered 500")
    page = reviewer.get(f"/articles/{article.pk}/").content.decode()
    assert "Retry publishing" in page and "Publishing failed: site answered 500" in page
    retry_form = [tag for tag in self_contained_requesters(page) if "hx-post" in tag]
    assert len(retry_form) == 1 and 'hx-target="#article-live"' in retry_form[0]

    response = reviewer.post(f"/articles/{article.pk}/action", {"action": "retry"}, headers=HX)
    html = response.content.decode()
    assert Article.objects.get(pk=article.pk).status == ArticleStatus.PUBLISHING
    assert f"<h1>#{article.pk} A post</h1>" in html
    assert 'class="preview"' in html and "Body text." in html
    assert 'id="article-history"' in html and "asked to publish article" in html
    assert '<div id="article-live"' in html  # the forms swap this region with itself
    assert "queued for publishing again" in html
    assert "Retry publishing" not in html and "Publishing failed" not in html
    assert "Queued; starting as soon as a worker is free" in html


def test_a_live_refresh_after_publishing_shows_published_without_forms_or_banner(reviewer):
    article = submit()
    page = reviewer.get(f"/articles/{article.pk}/").content.decode()
    assert 'id="approve"' in page and 'name="rejection_reason"' in page
    response = reviewer.post(
        f"/articles/{article.pk}/action", {"action": "approve", "revision": "1", "reviewer_notes": "ok"}, headers=HX
    )
    after_approval = response.content.decode()
    assert "approved; publishing" in after_approval and 'id="approve"' not in after_approval
    refresh = live_region(after_approval)

    # A live event while it still publishes keeps the banner.
    still = reviewer.get(refresh, headers=HX).content.decode()
    assert 'id="article-messages" hx-preserve' in still

    article_publish_start(article_id=article.pk, stale_after=STALE_AFTER)
    article_publish_succeed(article_id=article.pk, post_id=7, permalink="https://blog.example/a-post/")
    html = reviewer.get(refresh, headers=HX).content.decode()
    status = status_card(html)
    assert ">published<" in status
    assert 'href="https://blog.example/a-post/"' in status and 'id="live-post-link"' in status
    assert 'id="approve"' not in html and 'id="reject"' not in html and "<textarea" not in html
    assert "approved; publishing" not in html and 'id="article-messages" hx-preserve' not in html
    history = html.split('id="article-history"', 1)[1]
    assert f"Article {article.pk} published to blog as post 7" in history
    assert "<h1>" in html


def test_a_publish_waiting_to_retry_says_which_attempt_and_when_the_next_try_is(reviewer):
    article = approved(reviewer)
    fail_once(article)
    fail_once(article, error="connection refused")
    html = reviewer.get(f"/articles/{article.pk}/").content.decode()
    progress = html.split('id="publish-progress"', 1)[1].split("</p>", 1)[0]
    assert "Attempt 2 of 3 failed; next try" in progress
    assert re.search(
        r'<time datetime="[^"]+"[^>]*>in 2 min</time> \(<span data-countdown="[^"]+">13[34] s</span>\)', progress
    )
    assert "Last error: connection refused" in progress
    assert "waiting for recovery" not in html and "<progress" not in progress
    assert f'hx-trigger="console:article-{article.pk} from:body, every 15s"' in html


def test_a_publish_running_now_shows_its_attempt(reviewer):
    article = approved(reviewer)
    fail_once(article)
    article_publish_start(article_id=article.pk, stale_after=STALE_AFTER)
    html = reviewer.get(f"/articles/{article.pk}/").content.decode()
    assert "Publishing, attempt 2 of 3, started <time" in html and '<progress aria-label="Publishing">' in html


def test_a_retry_of_a_failed_publish_counts_its_attempts_afresh(reviewer):
    article = approved(reviewer)
    for _ in range(3):
        article_publish_start(article_id=article.pk, stale_after=STALE_AFTER)
        if _ < 2:
            article_publish_retry_later(article_id=article.pk, error="503", delay_seconds=0)
    article_publish_fail(article_id=article.pk, error="503")
    article_retry_publish(actor=reviewer.actor, article_id=article.pk)
    article_publish_start(article_id=article.pk, stale_after=STALE_AFTER)
    html = reviewer.get(f"/articles/{article.pk}/").content.decode()
    assert Article.objects.get(pk=article.pk).publish_attempts == 4
    assert "Publishing, attempt 1 of 3" in html


def test_a_lost_publish_task_says_recovery_will_queue_it_again(reviewer):
    article = approved(reviewer)
    fail_once(article, delay=10)
    Article.objects.filter(pk=article.pk).update(publish_due_at=timezone.now() - timedelta(minutes=3))
    html = reviewer.get(f"/articles/{article.pk}/").content.decode()
    progress = html.split('id="publish-progress"', 1)[1].split("</p>", 1)[0]
    assert "The publish task did not start when due" in progress and ">3 min ago</time>" in progress
    assert "waiting for recovery to re-queue it" in progress
    assert "next try" not in progress and "waiting to retry" not in html.lower()


def test_a_publish_whose_worker_stopped_says_recovery_will_queue_it_again(reviewer):
    article = approved(reviewer)
    article_publish_start(article_id=article.pk, stale_after=STALE_AFTER)
    Article.objects.filter(pk=article.pk).update(publish_claimed_at=timezone.now() - timedelta(hours=1))
    html = reviewer.get(f"/articles/{article.pk}/").content.decode()
    assert "Attempt 1 of 3 stopped with its worker; waiting for recovery to re-queue it" in html
    assert "<progress" not in html


def test_category_and_tags_say_none_unless_the_site_has_a_default(reviewer):
    plain = reviewer.get(f"/articles/{submit(site='blog').pk}/").content.decode()
    assert "(site default)" not in plain
    assert "<dt>Category</dt><dd>none</dd>" in plain and "<dt>Tags</dt><dd>none</dd>" in plain
    news = reviewer.get(f"/articles/{submit(site='news').pk}/").content.decode()
    assert "<dt>Category</dt><dd>none (site default: News)</dd>" in news
    assert "<dt>Tags</dt><dd>none (site default: daily, world)</dd>" in news
    own = reviewer.get(f"/articles/{submit(site='news', category='Tech', tags=['ai']).pk}/").content.decode()
    assert "<dt>Category</dt><dd>Tech</dd>" in own and "<dt>Tags</dt><dd>ai</dd>" in own


def test_times_are_shown_as_time_elements_not_raw_dates(reviewer):
    article = approved(reviewer)
    html = reviewer.get(f"/articles/{article.pk}/").content.decode()
    assert re.search(
        r"<dt>Submitted</dt><dd><time datetime=\"[^\"]+\" title=\"[^\"]+\" data-relative>just now</time>", html
    )
    assert re.search(r"<dt>Reviewed</dt><dd><time [^>]+>just now</time> by alice</dd>", html)
    history = html.split('id="article-history"', 1)[1]
    assert history.count("<time ") >= 2 and "Alice approved article" in history
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", re.sub(r'(datetime|data-countdown|hx-get)="[^"]*"', "", html))


def test_a_refused_action_is_shown_in_words_and_keeps_the_page(reviewer):
    article = submit()
    response = reviewer.post(
        f"/articles/{article.pk}/action", {"action": "reject", "rejection_reason": "", "revision": "1"}, headers=HX
    )
    html = response.content.decode()
    assert "_ERROR:" not in html and "Rejection_reason is required" in html
    assert f"<h1>#{article.pk} A post</h1>" in html and 'id="reject"' in html and 'class="preview"' in html


def test_half_typed_notes_survive_a_refresh_and_a_new_revision_is_announced(reviewer):
    article = submit()
    html = reviewer.get(f"/articles/{article.pk}/").content.decode()
    assert re.search(r'<textarea name="reviewer_notes"[^>]*id="reviewer-notes-\d+" hx-preserve>', html)
    assert re.search(r'<textarea name="rejection_reason"[^>]*id="rejection-reason-\d+" hx-preserve>', html)
    assert f'id="article-{article.pk}-preview-r1" hx-preserve' in html
    refresh = live_region(html)
    article_revise(agent=Agent.objects.get(pk="writer"), article_id=article.pk, content_markdown="Better body.")
    after = reviewer.get(refresh, headers=HX).content.decode()
    assert f'id="article-{article.pk}-preview-r2" hx-preserve' in after and "Better body." in after
    assert "Revised to revision 2 while this page was open" in after
    assert '<input type="hidden" name="revision" value="2">' in after
    assert "Revised to revision" not in reviewer.get(f"/articles/{article.pk}/").content.decode()


def test_the_live_region_keeps_the_revisions_a_reviewer_chose_to_compare(reviewer):
    writer = Agent.objects.get(pk="writer")
    article = submit()
    for text in ("Two.", "Three."):
        article_revise(agent=writer, article_id=article.pk, content_markdown=text)
    html = reviewer.get(f"/articles/{article.pk}/", {"a": 1, "b": 3}, headers=HX).content.decode()
    refresh = live_region(html)
    assert "a=1" in refresh and "b=3" in refresh
    again = reviewer.get(refresh, headers=HX).content.decode()
    assert '<option value="1" selected>' in again and '<option value="3" selected>' in again
    assert '<span class="added">+Three.</span>' in again


def test_a_bad_parameter_of_the_live_region_is_refused_in_words(reviewer):
    article = submit()
    response = reviewer.get(f"/articles/{article.pk}/", {"opened": "x"})
    assert response.status_code == 400 and b"opened" in response.content
