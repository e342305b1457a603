"""The console's agents page: who is connected (or when last seen), stats, keys (never a secret: the public
prefix a holder matches its key by), rotate (the new key shown once, with a copy button) and revoke."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_POST

from agents.actors import Actor
from agents.models import ApiKey
from agents.selectors import (
    agent_key_list,
    agent_last_requests,
    agent_latest_weekly_reports,
    agent_list,
    connected_agent_ids,
    key_public_prefix,
)
from agents.services import KEY_ROTATION_GRACE_MAX, agent_key_revoke, agent_key_rotate
from articles.selectors import agent_article_counts
from console.pages import render_page, reviewer_required, run_action
from core.params import param_int, param_text, text_parse

# The rotation form's choices: when the agent's old keys stop working (seconds after the rotation).
GRACE_CHOICES = ((0, "now"), (3600, "in 1 hour"), (86400, "in 24 hours"))
GRACE_DEFAULT = 3600


@dataclass(frozen=True)
class KeyRow:
    """One key as the page shows it: its public prefix (generated keys) and its state in words."""

    key: ApiKey
    prefix: str | None
    state: str  # "active", "expiring" (not_after ahead), "expired", "revoked"

    @property
    def usable(self) -> bool:
        return self.state in ("active", "expiring")


def _key_row(key: ApiKey, now: datetime) -> KeyRow:
    if key.revoked_at:
        state = "revoked"
    elif key.not_after:
        state = "expired" if key.not_after <= now else "expiring"
    else:
        state = "active"
    return KeyRow(key=key, prefix=key_public_prefix(key_id=key.key_id), state=state)


@dataclass(frozen=True)
class NewKey:
    agent_id: str
    key_id: str
    secret: str

    @property
    def prefix(self) -> str | None:
        return key_public_prefix(key_id=self.key_id)


def _agents_context(new_key: NewKey | None = None) -> dict[str, Any]:
    counts = agent_article_counts()
    connected = connected_agent_ids()
    last_requests = agent_last_requests()
    now = timezone.now()
    keys: dict[str, list[KeyRow]] = {}
    for key in agent_key_list():
        keys.setdefault(key.agent_id, []).append(_key_row(key, now))
    reports = agent_latest_weekly_reports()
    rows = [
        {
            "agent": a,
            "connected": a.id in connected,
            "last_request": last_requests.get(a.id),
            "counts": counts.get(a.id, {}),
            "keys": keys.get(a.id, []),
            "report": reports.get(a.id),
        }
        for a in agent_list(include_inactive=True)
    ]
    return {"rows": rows, "new_key": new_key, "grace_choices": GRACE_CHOICES, "grace_default": GRACE_DEFAULT}


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
        grace = param_int(request.POST, "grace", default=GRACE_DEFAULT, minimum=0, maximum=KEY_ROTATION_GRACE_MAX)
        rotated: list[tuple[ApiKey, str]] = []

        def rotate() -> tuple[ApiKey, str]:
            result = agent_key_rotate(agent_id=agent_id, grace_seconds=grace, actor=actor)
            rotated.append(result)
            return result

        if run_action(request, rotate, f"new key for {agent_id}: copy it now, it is not shown again"):
            key, secret = rotated[0]
            new_key = NewKey(agent_id=agent_id, key_id=key.key_id, secret=secret)
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
