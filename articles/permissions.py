"""Who may do what to an article: the read, revise, review and retry rules, in one place for every entry
point (the services enforce them; the selectors use the same visibility).

People reaching the console, the API or the admin are reviewers and may see and review everything. Agents
see their own articles, or every one with article:read; an article an agent may not see does not exist
for it (ArticleNotFound, never Forbidden, so that ids are not probed)."""

from __future__ import annotations

from django.db.models import QuerySet

from agents.actors import Actor
from agents.models import Agent
from articles.exceptions import ArticleNotFound
from articles.models import Article, ArticleRevision
from core.exceptions import Forbidden
from core.scopes import Scope


def scope_require(agent: Agent, scope: Scope) -> None:
    if not agent.has_scope(scope):
        raise Forbidden(f"agent {agent.id} lacks the scope {scope}", field="scope")


def article_visible_to(*, agent: Agent | None) -> QuerySet[Article]:
    """Articles a caller may see: everything for reviewers (agent None) and agents holding article:read,
    else only the agent's own."""
    if agent is None or agent.has_scope(Scope.READ):
        return Article.objects.all()
    return Article.objects.filter(submitting_agent_id=agent.id)


def article_is_visible(*, agent: Agent | None, article: Article) -> bool:
    """The same rule for an article already read."""
    return agent is None or agent.has_scope(Scope.READ) or article.submitting_agent_id == agent.id


def article_for_agent(*, agent: Agent, article_id: int) -> Article:
    """The article, if this agent may see it."""
    articles = article_visible_to(agent=agent).select_related("target_site", "submitting_agent")
    article = articles.filter(pk=article_id).first()
    if article is None:
        raise ArticleNotFound(article_id)
    return article


def article_revise_check(*, agent: Agent, article: Article) -> None:
    """Its submitter revises an article; another agent needs article:revise."""
    if article.submitting_agent_id != agent.id and not agent.has_scope(Scope.REVISE):
        raise Forbidden(
            f"agent {agent.id} may not revise article {article.pk}: only its submitter or an agent with "
            f"the scope {Scope.REVISE} can",
            field="scope",
        )


def article_for_review(*, actor: Actor, article_id: int, action: str) -> Article:
    """The article `actor` may approve or reject (`action`): any, for a person; for an agent, one it may
    see, holding article:review, and never its own."""
    if actor.agent is None:
        article = Article.objects.select_related("target_site").filter(pk=article_id).first()
        if article is None:
            raise ArticleNotFound(article_id)
        return article
    scope_require(actor.agent, Scope.REVIEW)
    article = article_for_agent(agent=actor.agent, article_id=article_id)
    if article.submitting_agent_id == actor.agent.id:
        raise Forbidden(f"agent {actor.agent.id} cannot {action} its own article {article.pk}", field="article_id")
    return article


def revision_approve_check(*, actor: Actor, article: Article) -> None:
    """An agent never approves a revision it wrote: someone else must have read that text."""
    if actor.agent is None:
        return
    author = (
        ArticleRevision.objects.filter(article=article, number=article.revision_number)
        .values_list("agent_id", flat=True)
        .first()
    )
    if author == actor.agent.id:
        raise Forbidden(
            f"agent {actor.agent.id} wrote revision {article.revision_number} of article {article.pk}; "
            "an agent never approves a revision it wrote: another reviewer must approve it",
            field="article_id",
        )


def article_for_retry(*, actor: Actor, article_id: int) -> Article:
    """A failed publish is retried by a person, the submitting agent, or an agent with article:review."""
    if actor.agent is None:
        article = Article.objects.filter(pk=article_id).first()
        if article is None:
            raise ArticleNotFound(article_id)
        return article
    article = article_for_agent(agent=actor.agent, article_id=article_id)
    if article.submitting_agent_id != actor.agent.id:
        scope_require(actor.agent, Scope.REVIEW)
    return article
