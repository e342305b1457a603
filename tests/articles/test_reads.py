"""The reads agents make most: an article's status (one query, nothing else loaded) and rendering."""

from __future__ import annotations

import pytest

from articles import selectors, services
from articles.exceptions import ArticleNotFound
from articles.rendering import markdown_render
from articles.serializers import article_status
from tests.factories import AgentFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def article():
    SiteFactory(id="blog")
    writer = AgentFactory(id="writer", scopes=["article:submit"])
    return services.article_submit(agent=writer, title="Status", content_markdown="Body", tags=["a"])


def test_a_status_read_is_one_query_with_everything_the_status_shows(article, django_assert_num_queries):
    expected = article_status(selectors.article_get(article_id=article.pk))
    with django_assert_num_queries(1):
        status = article_status(selectors.article_status_get(article_id=article.pk))
    assert status == expected
    assert status["status"] == "pending_review" and status["tags"] == ["a"]


def test_a_status_read_sees_only_what_the_agent_may_see(article):
    other = AgentFactory(id="other", scopes=["article:submit"])
    with pytest.raises(ArticleNotFound):
        selectors.article_status_get(article_id=article.pk, agent=other)
    reader = AgentFactory(id="reader", scopes=["article:read"])
    assert selectors.article_status_get(article_id=article.pk, agent=reader).pk == article.pk
    assert selectors.article_status_get(article_id=article.pk, agent=article.submitting_agent).pk == article.pk
    with pytest.raises(ArticleNotFound):
        selectors.article_status_get(article_id=article.pk + 1000, agent=reader)


def test_one_article_s_footnotes_never_appear_in_the_next():
    first = markdown_render("Text[^1]\n\n[^1]: A footnote of the first article.")
    second = markdown_render("Plain text.")
    assert "footnote of the first" in first
    assert "footnote" not in second and second == "<p>Plain text.</p>"
