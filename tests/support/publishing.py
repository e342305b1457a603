"""Articles on their way to WordPress, for the publishing tests: submitted by an agent, approved by a reviewer,
and their publish task run in this process."""

from __future__ import annotations

from agents.actors import Actor
from agents.models import Agent
from articles import services, tasks
from articles.models import Article
from tests.factories import UserFactory


def approved(writer: Agent, title: str = "Post", **fields) -> Article:
    """An article of `writer` (its `fields` as submit_article takes them; the default site unless
    `target_site`) approved at revision 1; its publish task runs when the test says (`publish`), unless
    Celery is eager."""
    article = services.article_submit(agent=writer, title=title, content_markdown="Body", **fields)
    services.article_approve(actor=Actor(user=UserFactory()), article_id=article.pk, expected_revision=1)
    return Article.objects.get(pk=article.pk)


def publish(article: Article) -> str:
    """Run the article's publish task here, as a worker would; what the task returned."""
    return tasks.publish_article.apply(args=(article.pk,)).get()
