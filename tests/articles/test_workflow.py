"""The review workflow through the service layer: every allowed move, every forbidden one, rights."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.actors import Actor
from articles import services
from articles.exceptions import ArticleChanged, ArticleNotFound, InvalidTransition
from articles.models import Article, ArticleRevision, ArticleStatus
from audit.models import AuditLog
from core.exceptions import Forbidden
from tests.factories import AgentFactory, ArticleFactory, SiteFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

S = ArticleStatus


@pytest.fixture
def site():
    return SiteFactory(id="tech-blog")


@pytest.fixture
def writer():
    return AgentFactory(id="ai-writer-001")


@pytest.fixture
def person():
    return Actor(user=UserFactory(username="alice"))


def submit(agent, **fields):
    values = {"title": "Hello", "content_markdown": "# Hello\n\nWorld", "tags": ["a"], "category": "Tech"}
    values.update(fields)
    return services.article_submit(agent=agent, **values)


def events(article) -> list[str]:
    return list(AuditLog.objects.filter(article_id=article.pk).order_by("id").values_list("event_type", flat=True))


def test_submit_stores_article_first_revision_counter_and_audit(site, writer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        article = submit(writer, tags="python, Django, python", agent_metadata={"model": "x"})
    article.refresh_from_db()
    assert article.status == S.PENDING_REVIEW
    assert article.target_site_id == "tech-blog"
    assert article.tags == ["python", "Django"]
    assert article.content_html == "<h1>Hello</h1>\n<p>World</p>"
    assert article.agent_metadata == {"model": "x"}
    revision = article.revisions.get()
    assert (revision.number, revision.agent_id, revision.content_hash) == (1, writer.id, article.content_hash)
    writer.refresh_from_db()
    assert writer.total_articles_submitted == 1
    assert events(article) == ["article_submitted"]


def test_approve_moves_to_publishing_queues_the_publish_and_audits(
    site, writer, person, queued, django_capture_on_commit_callbacks
):
    article = submit(writer)
    with django_capture_on_commit_callbacks(execute=True):
        approved = services.article_approve(actor=person, article_id=article.pk, expected_revision=1, notes="good")
    assert approved.status == S.PUBLISHING
    assert approved.reviewer_notes == "good"
    assert approved.reviewed_by.username == "alice"
    assert approved.approved_content_hash == approved.content_hash
    assert queued == [article.pk]
    row = AuditLog.objects.get(article_id=article.pk, event_type="article_approved")
    assert row.username == "alice" and row.metadata["from"] == "pending_review" and row.metadata["to"] == "publishing"


def test_nothing_is_queued_when_the_approval_rolls_back(
    site, writer, person, queued, django_capture_on_commit_callbacks
):
    article = submit(writer)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InvalidTransition):
        services.article_reject(actor=person, article_id=article.pk, rejection_reason="no")
        services.article_approve(actor=person, article_id=article.pk, expected_revision=1)
    assert queued == []


def test_reject_records_the_reason(site, writer, person):
    article = submit(writer)
    rejected = services.article_reject(actor=person, article_id=article.pk, rejection_reason="off-topic")
    assert rejected.status == S.REJECTED and rejected.rejection_reason == "off-topic"
    writer.refresh_from_db()
    assert writer.total_articles_rejected == 1
    assert events(article) == ["article_submitted", "article_rejected"]


def test_full_publish_cycle_with_failure_and_retry(site, writer, person, queued, django_capture_on_commit_callbacks):
    article = submit(writer)
    services.article_approve(actor=person, article_id=article.pk, expected_revision=1)
    claimed = services.article_publish_start(article_id=article.pk, stale_after=timedelta(minutes=5))
    assert claimed.publish_attempts == 1 and claimed.publish_claimed_at is not None
    failed = services.article_publish_fail(article_id=article.pk, error="site unreachable")
    assert failed.status == S.PUBLISH_FAILED and failed.publish_error_message == "site unreachable"
    with django_capture_on_commit_callbacks(execute=True):
        services.article_retry_publish(article_id=article.pk, actor=Actor(user=person.user))
    assert queued == [article.pk]
    services.article_publish_start(article_id=article.pk, stale_after=timedelta(minutes=5))
    done = services.article_publish_succeed(article_id=article.pk, post_id=42, permalink="http://wp/hello/")
    assert done.status == S.PUBLISHED
    assert (done.wordpress_post_id, done.wordpress_permalink, done.publish_error_message) == (
        42,
        "http://wp/hello/",
        "",
    )
    assert done.published_at is not None and done.publish_claimed_at is None
    site.refresh_from_db()
    writer.refresh_from_db()
    assert (site.total_posts_published, site.total_publish_failures) == (1, 1)
    assert writer.total_articles_published == 1
    assert events(article) == [
        "article_submitted",
        "article_approved",
        "publish_started",
        "publish_failed",
        "publish_retry_requested",
        "publish_started",
        "publish_succeeded",
    ]


def test_a_publish_is_claimed_by_one_worker_at_a_time(site, writer, person):
    article = submit(writer)
    services.article_approve(actor=person, article_id=article.pk, expected_revision=1)
    first = services.article_publish_start(article_id=article.pk, stale_after=timedelta(minutes=5))
    second = services.article_publish_start(article_id=article.pk, stale_after=timedelta(minutes=5))
    assert first is not None and second is None
    # A claim older than the stale limit (its worker died) can be taken over.
    Article.objects.filter(pk=article.pk).update(publish_claimed_at=timezone.now() - timedelta(minutes=10))
    third = services.article_publish_start(article_id=article.pk, stale_after=timedelta(minutes=5))
    assert third is not None and third.publish_attempts == 2


def test_a_published_article_is_never_claimed_again(site, writer, person):
    article = submit(writer)
    services.article_approve(actor=person, article_id=article.pk, expected_revision=1)
    services.article_publish_start(article_id=article.pk, stale_after=timedelta(minutes=5))
    services.article_publish_succeed(article_id=article.pk, post_id=1, permalink="http://wp/p/")
    assert services.article_publish_start(article_id=article.pk, stale_after=timedelta(0)) is None


def test_retry_later_releases_the_claim(site, writer, person):
    article = submit(writer)
    services.article_approve(actor=person, article_id=article.pk, expected_revision=1)
    services.article_publish_start(article_id=article.pk, stale_after=timedelta(minutes=5))
    services.article_publish_retry_later(article_id=article.pk, error="HTTP 503", delay_seconds=30)
    article.refresh_from_db()
    assert article.status == S.PUBLISHING and article.publish_claimed_at is None
    assert article.publish_error_message == "HTTP 503"
    assert services.article_publish_start(article_id=article.pk, stale_after=timedelta(minutes=5)) is not None


# Which statuses each action accepts, written out here independently of the code under test.
ACCEPTS = {
    "approve": ({S.PENDING_REVIEW}, "approved"),
    "reject": ({S.PENDING_REVIEW}, "rejected"),
    "revise": ({S.PENDING_REVIEW}, "revised"),
    "retry": ({S.PUBLISH_FAILED}, "retried"),
    "retry_later": ({S.PUBLISHING}, "rescheduled"),
    "succeed": ({S.PUBLISHING}, "marked published"),
    "fail": ({S.PUBLISHING}, "marked failed"),
}
FORBIDDEN = [
    (status, action) for action, (sources, _) in ACCEPTS.items() for status in S.values if status not in sources
]


@pytest.mark.parametrize(("status", "action"), FORBIDDEN)
def test_every_forbidden_move_says_what_the_article_is_and_what_is_allowed(status, action, person):
    article = ArticleFactory(status=status)
    owner = article.submitting_agent
    calls = {
        "approve": lambda: services.article_approve(actor=person, article_id=article.pk, expected_revision=1),
        "reject": lambda: services.article_reject(actor=person, article_id=article.pk, rejection_reason="x"),
        "revise": lambda: services.article_revise(agent=owner, article_id=article.pk, title="New title"),
        "retry": lambda: services.article_retry_publish(article_id=article.pk, actor=Actor(user=person.user)),
        "retry_later": lambda: services.article_publish_retry_later(article_id=article.pk, error="x", delay_seconds=1),
        "succeed": lambda: services.article_publish_succeed(article_id=article.pk, post_id=1, permalink=""),
        "fail": lambda: services.article_publish_fail(article_id=article.pk, error="x"),
    }
    sources, done = ACCEPTS[action]
    before = AuditLog.objects.count()
    with pytest.raises(InvalidTransition) as raised:
        calls[action]()
    (allowed,) = sources
    assert raised.value.message == f"article {article.pk} is {status}; only {allowed} articles can be {done}"
    assert raised.value.code == "INVALID_TRANSITION"
    article.refresh_from_db()
    assert article.status == status
    assert AuditLog.objects.count() == before


@pytest.mark.parametrize("status", [s for s in S.values if s != S.PUBLISHING])
def test_only_publishing_articles_are_claimed_for_publishing(status):
    article = ArticleFactory(status=status)
    assert services.article_publish_start(article_id=article.pk, stale_after=timedelta(0)) is None
    article.refresh_from_db()
    assert (article.status, article.publish_attempts, article.publish_claimed_at) == (status, 0, None)


def test_unknown_article_is_not_found(person):
    with pytest.raises(ArticleNotFound, match="article 999 not found"):
        services.article_approve(actor=person, article_id=999, expected_revision=1)


def test_an_agent_never_approves_its_own_article(site):
    editor = AgentFactory(id="editor", scopes=["article:submit", "article:read", "article:review"])
    article = submit(editor)
    with pytest.raises(Forbidden, match="agent editor cannot approve its own article"):
        services.article_approve(actor=Actor(agent=editor), article_id=article.pk, expected_revision=1)
    with pytest.raises(Forbidden, match="agent editor cannot reject its own article"):
        services.article_reject(actor=Actor(agent=editor), article_id=article.pk, rejection_reason="x")
    article.refresh_from_db()
    assert article.status == S.PENDING_REVIEW


def test_an_agent_reviews_others_only_with_the_review_scope(site, writer, queued, django_capture_on_commit_callbacks):
    article = submit(writer)
    seo = AgentFactory(id="seo")
    with pytest.raises(Forbidden, match="agent seo lacks the scope article:review"):
        services.article_approve(actor=Actor(agent=seo), article_id=article.pk, expected_revision=1)
    editor = AgentFactory(id="editor", scopes=["article:read", "article:review"])
    with django_capture_on_commit_callbacks(execute=True):
        approved = services.article_approve(
            actor=Actor(agent=editor), article_id=article.pk, expected_revision=1, notes="ok"
        )
    assert approved.publishing_agent_id == "editor" and approved.reviewed_by is None
    assert queued == [article.pk]
    assert AuditLog.objects.get(event_type="article_approved").agent_id == "editor"


def test_revisions_keep_every_version_with_its_author(site, writer):
    article = submit(writer, title="Draft")
    seo = AgentFactory(id="seo", scopes=["article:read", "article:revise"])
    services.article_revise(agent=seo, article_id=article.pk, title="Draft: 10 tips", note="SEO title")
    revised = services.article_revise(agent=writer, article_id=article.pk, content_markdown="Better *body*")
    assert revised.revision_number == 3
    assert revised.title == "Draft: 10 tips"
    assert revised.content_html == "<p>Better <em>body</em></p>"
    rows = list(ArticleRevision.objects.filter(article=article).values_list("number", "agent_id", "title", "note"))
    assert rows == [
        (1, writer.id, "Draft", "submitted"),
        (2, "seo", "Draft: 10 tips", "SEO title"),
        (3, writer.id, "Draft: 10 tips", ""),
    ]
    seo.refresh_from_db()
    assert seo.total_revisions == 1


def test_revising_someone_elses_article_needs_the_revise_scope(site, writer):
    article = submit(writer)
    reader = AgentFactory(id="reader")  # article:read, no article:revise
    with pytest.raises(Forbidden, match="only its submitter or an agent with the scope article:revise"):
        services.article_revise(agent=reader, article_id=article.pk, title="Mine now")
    assert Article.objects.get(pk=article.pk).title == "Hello"


def test_without_read_scope_others_articles_do_not_exist(site, writer):
    article = submit(writer)
    blind = AgentFactory(id="blind", scopes=["article:submit", "article:revise"])
    with pytest.raises(ArticleNotFound):
        services.article_revise(agent=blind, article_id=article.pk, title="x")


def test_a_revision_that_changes_nothing_is_refused(site, writer):
    article = submit(writer)
    with pytest.raises(Exception, match="the revision changes nothing"):
        services.article_revise(agent=writer, article_id=article.pk, title="Hello")


def test_approving_a_revision_the_reviewer_did_not_see_is_refused(site, writer, person):
    article = submit(writer)
    services.article_revise(agent=writer, article_id=article.pk, title="Changed")
    with pytest.raises(ArticleChanged, match="is at revision 2, not 1"):
        services.article_approve(actor=person, article_id=article.pk, expected_revision=1)
    approved = services.article_approve(actor=person, article_id=article.pk, expected_revision=2)
    assert approved.status == S.PUBLISHING


def test_approving_for_an_inactive_site_is_refused(site, writer, person):
    article = submit(writer)
    site.is_active = False
    site.save()
    with pytest.raises(Exception, match="site 'tech-blog' is inactive"):
        services.article_approve(actor=person, article_id=article.pk, expected_revision=1)
