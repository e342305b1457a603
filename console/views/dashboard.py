"""The dashboard: articles by status, agents and who is connected, what is publishing, sites, the feed."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from agents.selectors import agent_list, connected_agent_ids
from articles import selectors
from articles.selectors import agent_article_counts
from audit.selectors import audit_log_recent
from console.pages import render_page, reviewer_required
from core.supervision import supervision_status
from sites.selectors import site_list

FEED_SIZE = 30


@reviewer_required
def dashboard(request: HttpRequest) -> HttpResponse:
    counts = agent_article_counts()
    connected = connected_agent_ids()
    agents = [
        {"agent": agent, "connected": agent.id in connected, "counts": counts.get(agent.id, {})}
        for agent in agent_list()
    ]
    publishing = selectors.article_publishing_queue()
    progress = selectors.article_publish_progress(articles=publishing)
    return render_page(
        request,
        "console/dashboard.html",
        "console/partials/dashboard.html",
        {
            "status_counts": selectors.article_queue_counts(),
            "agents": agents,
            "feed": audit_log_recent(limit=FEED_SIZE),
            "publishing": [(article, progress.get(article.pk)) for article in publishing],
            "sites": site_list(),
            "supervision": supervision_status(),
        },
    )
