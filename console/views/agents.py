"""The console's agents page: stats, keys (never a secret), rotate (the new key shown once) and revoke."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from agents.actors import Actor
from agents.selectors import agent_key_list, agent_latest_weekly_reports, agent_list, connected_agent_ids
from agents.services import KEY_ROTATION_GRACE_MAX, agent_key_revoke, agent_key_rotate
from articles.selectors import agent_article_counts
from console.pages import render_page, reviewer_required, run_action
from core.params import param_int, param_text, text_parse


def _agents_context(new_key: tuple[str, str] | None = None) -> dict:
    counts = agent_article_counts()
    connected = connected_agent_ids()
    keys: dict[str, list] = {}
    for key in agent_key_list():
        keys.setdefault(key.agent_id, []).append(key)
    reports = agent_latest_weekly_reports()
    rows = [
        {
            "agent": a,
            "connected": a.id in connected,
            "counts": counts.get(a.id, {}),
            "keys": keys.get(a.id, []),
            "report": reports.get(a.id),
        }
        for a in agent_list(include_inactive=True)
    ]
    return {"rows": rows, "new_key": new_key}


@reviewer_required
def agents_page(request: HttpRequest) -> HttpResponse:
    return render_page(request, "console/agents.html", "console/partials/agents.html", _agents_context())


@reviewer_required
@require_POST
def agent_key_action(request: HttpRequest, agent_id: str) -> HttpResponse:
    actor = Actor(user=request.user)
    text_parse(agent_id, name="agent_id")  # the URL takes any text; PostgreSQL refuses NUL
    new_key = None
    if request.POST.get("action") == "rotate":
        grace = param_int(request.POST, "grace", default=3600, minimum=0, maximum=KEY_ROTATION_GRACE_MAX)
        rotated: list = []

        def rotate():
            result = agent_key_rotate(agent_id=agent_id, grace_seconds=grace, actor=actor)
            rotated.append(result)
            return result

        if run_action(request, rotate, f"new key for {agent_id}: copy it now, it is not shown again"):
            new_key = (agent_id, rotated[0][1])
    elif request.POST.get("action") == "revoke":
        key_id = param_text(request.POST, "key_id")
        run_action(
            request,
            lambda: agent_key_revoke(agent_id=agent_id, key_id=key_id, actor=actor),
            lambda revoked: f"revoked {', '.join(revoked) or 'nothing'}",
        )
    response = render_page(request, "console/agents.html", "console/partials/agents.html", _agents_context(new_key))
    response["Cache-Control"] = "no-store"  # the page may hold a new key
    return response
