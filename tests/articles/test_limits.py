"""Every input limit of submit and revise: a clear error naming the field and the limit, nothing written."""

from __future__ import annotations

import pytest

from agents.models import Agent
from articles import services
from articles.models import Article, ArticleRevision
from audit.models import AuditLog
from core.exceptions import DomainError, Forbidden, ValidationFailed
from sites.exceptions import SiteNotFound
from tests.factories import AgentFactory, SiteFactory

pytestmark = pytest.mark.django_db

GOOD = {"title": "A title", "content_markdown": "Body"}


@pytest.fixture
def writer():
    SiteFactory(id="tech-blog")
    SiteFactory(id="personal-blog")
    return AgentFactory(id="writer")


def rows() -> tuple[int, int, int, int]:
    submitted = sum(Agent.objects.values_list("total_articles_submitted", flat=True))
    return Article.objects.count(), ArticleRevision.objects.count(), AuditLog.objects.count(), submitted


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": ""}, "title", "title must be 1 to 200 characters (got 0)"),
        ({"title": "   "}, "title", "title must be 1 to 200 characters (got 0)"),
        ({"title": "x" * 201}, "title", "title must be 1 to 200 characters (got 201)"),
        ({"title": 5}, "title", "title must be a string"),
        ({"content_markdown": ""}, "content_markdown", "content_markdown must not be empty"),
        ({"content_markdown": " \n "}, "content_markdown", "content_markdown must not be empty"),
        (
            {"content_markdown": "x" * (256 * 1024 + 1)},
            "content_markdown",
            "content_markdown is 262145 bytes; the limit is 262144 bytes",
        ),
        (
            {"content_markdown": "é" * (128 * 1024 + 1)},  # 2 bytes each: the limit is in bytes
            "content_markdown",
            "content_markdown is 262146 bytes; the limit is 262144 bytes",
        ),
        ({"tags": [f"t{i}" for i in range(21)]}, "tags", "at most 20 tags (got 21)"),
        ({"tags": ",".join(f"t{i}" for i in range(21))}, "tags", "at most 20 tags (got 21)"),
        ({"tags": ["x" * 51]}, "tags", "tag 'xxxxxxxxxxxxxxxxxxxx…' is 51 characters; the limit is 50"),
        ({"tags": [1, 2]}, "tags", "tags must be a list of strings or a comma-separated string"),
        ({"tags": ["a"] * 20_000}, "tags", "at most 20 tags (got 20000)"),
        ({"tags": ",".join(["dup"] * 21)}, "tags", "at most 20 tags (got 21)"),
        (
            {"tags": ["ok", "<b>bold</b>"]},
            "tags",
            "tags must be plain text: '<' in '<b>bold</b>' is not allowed (WordPress strips markup, control "
            "characters and %-escapes from category and tag names)",
        ),
        ({"category": "c" * 101}, "category", "category must be at most 100 characters (got 101)"),
        (
            {"category": "<svg onload=alert(1)>"},
            "category",
            "category must be plain text: '<' in '<svg onload=alert(1)>' is not allowed (WordPress strips markup, "
            "control characters and %-escapes from category and tag names)",
        ),
        (
            {"category": "News%20today"},
            "category",
            "category must be plain text: '%20' in 'News%20today' is not allowed (WordPress strips markup, "
            "control characters and %-escapes from category and tag names)",
        ),
        (
            {"agent_metadata": ["not", "an", "object"]},
            "agent_metadata",
            "agent_metadata must be a JSON object",
        ),
        (
            {"agent_metadata": {"blob": "x" * (16 * 1024)}},
            "agent_metadata",
            "agent_metadata is 16396 bytes; the limit is 16384 bytes",
        ),
    ],
)
def test_limits_name_the_field_and_write_nothing(writer, fields, field, message):
    before = rows()
    with pytest.raises(ValidationFailed) as raised:
        services.article_submit(agent=writer, **{**GOOD, **fields})
    assert (raised.value.field, raised.value.message, raised.value.code) == (
        field,
        message,
        "VALIDATION_ERROR",
    )
    assert rows() == before


def test_values_at_the_limits_are_accepted(writer):
    article = services.article_submit(
        agent=writer,
        title="x" * 200,
        content_markdown="x" * (256 * 1024),
        tags=[f"{i:02d}" + "t" * 48 for i in range(20)],
        category="c" * 100,
        agent_metadata={"blob": "x" * (16 * 1024 - 12)},
    )
    assert len(article.tags) == 20


