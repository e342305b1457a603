"""The MCP tools: each a thin adapter over a service or selector, run by mcp_bridge.calls as the calling agent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from agents.actors import Actor
from agents.selectors import agent_list, connected_agent_ids
from agents.serializers import agent_summary
from articles import selectors as article_selectors
from articles import services as article_services
from articles.idempotency import article_write_idempotent
from articles.models import Article
from articles.selectors import LIST_LIMIT_MAX, OFFSET_MAX, agent_stats
from articles.serializers import article_status, article_summary
from articles.services.validation import CATEGORIES_MAX, EXCERPT_MAX, PUBLISH_AT_RULE, SLUG_RULE
from core.params import DB_INT_MAX
from mcp_bridge.calls import content_tool_call, tool_call
from mcp_bridge.identity import current_agent
from mcp_bridge.selectors import article_with_revisions
from sites.selectors import site_health, site_list
from sites.serializers import site_summary

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

Tags = Annotated[
    str | list[str] | None,
    Field(description="Tags: a list, or one comma-separated string; at most 20 of at most 50 characters"),
]
ArticleId = Annotated[int, Field(ge=1, le=DB_INT_MAX, description="The article id returned by submit_article")]
IdempotencyKeyArg = Annotated[
    str | None,
    Field(
        description="Optional: any unique string of yours (a UUID). Sending the same request again with the "
        "same key within 24 h returns the first result instead of writing twice: use it to retry safely "
        "when an answer was lost. Reusing a key for a different request is refused."
    ),
]
SLUG_HELP = f"The post's URL slug: {SLUG_RULE} (WordPress adds -2 when another post has it)"
EXCERPT_HELP = f"The post's excerpt: plain text, at most {EXCERPT_MAX} characters"
CATEGORIES_HELP = f"Category names, at most {CATEGORIES_MAX} (give this or category, not both)"
POST_STATUS_HELP = (
    "The WordPress status of the post: publish, draft, pending or private, as the site's allowed_statuses permit"
)
PUBLISH_AT_HELP = (
    f"When the post goes public: {PUBLISH_AT_RULE}, in the future. Approved before then, it is published "
    "as a scheduled (future) post; get_article_status shows it as scheduled_for"
)
StatusName = Literal["pending_review", "publishing", "published", "publish_failed", "rejected"]


def _write(
    write: Callable[..., Article], idempotency_key: str | None, *, review: bool = False, **arguments: Any
) -> Article:
    """A write service as the calling agent (as its `actor` when `review`), once per idempotency key."""
    agent = current_agent()
    actor = {"actor": Actor(agent=agent)} if review else {"agent": agent}
    return article_write_idempotent(owner=agent, key=idempotency_key, write=write, arguments={**actor, **arguments})


def tools_register(server: MCPServer) -> None:
    @server.tool(annotations=WRITES)
    @content_tool_call
    def submit_article(
        title: Annotated[str, Field(description="1 to 200 characters")],
        content_markdown: Annotated[str, Field(description="The article in Markdown; at most 256 KiB by default")],
        tags: Tags = None,
        category: Annotated[str | None, Field(description="Category name; the site's default when absent")] = None,
        target_site: Annotated[
            str | None, Field(description="Site id (see list_sites); the default site when absent")
        ] = None,
        agent_metadata: Annotated[
            dict[str, Any] | None, Field(description="Any JSON object about the submission, at most 16 KiB")
        ] = None,
        slug: Annotated[str | None, Field(description=f"{SLUG_HELP}; absent: WordPress's slug of the title")] = None,
        excerpt: Annotated[str | None, Field(description=EXCERPT_HELP)] = None,
        categories: Annotated[
            list[str] | None, Field(description=f"{CATEGORIES_HELP}; absent: the site's default category")
        ] = None,
        status: Annotated[
            str | None, Field(description=f"{POST_STATUS_HELP}; absent: the site's publishing.default_status")
        ] = None,
        publish_at: Annotated[str | None, Field(description=PUBLISH_AT_HELP)] = None,
        idempotency_key: IdempotencyKeyArg = None,
    ) -> dict[str, Any]:
        """Submit a new article for review. It waits in pending_review until a reviewer approves it."""
        article = _write(
            article_services.article_submit,
            idempotency_key,
            title=title,
            content_markdown=content_markdown,
            tags=tags,
            category=category,
            target_site=target_site,
            agent_metadata=agent_metadata,
            slug=slug,
            excerpt=excerpt,
            categories=categories,
            status=status,
            publish_at=publish_at,
        )
        return article_status(article)

    @server.tool(annotations=READ_ONLY)
    @tool_call
    def list_articles(
        status: StatusName | None = None,
        agent_id: Annotated[str | None, Field(description="Only articles submitted by this agent")] = None,
        target_site: Annotated[str | None, Field(description="Only articles for this site")] = None,
        search: Annotated[str | None, Field(description="Text in the title or body")] = None,
        limit: Annotated[int, Field(ge=1, le=LIST_LIMIT_MAX, description="Articles in the answer")] = 50,
        offset: Annotated[int, Field(ge=0, le=OFFSET_MAX, description="Articles to skip, for paging")] = 0,
    ) -> dict[str, Any]:
        """List articles, newest first. Without the article:read scope an agent sees only its own."""
        articles = article_selectors.article_list(
            agent=current_agent(),
            status=status,
            agent_id=agent_id,
            target_site=target_site,
            search=search,
            limit=limit,
            offset=offset,
        )
        return {"articles": [article_summary(a) for a in articles], "limit": limit, "offset": offset}

    @server.tool(annotations=READ_ONLY)
    @tool_call
    def get_article_status(article_id: ArticleId) -> dict[str, Any]:
        """The status of an article: review outcome, publishing progress, errors, WordPress link."""
        article = article_selectors.article_status_get(article_id=article_id, agent=current_agent())
        return article_status(article)

    @server.tool(annotations=READ_ONLY)
    @tool_call
    def get_article(article_id: ArticleId) -> dict[str, Any]:
        """An article with its Markdown, the sanitized HTML WordPress will receive, and its revisions."""
        return article_with_revisions(article_id=article_id, agent=current_agent())

    @server.tool(annotations=WRITES)
    @content_tool_call
    def revise_article(
        article_id: ArticleId,
        title: str | None = None,
        content_markdown: str | None = None,
        tags: Tags = None,
        category: str | None = None,
        note: Annotated[str | None, Field(description="What changed and why (kept with the revision)")] = None,
        slug: Annotated[
            str | None, Field(description=f'{SLUG_HELP}; absent keeps it; "" goes back to the slug of the title')
        ] = None,
        excerpt: Annotated[str | None, Field(description=f'{EXCERPT_HELP}; absent keeps it; "" removes it')] = None,
        categories: Annotated[
            list[str] | None, Field(description=f"{CATEGORIES_HELP}; absent keeps them; [] for the site's default")
        ] = None,
        status: Annotated[
            str | None, Field(description=f'{POST_STATUS_HELP}; absent keeps it; "" for the site\'s default')
        ] = None,
        publish_at: Annotated[
            str | None, Field(description=f'{PUBLISH_AT_HELP}; absent keeps it; "" publishes at once')
        ] = None,
        idempotency_key: IdempotencyKeyArg = None,
    ) -> dict[str, Any]:
        """Write a new revision of a pending article: your own, or any with the article:revise scope.
        Fields left out keep their value."""
        _write(
            article_services.article_revise,
            idempotency_key,
            article_id=article_id,
            title=title,
            content_markdown=content_markdown,
            tags=tags,
            category=category,
            note=note,
            slug=slug,
            excerpt=excerpt,
            categories=categories,
            status=status,
            publish_at=publish_at,
        )
        return article_with_revisions(article_id=article_id, agent=current_agent())

    @server.tool(annotations=WRITES)
    @tool_call
    def approve_article(
        article_id: ArticleId,
        expected_revision: Annotated[
            int,
            Field(
                description="The revision you reviewed: `revision` in get_article. A later revision refuses the "
                "approval (INVALID_TRANSITION); read the article again"
            ),
        ],
        reviewer_notes: str | None = None,
        idempotency_key: IdempotencyKeyArg = None,
    ) -> dict[str, Any]:
        """Approve another agent's pending article for publishing, at the revision you reviewed (needs the
        article:review scope). An agent never approves a revision it wrote."""
        article = _write(
            article_services.article_approve,
            idempotency_key,
            review=True,
            article_id=article_id,
            expected_revision=expected_revision,
            notes=reviewer_notes,
        )
        return article_status(article)

    @server.tool(annotations=WRITES)
    @tool_call
    def reject_article(
        article_id: ArticleId, rejection_reason: str, idempotency_key: IdempotencyKeyArg = None
    ) -> dict[str, Any]:
        """Reject another agent's pending article with a reason (needs the article:review scope)."""
        article = _write(
            article_services.article_reject,
            idempotency_key,
            review=True,
            article_id=article_id,
            rejection_reason=rejection_reason,
        )
        return article_status(article)

    @server.tool(annotations=WRITES)
    @tool_call
    def retry_publish(article_id: ArticleId, idempotency_key: IdempotencyKeyArg = None) -> dict[str, Any]:
        """Publish a publish_failed article again (its submitter, or an agent with article:review)."""
        article = _write(article_services.article_retry_publish, idempotency_key, review=True, article_id=article_id)
        return article_status(article)

    @server.tool(annotations=READ_ONLY)
    @tool_call
    def list_agents(include_inactive: bool = False) -> dict[str, Any]:
        """The configured agents: role, scopes, whether connected now, counters."""
        connected = connected_agent_ids()
        agents = agent_list(include_inactive=include_inactive)
        return {"agents": [agent_summary(a, connected=a.id in connected) for a in agents]}

    @server.tool(annotations=READ_ONLY)
    @tool_call
    def list_sites(include_inactive: bool = False) -> dict[str, Any]:
        """The WordPress sites articles can target, with their health."""
        return {"sites": [site_summary(s) for s in site_list(include_inactive=include_inactive)]}

    @server.tool(annotations=READ_ONLY)
    @tool_call
    def get_agent_stats(
        agent_id: Annotated[str | None, Field(description="Defaults to the calling agent")] = None,
    ) -> dict[str, Any]:
        """Counters of an agent: submitted, revised, approved, rejected, published, articles by status."""
        return agent_stats(agent_id=agent_id or current_agent().id)

    @server.tool(annotations=READ_ONLY)
    @tool_call
    def get_site_health(site_id: str) -> dict[str, Any]:
        """The last health check of a site: healthy, warning or error, latency and message."""
        return site_health(site_id=site_id)
