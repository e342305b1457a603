"""The article admin: read-only pages, the sanitized preview, and the review actions (thin: services)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from articles import services
from articles.models import Article, ArticleStatus
from audit.models import AuditLog
from tests.factories import AgentFactory, ArticleFactory, SiteFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

S = ArticleStatus
CHANGELIST = reverse("admin:articles_article_changelist")


def change_url(article: Article) -> str:
    return reverse("admin:articles_article_change", args=[article.pk])


def run_action(client, action: str, *articles: Article, **data):
    payload = {"action": action, "_selected_action": [a.pk for a in articles], **data}
    return client.post(CHANGELIST, payload, follow=True)


def confirm_action(client, action: str, *articles: Article, **data):
    """The post of an intermediate page back to the changelist (no `index`, `post=yes`)."""
    payload = {"action": action, "_selected_action": [a.pk for a in articles], "post": "yes", **data}
    return client.post(CHANGELIST, payload, follow=True)


def shown(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_changelist_filters_search_and_change_page_render(admin_client):
    article = ArticleFactory(title="Findable")
    assert admin_client.get(CHANGELIST).status_code == 200
    page = admin_client.get(CHANGELIST, {"status": "pending_review", "q": "Findable"})
    assert page.status_code == 200 and "Findable" in page.text
    detail = admin_client.get(change_url(article))
    assert detail.status_code == 200
    assert "revision" in detail.text.lower() and article.content_hash in detail.text
    assert 'name="_save"' not in detail.text  # read-only


def test_articles_cannot_be_added_edited_or_deleted_in_the_admin(admin_client):
    article = ArticleFactory(title="Original")
    assert admin_client.get(reverse("admin:articles_article_add")).status_code == 403
    response = admin_client.post(change_url(article), {"title": "Edited", "status": "published"})
    assert response.status_code == 403
    assert admin_client.post(reverse("admin:articles_article_delete", args=[article.pk])).status_code == 403
    article.refresh_from_db()
    assert (article.title, article.status) == ("Original", S.PENDING_REVIEW)
    assert "delete_selected" not in admin_client.get(CHANGELIST).text


def test_approve_moves_a_pending_article_to_publishing_and_queues_it(
    admin_client, queued, django_capture_on_commit_callbacks
):
    article = ArticleFactory()
    page = run_action(admin_client, "approve_selected", article, index=0)
    assert page.status_code == 200 and f"revision {article.revision_number}, by" in page.text
    assert Article.objects.get(pk=article.pk).status == S.PENDING_REVIEW  # nothing until confirmed
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm_action(admin_client, "approve_selected", article, **{f"revision_{article.pk}": 1})
    article.refresh_from_db()
    assert article.status == S.PUBLISHING
    assert article.reviewed_by.username == "admin"
    assert queued == [article.pk]
    assert shown(response) == [f"Article #{article.pk} “{article.title}” approved; its publishing is queued."]


def test_approving_a_published_article_reports_the_domain_error_and_changes_nothing(
    admin_client, queued, django_capture_on_commit_callbacks
):
    published = ArticleFactory(status=S.PUBLISHED)
    pending = ArticleFactory()
    audit_rows = AuditLog.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm_action(
            admin_client,
            "approve_selected",
            published,
            pending,
            **{f"revision_{published.pk}": 1, f"revision_{pending.pk}": 1},
        )
    published.refresh_from_db()
    assert published.status == S.PUBLISHED and published.reviewed_by is None
    assert queued == [pending.pk]  # the other selected article still went through
    assert shown(response)[0] == (
        f"Article #{published.pk} “{published.title}”: article {published.pk} is published; "
        "only pending_review articles can be approved"
    )
    assert AuditLog.objects.count() == audit_rows + 1  # the pending one's approval only


def test_reject_asks_for_a_reason_then_rejects_with_it(admin_client, queued):
    first, second = ArticleFactory(), ArticleFactory()
    page = run_action(admin_client, "reject_selected", first, second, index=0)
    assert page.status_code == 200
    assert 'name="rejection_reason"' in page.text
    assert 'name="action" value="reject_selected"' in page.text
    for article in (first, second):
        assert f'name="_selected_action" value="{article.pk}"' in page.text
        assert f'name="revision_{article.pk}" value="1"' in page.text
    assert Article.objects.filter(status=S.REJECTED).count() == 0  # nothing happens before the reason

    response = confirm_action(
        admin_client,
        "reject_selected",
        first,
        second,
        rejection_reason="Off topic",
        **{f"revision_{first.pk}": 1, f"revision_{second.pk}": 1},
    )
    assert response.redirect_chain[-1][0].endswith(CHANGELIST)
    for article in (first, second):
        article.refresh_from_db()
        assert (article.status, article.rejection_reason) == (S.REJECTED, "Off topic")
        assert article.reviewed_by.username == "admin"
    assert shown(response) == [f"Article #{a.pk} “{a.title}” rejected." for a in (first, second)]
    assert queued == []


def test_reject_without_a_reason_shows_the_form_again(admin_client):
    article = ArticleFactory()
    page = confirm_action(admin_client, "reject_selected", article, rejection_reason="  ")
    assert page.status_code == 200 and "This field is required." in page.text
    article.refresh_from_db()
    assert article.status == S.PENDING_REVIEW


def test_reject_refuses_an_article_revised_after_the_confirmation_page(admin_client):
    article = ArticleFactory()
    response = confirm_action(
        admin_client, "reject_selected", article, rejection_reason="Bad", **{f"revision_{article.pk}": 0}
    )
    article.refresh_from_db()
    assert article.status == S.PENDING_REVIEW
    assert shown(response) == [
        f"Article #{article.pk} “{article.title}”: article {article.pk} is at revision 1, "
        "not 0; review the current revision"
    ]


def test_retry_publishing_queues_a_failed_article(admin_client, queued, django_capture_on_commit_callbacks):
    failed = ArticleFactory(status=S.PUBLISH_FAILED, publish_error_message="site down")
    pending = ArticleFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "retry_publishing", failed, pending, index=0)
    failed.refresh_from_db()
    assert failed.status == S.PUBLISHING and queued == [failed.pk]
    assert shown(response) == [
        f"Article #{failed.pk} “{failed.title}” queued for publishing again.",
        f"Article #{pending.pk} “{pending.title}”: article {pending.pk} is pending_review; "
        "only publish_failed articles can be retried",
    ]


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


ADMIN_FORMS = {"logout-form", "article_form", "changelist-search", "changelist-form"}


def _assert_no_active_content(html: str) -> None:
    for tag, attrs in _tags(html):
        assert tag not in {"iframe", "object", "embed", "form"} or attrs.get("id") in ADMIN_FORMS, tag
        if tag == "script":
            assert attrs.get("src", "").startswith(("/static/admin/", "/admin/jsi18n/")), attrs
        for name in attrs:
            assert not name.startswith("on"), (tag, attrs)
            assert not name.startswith(("hx-", "data-hx-")) or name == "hx-disable", (tag, attrs)


MALICIOUS = (
    "# Hello\n\n"
    "<script>alert('pwned')</script>\n\n"
    '<img src="x" onerror="alert(1)">\n\n'
    '<div hx-get="/admin/" hx-trigger="load">htmx</div>\n\n'
    "[click](javascript:alert(2))\n"
)


def test_the_change_page_shows_sanitized_html_inside_an_hx_disable_element(admin_client):
    site, writer = SiteFactory(), AgentFactory()
    article = services.article_submit(agent=writer, title="Evil", content_markdown=MALICIOUS, target_site=site.id)
    page = admin_client.get(change_url(article)).text
    previews = [attrs for tag, attrs in _tags(page) if "wpub-preview" in (attrs.get("class") or "").split()]
    assert previews == [{"class": "wpub-preview preview", "hx-disable": None}]
    preview = page.split('<div class="wpub-preview preview" hx-disable>', 1)[1]
    assert preview.startswith("<h1>Hello</h1>")
    assert "<script>alert" not in page and "javascript:" not in preview.split("</fieldset>", 1)[0]
    _assert_no_active_content(page)


def test_the_preview_cleans_html_that_bypassed_the_services(admin_client):
    article = ArticleFactory(
        content_html='<p>ok</p><script>alert(1)</script><img src="x" onerror="alert(1)"><a hx-post="/x">x</a>'
    )
    page = admin_client.get(change_url(article)).text
    assert '<div class="wpub-preview preview" hx-disable><p>ok</p>' in page
    assert "<script>alert" not in page
    _assert_no_active_content(page)


def test_action_messages_escape_agent_titles(admin_client, django_capture_on_commit_callbacks):
    article = ArticleFactory(title='<img src="x" onerror="alert(1)">')
    page = run_action(admin_client, "approve_selected", article, index=0)
    assert "&lt;img src=&quot;x&quot; onerror=&quot;alert(1)&quot;&gt;" in page.text  # the confirmation page
    assert '<img src="x"' not in page.text
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm_action(admin_client, "approve_selected", article, **{f"revision_{article.pk}": 1})
    assert "&lt;img src=&quot;x&quot; onerror=&quot;alert(1)&quot;&gt;" in response.text
    _assert_no_active_content(response.text)
