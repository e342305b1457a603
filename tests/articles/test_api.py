"""The reviewers' JSON API for articles (/api/articles) and the overview (/api/stats), through Django's
test client: who may call it, CSRF, filters and paging, and each review action with its errors."""

from __future__ import annotations

import pytest
from django.test import Client

from articles.models import ArticleStatus
from audit.models import AuditLog
from tests.factories import AgentFactory, ArticleFactory, SiteFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

S = ArticleStatus


@pytest.fixture
def reviewer():
    return UserFactory(username="alice")


@pytest.fixture
def staff(client, reviewer) -> Client:
    client.force_login(reviewer)
    return client


def csrf_client(user) -> tuple[Client, str]:
    """A logged-in client that enforces CSRF as a browser session does, and the token the docs page gives."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get("/api/docs").status_code == 200  # renders the token for swagger-ui: sets the cookie
    return browser, browser.cookies["csrftoken"].value


def post(client: Client, path: str, body: dict | None = None):
    """POST a JSON body, or no body at all."""
    if body is None:
        return client.generic("POST", path)
    return client.post(path, body, content_type="application/json")


# --- access -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/articles"),
        ("get", "/api/articles/{id}"),
        ("post", "/api/articles/{id}/approve"),
        ("post", "/api/articles/{id}/reject"),
        ("post", "/api/articles/{id}/retry"),
        ("get", "/api/stats"),
    ],
)
def test_anonymous_and_non_staff_users_are_refused(client, method, path):
    article = ArticleFactory()
    path = path.format(id=article.pk)
    assert getattr(client, method)(path).status_code == 401
    client.force_login(UserFactory(username="bob", is_staff=False))
    response = getattr(client, method)(path)
    assert (response.status_code, response.json()) == (401, {"detail": "Unauthorized"})
    article.refresh_from_db()
    assert article.status == S.PENDING_REVIEW


def test_a_post_without_the_csrf_token_is_refused(reviewer, queued):
    article = ArticleFactory()
    browser, token = csrf_client(reviewer)
    response = browser.post(f"/api/articles/{article.pk}/approve")
    assert (response.status_code, response.json()) == (403, {"detail": "CSRF check Failed"})
    article.refresh_from_db()
    assert article.status == S.PENDING_REVIEW
    response = browser.post(
        f"/api/articles/{article.pk}/approve",
        {"expected_revision": 1},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200 and response.json()["status"] == S.PUBLISHING


@pytest.mark.parametrize("malformed", [False, True])
def test_a_form_body_is_refused_as_unsupported(reviewer, malformed):
    # The CSRF check reads a multipart form (or fails to) before the operation could read its JSON body.
    article = ArticleFactory()
    browser, token = csrf_client(reviewer)
    path, headers = f"/api/articles/{article.pk}/reject", {"X-CSRFToken": token}
    if malformed:
        response = browser.generic("POST", path, b"reason", content_type="multipart/form-data", headers=headers)
    else:
        response = browser.post(path, {"rejection_reason": "no"}, headers=headers)
    assert response.status_code == 415
    assert response.json() == {"code": "UNSUPPORTED_MEDIA_TYPE", "message": "send the request body as application/json"}
    article.refresh_from_db()
    assert article.status == S.PENDING_REVIEW


def test_reads_need_no_csrf_token(reviewer):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(reviewer)
    assert browser.get("/api/articles").status_code == 200


# --- list ---------------------------------------------------------------------------------------------


def test_list_filters_by_status_agent_site_and_search(staff):
    writer, editor = AgentFactory(id="writer"), AgentFactory(id="editor")
    blog, shop = SiteFactory(id="blog"), SiteFactory(id="shop")
    pending = ArticleFactory(title="Django tips", submitting_agent=writer, target_site=blog)
    rejected = ArticleFactory(title="Cooking", submitting_agent=editor, target_site=shop, status=S.REJECTED)
    body_match = ArticleFactory(
        title="Other", content_markdown="all about django", submitting_agent=editor, target_site=blog
    )

    def ids(**query) -> list[int]:
        response = staff.get("/api/articles", query)
        assert response.status_code == 200, response.json()
        return [a["id"] for a in response.json()]

    assert ids() == [body_match.pk, rejected.pk, pending.pk]
    assert ids(status="rejected") == [rejected.pk]
    assert ids(agent_id="editor") == [body_match.pk, rejected.pk]
    assert ids(target_site="blog") == [body_match.pk, pending.pk]
    assert ids(search="DJANGO") == [body_match.pk, pending.pk]
    assert ids(search="django", agent_id="writer") == [pending.pk]
    assert ids(agent_id="nobody") == []


def test_list_items_are_summaries_without_content(staff):
    article = ArticleFactory(tags=["python"], category="Tech")
    [item] = staff.get("/api/articles").json()
    assert item["id"] == article.pk
    assert item["status"] == "pending_review"
    assert item["submitting_agent"] == article.submitting_agent_id
    assert item["target_site"] == article.target_site_id
    assert (item["tags"], item["category"], item["revision"]) == (["python"], "Tech", 1)
    assert "content_markdown" not in item and "content_html" not in item


def test_list_pages_with_limit_and_offset(staff):
    articles = [ArticleFactory() for _ in range(5)]
    newest_first = [a.pk for a in reversed(articles)]
    assert [a["id"] for a in staff.get("/api/articles", {"limit": 2}).json()] == newest_first[:2]
    assert [a["id"] for a in staff.get("/api/articles", {"limit": 2, "offset": 2}).json()] == newest_first[2:4]
    assert [a["id"] for a in staff.get("/api/articles", {"limit": 2, "offset": 4}).json()] == newest_first[4:]
    assert staff.get("/api/articles", {"offset": 5}).json() == []
    assert len(staff.get("/api/articles", {"limit": 100}).json()) == 5
    # The largest offset answers with an empty page; past it the parameter is refused by name.
    assert staff.get("/api/articles", {"limit": 100, "offset": 1_000_000}).json() == []
    refused = staff.get("/api/articles", {"offset": 1_000_001})
    assert refused.status_code == 422 and refused.json()["field"] == "offset"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 2**63}, "offset"),
        ({"status": "draft"}, "status"),
        ({"agent_id": "Not An Id"}, "agent_id"),
        ({"target_site": "x" * 51}, "target_site"),
        ({"search": "nul\x00byte"}, "search"),
    ],
)
def test_list_refuses_bad_parameters_naming_the_field(staff, query, field):
    response = staff.get("/api/articles", query)
    assert response.status_code == 422
    body = response.json()
    assert (body["code"], body["field"]) == ("VALIDATION_ERROR", field)
    assert body["message"].startswith(f"{field}: ")


# --- detail -------------------------------------------------------------------------------------------


def test_detail_has_content_sanitized_html_and_revisions(staff):
    article = ArticleFactory(agent_metadata={"model": "x"})
    body = staff.get(f"/api/articles/{article.pk}").json()
    assert body["id"] == article.pk
    assert body["content_markdown"] == "Some **text**."
    assert body["content_html"] == "<p>Some <strong>text</strong>.</p>"
    assert body["agent_metadata"] == {"model": "x"}
    assert body["publish_attempts"] == 0 and body["reviewer_notes"] is None
    [revision] = body["revisions"]
    assert (revision["number"], revision["agent"], revision["content_hash"]) == (
        1,
        article.submitting_agent_id,
        article.content_hash,
    )


def test_an_unknown_article_is_404(staff):
    response = staff.get("/api/articles/999999")
    assert response.status_code == 404
    assert response.json() == {
        "code": "ARTICLE_NOT_FOUND",
        "message": "article 999999 not found",
        "field": "article_id",
    }


@pytest.mark.parametrize("article_id", ["0", "abc", str(2**63)])
def test_an_article_id_that_cannot_exist_is_422(staff, article_id):
    response = staff.get(f"/api/articles/{article_id}")
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("VALIDATION_ERROR", "article_id")


# --- approve ------------------------------------------------------------------------------------------


def test_approve_moves_to_publishing_records_the_reviewer_and_queues_the_publish(
    staff, queued, django_capture_on_commit_callbacks
):
    article = ArticleFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            staff, f"/api/articles/{article.pk}/approve", {"expected_revision": 1, "reviewer_notes": "  good  "}
        )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["reviewer_notes"]) == ("publishing", "good")
    assert body["reviewed_at"] is not None
    assert queued == [article.pk]
    article.refresh_from_db()
    assert article.reviewed_by.username == "alice"
    audit = AuditLog.objects.get(article_id=article.pk, event_type="article_approved")
    assert audit.username == "alice"


def test_approve_needs_only_the_revision_read(staff, queued, django_capture_on_commit_callbacks):
    article = ArticleFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(staff, f"/api/articles/{article.pk}/approve", {"expected_revision": 1})
    assert (response.status_code, response.json()["reviewer_notes"]) == (200, None)
    assert queued == [article.pk]


def test_approving_twice_is_an_invalid_transition(staff, queued, django_capture_on_commit_callbacks):
    article = ArticleFactory()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(staff, f"/api/articles/{article.pk}/approve", {"expected_revision": 1}).status_code == 200
        response = post(staff, f"/api/articles/{article.pk}/approve", {"expected_revision": 1})
    assert response.status_code == 409
    assert response.json() == {
        "code": "INVALID_TRANSITION",
        "message": f"article {article.pk} is publishing; only pending_review articles can be approved",
    }
    assert queued == [article.pk]


def test_approve_with_a_stale_revision_is_refused(staff, queued):
    article = ArticleFactory(revision_number=2)
    response = post(staff, f"/api/articles/{article.pk}/approve", {"expected_revision": 1})
    assert response.status_code == 409
    assert response.json() == {
        "code": "INVALID_TRANSITION",
        "message": f"article {article.pk} is at revision 2, not 1; review the current revision",
    }
    article.refresh_from_db()
    assert article.status == S.PENDING_REVIEW and queued == []


def test_approve_with_the_current_revision_succeeds(staff):
    article = ArticleFactory(revision_number=2)
    response = post(staff, f"/api/articles/{article.pk}/approve", {"expected_revision": 2})
    assert (response.status_code, response.json()["status"]) == (200, "publishing")


def test_approve_refuses_notes_over_the_limit(staff):
    article = ArticleFactory()
    response = post(
        staff, f"/api/articles/{article.pk}/approve", {"expected_revision": 1, "reviewer_notes": "x" * 2001}
    )
    assert response.status_code == 422
    assert response.json() == {
        "code": "VALIDATION_ERROR",
        "message": "reviewer_notes must be at most 2000 characters (got 2001)",
        "field": "reviewer_notes",
    }


def test_approve_refuses_an_article_whose_site_is_inactive(staff):
    article = ArticleFactory(target_site=SiteFactory(id="gone", is_active=False))
    response = post(staff, f"/api/articles/{article.pk}/approve", {"expected_revision": 1})
    assert response.status_code == 404
    assert response.json()["code"] == "SITE_NOT_FOUND" and response.json()["field"] == "target_site"


def test_approve_an_unknown_article_is_404(staff):
    response = post(staff, "/api/articles/424242/approve", {"expected_revision": 1})
    assert (response.status_code, response.json()["code"]) == (404, "ARTICLE_NOT_FOUND")


# --- reject -------------------------------------------------------------------------------------------


def test_reject_records_the_reason(staff, queued):
    article = ArticleFactory()
    response = post(staff, f"/api/articles/{article.pk}/reject", {"rejection_reason": "off topic"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["rejection_reason"]) == ("rejected", "off topic")
    article.refresh_from_db()
    assert article.reviewed_by.username == "alice" and queued == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rejection_reason": "   "}, "rejection_reason is required"),
        ({}, "rejection_reason: Field required"),
        ({"rejection_reason": 5}, "rejection_reason: Input should be a valid string"),
    ],
)
def test_reject_needs_a_reason(staff, body, message):
    article = ArticleFactory()
    response = post(staff, f"/api/articles/{article.pk}/reject", body)
    assert response.status_code == 422
    assert response.json() == {"code": "VALIDATION_ERROR", "message": message, "field": "rejection_reason"}
    article.refresh_from_db()
    assert article.status == S.PENDING_REVIEW


def test_reject_without_a_body_is_422(staff):
    article = ArticleFactory()
    response = post(staff, f"/api/articles/{article.pk}/reject")
    assert (response.status_code, response.json()["code"]) == (422, "VALIDATION_ERROR")


def test_rejecting_a_published_article_is_an_invalid_transition(staff):
    article = ArticleFactory(status=S.PUBLISHED)
    response = post(staff, f"/api/articles/{article.pk}/reject", {"rejection_reason": "too late"})
    assert response.status_code == 409
    assert response.json() == {
        "code": "INVALID_TRANSITION",
        "message": f"article {article.pk} is published; only pending_review articles can be rejected",
    }


def test_reject_an_unknown_article_is_404(staff):
    response = post(staff, "/api/articles/424242/reject", {"rejection_reason": "no"})
    assert (response.status_code, response.json()["code"]) == (404, "ARTICLE_NOT_FOUND")


# --- retry --------------------------------------------------------------------------------------------


def test_retry_queues_a_failed_publish_again(staff, queued, django_capture_on_commit_callbacks):
    article = ArticleFactory(status=S.PUBLISH_FAILED, publish_error_message="site blog unreachable")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(staff, f"/api/articles/{article.pk}/retry")
    assert (response.status_code, response.json()["status"]) == (200, "publishing")
    assert queued == [article.pk]
    audit = AuditLog.objects.get(article_id=article.pk, event_type="publish_retry_requested")
    assert audit.username == "alice"


def test_retrying_a_pending_article_is_an_invalid_transition(staff, queued):
    article = ArticleFactory()
    response = post(staff, f"/api/articles/{article.pk}/retry")
    assert response.status_code == 409
    assert response.json() == {
        "code": "INVALID_TRANSITION",
        "message": f"article {article.pk} is pending_review; only publish_failed articles can be retried",
    }
    assert queued == []


def test_retry_an_unknown_article_is_404(staff):
    response = post(staff, "/api/articles/424242/retry")
    assert (response.status_code, response.json()["code"]) == (404, "ARTICLE_NOT_FOUND")


# --- stats --------------------------------------------------------------------------------------------


def test_stats_counts_articles_agents_and_sites(staff):
    site = SiteFactory(health_status="error")
    SiteFactory(health_status="healthy")
    SiteFactory(health_status="healthy", is_active=False)
    writer = AgentFactory()
    AgentFactory(is_active=False)
    ArticleFactory(submitting_agent=writer, target_site=site)
    ArticleFactory(submitting_agent=writer, target_site=site, status=S.PUBLISHED)
    ArticleFactory(submitting_agent=writer, target_site=site, status=S.PUBLISHED)
    body = staff.get("/api/stats").json()
    assert body["articles_by_status"] == {"pending_review": 1, "published": 2}
    assert body["agents"] == {"active": 1, "connected": 0}
    assert body["sites_by_health"] == {"error": 1, "healthy": 1}
    assert isinstance(body["last_24h"], dict)
