from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from agents.actors import Actor
from agents.models import Agent
from articles.models import Article, ArticleRevision
from core.cache import ACTIVE_SITES_KEY, agent_config_key, process_cache
from sites.models import Site


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"reviewer{n}")
    is_staff = True


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    id = factory.Sequence(lambda n: f"agent-{n:03d}")
    name = factory.LazyAttribute(lambda a: f"Agent {a.id}")
    role = "content-creator"
    scopes = factory.LazyFunction(lambda: ["article:submit", "article:read"])

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        agent = super()._create(model_class, *args, **kwargs)
        process_cache().delete(agent_config_key(agent.id))  # as the config sync does, on commit
        return agent


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    id = factory.Sequence(lambda n: f"site-{n}")
    name = factory.LazyAttribute(lambda s: f"Site {s.id}")
    api_url = factory.LazyAttribute(lambda s: f"http://127.0.0.1:9/{s.id}/wp-json/wp/v2")
    username = "publisher"
    position = factory.Sequence(int)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        site = super()._create(model_class, *args, **kwargs)
        process_cache().delete(ACTIVE_SITES_KEY)  # as the config sync does, on commit
        return site


class ArticleFactory(factory.django.DjangoModelFactory):
    """An article row as the services would leave it; workflow tests go through the services instead."""

    class Meta:
        model = Article
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Article {n}")
    content_markdown = "Some **text**."
    content_html = "<p>Some <strong>text</strong>.</p>"
    submitting_agent = factory.SubFactory(AgentFactory)
    target_site = factory.SubFactory(SiteFactory)
    content_hash = factory.Sequence(lambda n: f"{n:064x}")

    @factory.post_generation
    def first_revision(self, create, extracted, **kwargs):
        if create:
            ArticleRevision.objects.create(
                article=self,
                number=1,
                title=self.title,
                content_markdown=self.content_markdown,
                content_hash=self.content_hash,
                agent=self.submitting_agent,
            )


# Who acts in a test that calls a service directly, as a command would.
TEST_ACTOR = Actor(system="tests")