def test_content_limit_follows_system_yml(loaded_config, writer):
    loaded_config(
        agents=[{"id": "writer", "name": "W", "role": "r", "api_key": "k" * 8 + "abcdefghijklmnopqrstuvwxyz"}],
        sites=[
            {
                "id": "tech-blog",
                "name": "T",
                "api_url": "http://127.0.0.1:9/wp-json/wp/v2",
                "username": "u",
                "app_password": "p" * 24,
            }
        ],
        system={"limits": {"max_content_bytes": 1000, "max_tags": 2}},
    )
    writer.refresh_from_db()
    with pytest.raises(ValidationFailed, match="content_markdown is 1001 bytes; the limit is 1000 bytes"):
        services.article_submit(agent=writer, title="t", content_markdown="x" * 1001)
    with pytest.raises(ValidationFailed, match=r"at most 2 tags \(got 3\)"):
        services.article_submit(agent=writer, title="t", content_markdown="x", tags="a,b,c")


@pytest.mark.parametrize(
    ("target_site", "error", "message"),
    [
        ("nope", SiteNotFound, "site 'nope' is not configured"),
        ("old-blog", SiteNotFound, "site 'old-blog' is inactive"),
        (
            "personal-blog",
            Forbidden,
            "agent writer may not publish to site 'personal-blog' (allowed: tech-blog)",
        ),
        (7, ValidationFailed, "target_site must be a site id string"),
    ],
)
def test_target_site_must_exist_be_active_and_be_allowed(writer, target_site, error, message):
    SiteFactory(id="old-blog", is_active=False)
    writer.allowed_sites = ["tech-blog"]
    writer.save()
    before = rows()
    with pytest.raises(error) as raised:
        services.article_submit(agent=writer, target_site=target_site, **GOOD)
    assert raised.value.message == message
    assert raised.value.field == "target_site"
    assert rows() == before


def test_default_site_is_the_marked_default_else_the_first(writer):
    assert services.article_submit(agent=writer, **GOOD).target_site_id == "tech-blog"
    SiteFactory(id="main", is_default=True)
    assert services.article_submit(agent=writer, **GOOD).target_site_id == "main"
    writer.allowed_sites = ["personal-blog"]
    writer.save()
    assert services.article_submit(agent=writer, **GOOD).target_site_id == "personal-blog"


def test_submitting_needs_the_submit_scope(writer):
    reviewer_only = AgentFactory(id="ro", scopes=["article:read", "article:review"])
    with pytest.raises(Forbidden, match="agent ro lacks the scope article:submit"):
        services.article_submit(agent=reviewer_only, **GOOD)


def test_a_bad_revision_changes_nothing(writer):
    article = services.article_submit(agent=writer, **GOOD)
    before = rows()
    with pytest.raises(DomainError, match="at most 20 tags"):
        services.article_revise(agent=writer, article_id=article.pk, title="New", tags=[str(i) for i in range(30)])
    article.refresh_from_db()
    assert (article.title, article.revision_number) == ("A title", 1)
    assert rows() == before


def test_reject_needs_a_reason(writer):
    from agents.actors import Actor
    from tests.factories import UserFactory

    article = services.article_submit(agent=writer, **GOOD)
    with pytest.raises(ValidationFailed, match="rejection_reason is required"):
        services.article_reject(actor=Actor(user=UserFactory()), article_id=article.pk, rejection_reason="  ")


@pytest.mark.parametrize("field", ["title", "content_markdown", "category", "tags"])
def test_nul_characters_are_refused_by_name(writer, field):
    values = {**GOOD, field: "bad\x00value" if field != "tags" else ["ok", "bad\x00tag"]}
    with pytest.raises(ValidationFailed, match=f"{field} must not contain NUL characters"):
        services.article_submit(agent=writer, **values)


def test_list_articles_refuses_nul_and_absurd_offsets(writer):
    from articles.selectors import article_list

    with pytest.raises(ValidationFailed, match="search must not contain NUL characters"):
        article_list(search="a\x00b")
    with pytest.raises(ValidationFailed, match=r"offset must be 0 to 1000000 \(got 9223372036854775808\)"):
        article_list(offset=2**63)
