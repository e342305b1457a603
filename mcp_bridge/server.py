"""The MCP server: every tool, resource and prompt of the design, as thin adapters over the services
and selectors. The MCP SDK is imported only inside mcp_bridge.

Tools are written as plain (sync) functions, since they use the Django ORM. `_tool_call` makes each an
async tool for the SDK that runs on the MCP threads (mcp_bridge.threads) as the calling agent: it finds
the agent, applies its rate limit and turns domain errors into `ToolError`s that carry a stable code
("VALIDATION_ERROR: title must be ..."). Arguments are read strictly, unknown ones refused, and the SDK's
own refusals start with their code too (mcp_bridge.arguments.StrictMCPServer).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, ToolAnnotations
from pydantic import Field

from agents.actors import Actor
from agents.exceptions import AuthFailed
from agents.models import Agent
from agents.selectors import agent_config_get, agent_get, agent_list, connected_agent_ids
from agents.serializers import agent_summary, weekly_report
from agents.services import agent_authenticate
from agents.throttling import agent_request_allow
from articles import selectors as article_selectors
from articles import services as article_services
from articles.idempotency import article_write_idempotent
from articles.models import Article
from articles.permissions import scope_require
from articles.selectors import LIST_LIMIT_MAX, OFFSET_MAX, agent_stats, system_metrics
from articles.serializers import article_detail, article_status, article_summary
from audit.selectors import audit_log_list
from audit.serializers import audit_entry
from core.exceptions import DomainError
from core.params import DB_INT_MAX, int_parse
from core.scopes import Scope
from core.version import __version__
from mcp_bridge.arguments import StrictMCPServer
from mcp_bridge.identity import authenticated_request, request_agent
from mcp_bridge.metrics import MCP_TOOL_CALLS
from mcp_bridge.prompts import agent_specialization_guide_text, multi_agent_workflow_text
from mcp_bridge.selectors import config_agents, config_sites, system_event_list
from mcp_bridge.threads import run_sync, run_sync_content
from sites.selectors import site_get, site_health, site_list
from sites.serializers import site_summary

_F = TypeVar("_F", bound=Callable[..., Any])
_current_agent: ContextVar[Agent | None] = ContextVar("mcp_current_agent", default=None)

AUDIT_PAGE_SIZE = 50
AUDIT_PAGE_MAX = DB_INT_MAX // AUDIT_PAGE_SIZE - 1  # its rows' offset stays within a 64-bit integer
INSTRUCTIONS = (
    "wpublisher is a review-gated gateway to WordPress sites. Submit Markdown articles with submit_article; "
    "a person (or an agent holding article:review) approves or rejects them, and approved articles are "
    "published by background workers. Poll get_article_status to follow an article. Errors start with a "
    "stable code such as VALIDATION_ERROR or FORBIDDEN."
)


class StdioIdentity:
    """Who a stdio server acts for: an agent id (trusted local launch) or a key checked on every call."""

    agent_id: str | None = None
    token: str | None = None


stdio_identity = StdioIdentity()


def current_agent() -> Agent:
    agent = _current_agent.get()
    if agent is None:
        raise AuthFailed("no agent in this context")
    return agent


def _resolve_caller() -> Agent:
    access = get_access_token()
    if access is not None:
        box = request_agent.get()
        if box is not None and box[0] is not None and box[0].id == access.client_id:
            return box[0]  # authenticated by the gateway for this very request
        # Else the call runs in a session that outlived the request that opened it (SSE): read the agent's
        # current scopes and state (cached, and invalidated when they change).
        agent = agent_config_get(agent_id=access.client_id)
        if agent is None:
            raise AuthFailed("agent inactive")
        return agent
    if stdio_identity.token:
        return agent_authenticate(token=stdio_identity.token)
    if stdio_identity.agent_id:
        return agent_get(agent_id=stdio_identity.agent_id, include_inactive=False)
    raise AuthFailed("no credentials")


def _error_text(error: DomainError) -> str:
    return f"{error.code}: {error.message}"


def _tool_call(fn: _F, *, run: Callable[..., Any] = run_sync) -> _F:
    """The tool as the SDK sees it: async, running `fn` on the MCP threads as the calling agent."""

    def call(*args: Any, **kwargs: Any) -> Any:
        outcome = "error"
        try:
            agent = _resolve_caller()
            agent_request_allow(agent_id=agent.id)
            token = _current_agent.set(agent)
            try:
                result = fn(*args, **kwargs)
                outcome = "ok"
                return result
            finally:
                _current_agent.reset(token)
        except DomainError as error:
            outcome = error.code
            raise ToolError(_error_text(error)) from None
        finally:
            MCP_TOOL_CALLS.labels(fn.__name__, outcome).inc()

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await run(call, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _content_tool_call(fn: _F) -> _F:
    """`_tool_call` for the tools that render Markdown: they run in the bounded content lane
    (mcp_bridge.threads.run_sync_content), so a flood of them never holds every MCP thread."""
    return _tool_call(fn, run=run_sync_content)


def _resource_read(fn: _F) -> _F:
    """The resource as the SDK sees it: read on the MCP threads as the calling agent, counted against its
    rate limit like a tool call."""

    def read(*args: Any, **kwargs: Any) -> str:
        try:
            agent = _resolve_caller()
            agent_request_allow(agent_id=agent.id)
            token = _current_agent.set(agent)
            try:
                return json.dumps(fn(*args, **kwargs), ensure_ascii=False, default=str)
            finally:
                _current_agent.reset(token)
        except DomainError as error:
            raise ResourceError(_error_text(error)) from None

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> str:
        return await run_sync(read, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
WRITES = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)

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
StatusName = Literal["pending_review", "publishing", "published", "publish_failed", "rejected"]


def _agent_dict(agent: Agent) -> dict[str, Any]:
    return agent_summary(agent, connected=agent.id in connected_agent_ids())


def _article_detail(article_id: int) -> dict[str, Any]:
    article = article_selectors.article_get(article_id=article_id, agent=current_agent())
    return article_detail(article, list(article_selectors.article_revision_list(article=article)))


def _write(
    write: Callable[..., Article], idempotency_key: str | None, *, review: bool = False, **arguments: Any
) -> Article:
    """A write service as the calling agent (as its `actor` when `review`), once per idempotency key."""
    agent = current_agent()
    actor = {"actor": Actor(agent=agent)} if review else {"agent": agent}
    return article_write_idempotent(owner=agent, key=idempotency_key, write=write, arguments={**actor, **arguments})


def _register_tools(server: MCPServer) -> None:
    @server.tool(annotations=WRITES)
    @_content_tool_call
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
        )
        return article_status(article)

    @server.tool(annotations=READ_ONLY)
    @_tool_call
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
    @_tool_call
    def get_article_status(article_id: ArticleId) -> dict[str, Any]:
        """The status of an article: review outcome, publishing progress, errors, WordPress link."""
        article = article_selectors.article_status_get(article_id=article_id, agent=current_agent())
        return article_status(article)

    @server.tool(annotations=READ_ONLY)
    @_tool_call
    def get_article(article_id: ArticleId) -> dict[str, Any]:
        """An article with its Markdown, the sanitized HTML WordPress will receive, and its revisions."""
        return _article_detail(article_id)

    @server.tool(annotations=WRITES)
    @_content_tool_call
    def revise_article(
        article_id: ArticleId,
        title: str | None = None,
        content_markdown: str | None = None,
        tags: Tags = None,
        category: str | None = None,
        note: Annotated[str | None, Field(description="What changed and why (kept with the revision)")] = None,
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
        )
        return _article_detail(article_id)

    @server.tool(annotations=WRITES)
    @_tool_call
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
    @_tool_call
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
    @_tool_call
    def retry_publish(article_id: ArticleId, idempotency_key: IdempotencyKeyArg = None) -> dict[str, Any]:
        """Publish a publish_failed article again (its submitter, or an agent with article:review)."""
        article = _write(article_services.article_retry_publish, idempotency_key, review=True, article_id=article_id)
        return article_status(article)

    @server.tool(annotations=READ_ONLY)
    @_tool_call
    def list_agents(include_inactive: bool = False) -> dict[str, Any]:
        """The configured agents: role, scopes, whether connected now, counters."""
        connected = connected_agent_ids()
        agents = agent_list(include_inactive=include_inactive)
        return {"agents": [agent_summary(a, connected=a.id in connected) for a in agents]}

    @server.tool(annotations=READ_ONLY)
    @_tool_call
    def list_sites(include_inactive: bool = False) -> dict[str, Any]:
        """The WordPress sites articles can target, with their health."""
        return {"sites": [site_summary(s) for s in site_list(include_inactive=include_inactive)]}

    @server.tool(annotations=READ_ONLY)
    @_tool_call
    def get_agent_stats(
        agent_id: Annotated[str | None, Field(description="Defaults to the calling agent")] = None,
    ) -> dict[str, Any]:
        """Counters of an agent: submitted, revised, approved, rejected, published, articles by status."""
        return agent_stats(agent_id=agent_id or current_agent().id)

    @server.tool(annotations=READ_ONLY)
    @_tool_call
    def get_site_health(site_id: str) -> dict[str, Any]:
        """The last health check of a site: healthy, warning or error, latency and message."""
        return site_health(site_id=site_id)


def _register_resources(server: MCPServer) -> None:
    json_type = "application/json"

    @server.resource("agent://list", mime_type=json_type, description="Every active agent and its status")
    @_resource_read
    def agents_resource() -> Any:
        return [_agent_dict(a) for a in agent_list()]

    @server.resource("agent://{agent_id}", mime_type=json_type, description="One agent")
    @_resource_read
    def agent_resource(agent_id: str) -> Any:
        return _agent_dict(agent_get(agent_id=agent_id))

    @server.resource("agent://{agent_id}/articles", mime_type=json_type, description="Articles an agent submitted")
    @_resource_read
    def agent_articles_resource(agent_id: str) -> Any:
        agent_get(agent_id=agent_id)
        articles = article_selectors.article_list(agent=current_agent(), agent_id=agent_id, limit=100)
        return [article_summary(a) for a in articles]

    @server.resource("agent://{agent_id}/stats", mime_type=json_type, description="An agent's counters")
    @_resource_read
    def agent_stats_resource(agent_id: str) -> Any:
        return agent_stats(agent_id=agent_id)

    @server.resource("agent://{agent_id}/reports", mime_type=json_type, description="An agent's weekly reports")
    @_resource_read
    def agent_reports_resource(agent_id: str) -> Any:
        agent = agent_get(agent_id=agent_id)
        return [weekly_report(r) for r in agent.weekly_reports.all()[:12]]

    @server.resource("site://list", mime_type=json_type, description="Every active site with its health")
    @_resource_read
    def sites_resource() -> Any:
        return [site_summary(s) for s in site_list()]

    @server.resource("site://{site_id}", mime_type=json_type, description="One site")
    @_resource_read
    def site_resource(site_id: str) -> Any:
        return site_summary(site_get(site_id=site_id))

    @server.resource("site://{site_id}/articles", mime_type=json_type, description="Articles for a site")
    @_resource_read
    def site_articles_resource(site_id: str) -> Any:
        site_get(site_id=site_id)
        articles = article_selectors.article_list(agent=current_agent(), target_site=site_id, limit=100)
        return [article_summary(a) for a in articles]

    @server.resource("site://{site_id}/health", mime_type=json_type, description="A site's last health check")
    @_resource_read
    def site_health_resource(site_id: str) -> Any:
        return site_health(site_id=site_id)

    @server.resource("article://{article_id}", mime_type=json_type, description="An article with its revisions")
    @_resource_read
    def article_resource(article_id: str) -> Any:
        return _article_detail(int_parse(article_id, name="article_id", minimum=1))

    @server.resource("system://metrics", mime_type=json_type, description="Counts of articles, agents, sites")
    @_resource_read
    def metrics_resource() -> Any:
        return system_metrics()

    @server.resource(
        "system://events",
        mime_type=json_type,
        description="Recent publishing, site and system events (of others' articles and agents with article:read)",
    )
    @_resource_read
    def events_resource() -> Any:
        return [audit_entry(e) for e in system_event_list(agent=current_agent(), limit=AUDIT_PAGE_SIZE)]

    @server.resource(
        "audit://logs{?page,event_type,agent_id,severity}",
        mime_type=json_type,
        description=f"The audit log, newest first, {AUDIT_PAGE_SIZE} a page (needs article:review and article:read)",
    )
    @_resource_read
    def audit_resource(page: str = "1", event_type: str = "", agent_id: str = "", severity: str = "") -> Any:
        # The log names every agent's articles: it takes both the right to review and the right to read them.
        scope_require(current_agent(), Scope.REVIEW)
        scope_require(current_agent(), Scope.READ)
        number = int_parse(page or "1", name="page", minimum=1, maximum=AUDIT_PAGE_MAX)
        rows = audit_log_list(event_type=event_type or None, agent_id=agent_id or None, severity=severity or None)
        start = (number - 1) * AUDIT_PAGE_SIZE
        entries = [audit_entry(e) for e in rows[start : start + AUDIT_PAGE_SIZE + 1]]
        return {
            "page": number,
            "page_size": AUDIT_PAGE_SIZE,
            "entries": entries[:AUDIT_PAGE_SIZE],
            "next_page": number + 1 if len(entries) > AUDIT_PAGE_SIZE else None,
        }

    @server.resource("config://agents", mime_type=json_type, description="The agents' configuration (no keys)")
    @_resource_read
    def config_agents_resource() -> Any:
        return config_agents()

    @server.resource("config://sites", mime_type=json_type, description="The sites' configuration (no passwords)")
    @_resource_read
    def config_sites_resource() -> Any:
        return config_sites()


async def _prompt_get(text: Callable[..., str], /, **arguments: Any) -> str:
    """A prompt's text, written on the MCP threads for the calling agent and counted against its rate limit
    like a tool call. An error passes as an MCPError: the SDK would hide any other behind a generic message."""

    def get() -> str:
        try:
            agent_request_allow(agent_id=_resolve_caller().id)
        except DomainError as error:
            raise MCPError(INTERNAL_ERROR, _error_text(error)) from None
        return text(**arguments)

    return await run_sync(get)


def _register_prompts(server: MCPServer) -> None:
    @server.prompt(description="A workflow for agents collaborating on content, from this server's setup")
    async def multi_agent_workflow(content_type: str, agent_roles: str, target_sites: str | None = None) -> str:
        return await _prompt_get(
            multi_agent_workflow_text, content_type=content_type, agent_roles=agent_roles, target_sites=target_sites
        )

    @server.prompt(description="How an agent in a given role should use this server's tools")
    async def agent_specialization_guide(agent_role: str, content_domain: str | None = None) -> str:
        return await _prompt_get(agent_specialization_guide_text, agent_role=agent_role, content_domain=content_domain)


class GatewayTokenVerifier:
    """The SDK's view of a bearer token. The gateway (mcp_bridge.asgi) has already authenticated the
    request, with the client IP for blocking and audit, and put the agent in a context variable."""

    async def verify_token(self, token: str) -> AccessToken | None:
        verified = authenticated_request.get()
        if verified is None or verified[0] != token:
            return None
        agent = verified[1]
        return AccessToken(token=token, client_id=agent.id, scopes=list(agent.scopes))


def build_server(*, with_auth: bool = True) -> MCPServer:
    """The MCP server with every tool, resource and prompt. `with_auth`: for HTTP (bearer tokens);
    stdio has no tokens."""
    from django.conf import settings

    auth = {}
    if with_auth:
        auth = {
            "auth": AuthSettings(issuer_url=settings.MCP_ISSUER_URL, resource_server_url=None),
            "token_verifier": GatewayTokenVerifier(),
        }
    server = StrictMCPServer(
        name="wpublisher",
        title="wpublisher",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level=settings.LOG_LEVEL if settings.LOG_LEVEL in {"DEBUG", "INFO", "WARNING", "ERROR"} else "INFO",
        **auth,
    )
    _register_tools(server)
    _register_resources(server)
    _register_prompts(server)
    return server
