"""The text of the MCP prompts, written from the live configuration: which agents hold which roles and
scopes, which sites exist and their default categories. No SDK here, so it can be read and tested plainly."""

from __future__ import annotations

from agents.models import Agent
from core.scopes import Scope
from sites.models import Site

SCOPE_TOOLS = {
    Scope.SUBMIT: "submit_article (new articles), revise_article on your own pending articles, retry_publish "
    "on your own failed ones",
    Scope.READ: "list_articles, get_article and get_article_status on every agent's articles",
    Scope.REVISE: "revise_article on any pending article (each revision is kept with its author)",
    Scope.REVIEW: "approve_article and reject_article on other agents' articles, and with article:read "
    "the audit://logs resource",
}

ROLE_GUIDANCE = {
    "content-creator": "Draft complete articles in Markdown with a clear title, a category and a few precise tags. "
    "Say in agent_metadata what sources or model you used.",
    "seo-optimizer": "Read drafts (list_articles status=pending_review, get_article), then improve titles, "
    "headings, keywords and tags with revise_article, explaining each change in its note.",
    "editor": "Check language, structure and facts. Approve what is ready with reviewer_notes; reject with a "
    "rejection_reason that says exactly what to change.",
    "translator": "Submit a translation as a new article for the site of that language, and name the source "
    "article id in agent_metadata.",
}


def _agents_by_role() -> dict[str, list[Agent]]:
    by_role: dict[str, list[Agent]] = {}
    for agent in Agent.objects.filter(is_active=True).order_by("id"):
        by_role.setdefault(agent.role, []).append(agent)
    return by_role


def _sites_text(site_ids: list[str] | None = None) -> str:
    sites = Site.objects.filter(is_active=True)
    if site_ids:
        sites = sites.filter(pk__in=site_ids)
    lines = [
        f"- {s.id} ({s.name}){' [default]' if s.is_default else ''}: default category "
        f"{s.default_category or 'none'}, health {s.health_status}"
        for s in sites
    ]
    return "\n".join(lines) or "- (no matching active site)"


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def multi_agent_workflow_text(*, content_type: str, agent_roles: str, target_sites: str | None = None) -> str:
    roles = _split(agent_roles)
    by_role = _agents_by_role()
    steps = []
    for number, role in enumerate(roles, start=1):
        agents = by_role.get(role, [])
        who = ", ".join(f"{a.id} (scopes: {', '.join(a.scopes)})" for a in agents) or "no agent has this role yet"
        steps.append(f"{number}. {role}: {who}\n   {ROLE_GUIDANCE.get(role, 'Contribute within your scopes.')}")
    reviewers = [a.id for agents in by_role.values() for a in agents if a.has_scope(Scope.REVIEW)]
    return (
        f"Workflow for {content_type} on wpublisher\n\n"
        f"Target sites:\n{_sites_text(_split(target_sites) or None)}\n\n"
        "Steps, in order:\n" + "\n".join(steps) + "\n\n"
        "Hand-offs: the drafting agent calls submit_article and shares the returned article id; later agents "
        "read it with get_article and write new revisions with revise_article (note what changed). "
        "Review: "
        + (f"agents {', '.join(reviewers)} may approve or reject; " if reviewers else "")
        + "a person reviews in the console. Nobody approves their own article, and an agent never approves a "
        "revision it wrote; approve_article takes the revision you read (expected_revision). After approval, follow "
        "publishing with get_article_status until it is published (or publish_failed: retry_publish)."
    )


def agent_specialization_guide_text(*, agent_role: str, content_domain: str | None = None) -> str:
    agents = _agents_by_role().get(agent_role, [])
    scopes = sorted({scope for agent in agents for scope in agent.scopes})
    tools = "\n".join(f"- {scope}: {SCOPE_TOOLS[scope]}" for scope in scopes if scope in SCOPE_TOOLS)
    domain = f" in {content_domain}" if content_domain else ""
    return (
        f"Guide for the {agent_role} role{domain}\n\n"
        f"Agents with this role here: {', '.join(a.id for a in agents) or 'none yet'}.\n\n"
        f"{ROLE_GUIDANCE.get(agent_role, 'Work within the scopes your key grants.')}\n\n"
        f"What this role may do:\n{tools or '- no scopes: ask the operator to configure this role'}\n\n"
        f"Sites:\n{_sites_text()}\n\n"
        "Limits: titles 1-200 characters, at most 20 tags of 50 characters, Markdown up to 256 KiB by default. "
        "Errors begin with a stable code (VALIDATION_ERROR, FORBIDDEN, ARTICLE_NOT_FOUND, INVALID_TRANSITION, "
        "RATE_LIMITED...) followed by what to fix."
    )
