"""The article selectors behind the console: the revision pair of a diff, the failed publishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from articles.models import Article, ArticleRevision, ArticleStatus
from articles.selectors import article_publish_failed_list, article_revision_pair
from tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db


def test_the_revision_pair_comes_in_the_order_asked():
    article = ArticleFactory(title="First")
    ArticleRevision.objects.create(
        article=article, number=2, title="Second", content_markdown="x", content_hash="b" * 64
    )
    before, after = article_revision_pair(article=article, first=2, second=1)
    assert (before.number, before.title, after.number, after.title) == (2, "Second", 1, "First")


def test_no_pair_when_a_revision_does_not_exist():
    article = ArticleFactory()
    other = ArticleFactory()
    ArticleRevision.objects.create(article=other, number=2, title="Other", content_markdown="x", content_hash="c" * 64)
    assert article_revision_pair(article=article, first=1, second=2) is None
    assert article_revision_pair(article=article, first=3, second=1) is None


def test_failed_publishes_are_listed_by_last_change_newest_first():
    start = datetime(2024, 5, 1, tzinfo=UTC)
    failed = [ArticleFactory(status=ArticleStatus.PUBLISH_FAILED) for _ in range(3)]
    ArticleFactory(status=ArticleStatus.PUBLISHED)
    for n, article in enumerate(failed):
        Article.objects.filter(pk=article.pk).update(updated_at=start + timedelta(hours=[2, 0, 1][n]))
    assert [a.pk for a in article_publish_failed_list(limit=20)] == [failed[0].pk, failed[2].pk, failed[1].pk]
    assert [a.pk for a in article_publish_failed_list(limit=1)] == [failed[0].pk]
