"""The review console's pages with Django's test client: access, the page-or-partial rule, actions,
CSRF, and agent content rendered inert."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from articles.models import Article, ArticleStatus
from audit.models import AuditLog
from tests.factories import AgentFactory, ArticleFactory, SiteFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

PAGES = ["/", "/articles/", "/sites/", "/agents/", "/config/", "/audit/", "/monitoring/"]


@pytest.fixture
def reviewer_client(client, loaded_config):
    from tests.conftest import agent_entry, site_entry

    loaded_config(agents=[agent_entry("writer"), agent_entry("editor")], sites=[site_entry("blog")])
    client.force_login(UserFactory(username="alice", is_staff=True))
    return client


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_logged_in_reviewer(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    client.force_login(UserFactory(username="not-staff", is_staff=False))
    assert client.get(path).status_code == 302


@pytest.mark.parametrize("path", PAGES)
def test_a_full_load_gets_the_page_and_htmx_the_partial(reviewer_client, path):
    page = reviewer_client.get(path)
    assert page.status_code == 200
    assert b"<html" in page.content and b'ws-connect="/ws/console/"' in page.content
    partial = reviewer_client.get(path, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and b"<html" not in partial.content


def test_every_page_sends_a_strict_content_security_policy(reviewer_client):
    policy = reviewer_client.get("/").headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"):
        assert directive in policy
    assert "unsafe-eval" not in policy and "unsafe-inline" not in policy


def test_htmx_is_configured_safely_and_sends_the_csrf_token(reviewer_client):
    html = reviewer_client.get("/").content.decode()
    assert '"selfRequestsOnly": true' in html and '"allowEval": false' in html and '"allowScriptTags": false' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "cdn" not in html.lower() and "/static/vendor/htmx-2.min.js" in html


def test_a_post_without_the_csrf_token_is_refused(reviewer_client):
    article = ArticleFactory(submitting_agent=AgentFactory(id="x"), target_site=SiteFactory(id="s"))
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(UserFactory(username="bob", is_staff=True))
    response = strict.post(f"/articles/{article.pk}/action", {"action": "approve"})
    assert response.status_code == 403
    assert Article.objects.get(pk=article.pk).status == ArticleStatus.PENDING_REVIEW


def test_approve_and_reject_from_the_article_page(reviewer_client):
    from agents.models import Agent
    from articles.services import article_submit

    writer = Agent.objects.get(pk="writer")
    first = article_submit(agent=writer, title="First", content_markdown="x")
    second = article_submit(agent=writer, title="Second", content_markdown="y")
    response = reviewer_client.post(
        f"/articles/{first.pk}/action",
        {"action": "approve", "reviewer_notes": "ok", "revision": "1"},
        headers={"HX-Request": "true"},
    )
    assert b"approved; publishing" in response.content
    assert Article.objects.get(pk=first.pk).status == ArticleStatus.PUBLISHING
    refused = reviewer_client.post(
        f"/articles/{second.pk}/action", {"action": "reject", "rejection_reason": ""}, headers={"HX-Request": "true"}
    )
    assert b"Rejection_reason is required" in refused.content and b"_ERROR:" not in refused.content
    reviewer_client.post(f"/articles/{second.pk}/action", {"action": "reject", "rejection_reason": "off-topic"})
    rejected = Article.objects.get(pk=second.pk)
    assert (rejected.status, rejected.rejection_reason) == (ArticleStatus.REJECTED, "off-topic")
    assert AuditLog.objects.get(event_type="article_rejected").username == "alice"


def test_batch_approve_reports_one_summary(reviewer_client):
    from agents.models import Agent
    from articles.services import article_submit

    writer = Agent.objects.get(pk="writer")
    ids = [article_submit(agent=writer, title=f"A{n}", content_markdown="x").pk for n in range(3)]
    Article.objects.filter(pk=ids[2]).update(status=ArticleStatus.REJECTED)
    response = reviewer_client.post(
        "/articles/batch", {"action": "approve", "article": [f"{i}:1" for i in ids]}, headers={"HX-Request": "true"}
    )
    text = response.content.decode()
    assert f"Approved 2. 1 refused: #{ids[2]} is no longer pending review." in text
    assert text.count('class="message ') == 1
    assert list(Article.objects.filter(pk__in=ids).order_by("pk").values_list("status", flat=True)) == [
        "publishing",
        "publishing",
        "rejected",
    ]


def test_queue_filters_and_keyset_pages(reviewer_client):
    from agents.models import Agent
    from articles.selectors import article_queue_page
    from articles.services import article_submit

    writer = Agent.objects.get(pk="writer")
    ids = [article_submit(agent=writer, title=f"Queue {n}", content_markdown="x").pk for n in range(5)]
    page, next_cursor = article_queue_page(page_size=2)
    assert [a.pk for a in page] == ids[:-3:-1] and next_cursor == ids[3]
    page, _ = article_queue_page(page_size=2, cursor_id=next_cursor)
    assert [a.pk for a in page] == [ids[2], ids[1]]
    response = reviewer_client.get("/articles/", {"q": "Queue 3"})
    assert b"Queue 3" in response.content and b"Queue 4" not in response.content


def test_agent_content_is_rendered_inert(reviewer_client):
    from agents.models import Agent
    from articles.services import article_submit

    payload = (
        "<script>alert(1)</script><img src=x onerror=alert(2)> [x](javascript:alert(3)) "
        '<div hx-get="/admin/" hx-trigger="load">x</div><svg onload=alert(4)></svg>'
    )
    article = article_submit(agent=Agent.objects.get(pk="writer"), title="<b>XSS</b> title", content_markdown=payload)
    html = reviewer_client.get(f"/articles/{article.pk}/").content.decode()
    assert re.search(r'<article class="post" id="article-\d+-preview-r1" hx-preserve hx-disable>', html)
    preview = html.split('<div class="preview">', 1)[1].split("</div>\n      </article>", 1)[0]
    for bad in ("<script", "onerror", "hx-get", "hx-trigger", "<svg", "onload"):
        assert bad not in preview
    # A line that starts with <script> is an HTML block in CommonMark, so the Markdown link after it stays
    # literal (inert) text; what must not survive is a javascript: URL inside any tag.
    assert not re.search(r"<[^>]*javascript:", preview)
    assert "&lt;b&gt;XSS&lt;/b&gt; title" in html


def test_revision_diff_between_any_two(reviewer_client):
    from agents.models import Agent
    from articles.services import article_revise, article_submit

    writer = Agent.objects.get(pk="writer")
    article = article_submit(agent=writer, title="Diffed", content_markdown="line one\nline two")
    article_revise(agent=writer, article_id=article.pk, content_markdown="line one\nline 2")
    html = reviewer_client.get(f"/articles/{article.pk}/", {"a": 1, "b": 2}).content.decode()
    assert '<span class="removed">-line two</span>' in html and '<span class="added">+line 2</span>' in html


def test_audit_csv_export_follows_the_filters(reviewer_client):
    from audit.services import audit_record

    audit_record(event_type="auth_failed", message="one failure", agent_id="writer")
    audit_record(event_type="ip_blocked", message="blocked", ip_address="203.0.113.9")
    response = reviewer_client.get("/audit.csv", {"event": "ip_blocked"})
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,timestamp,event_type")
    assert len(lines) == 2 and "blocked" in lines[1] and "203.0.113.9" in lines[1]


def test_sessions_expire_after_the_configured_idle_time(reviewer_client, loaded_config):
    response = reviewer_client.get("/")
    assert response.status_code == 200
    assert reviewer_client.session.get_expiry_age() == 1800


def test_rotating_a_key_shows_it_once(reviewer_client):
    import re

    response = reviewer_client.post("/agents/writer/keys", {"action": "rotate", "grace": "0"})
    keys = re.findall(r"wpk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", response.content.decode())
    assert len(set(keys)) == 1 and response["Cache-Control"] == "no-store"
    assert not re.findall(r"wpk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", reviewer_client.get("/agents/").content.decode())
    assert "$2b$" not in reviewer_client.get("/agents/").content.decode()
