"""The config editor: agents.yml and sites.yml with secrets masked, validated, diffed, saved and reloaded."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.http import HttpRequest, HttpResponse

from configuration.editor import config_file_save
from console.pages import render_page, reviewer_required, sentence
from core.config.editor import EDITABLE_FILES, config_file_check, config_file_read_masked
from core.config.state import config_status
from core.config.types import AGENTS_FILE
from core.exceptions import DomainError


@reviewer_required
def config_editor(request: HttpRequest) -> HttpResponse:
    """Edit agents.yml / sites.yml: validate (messages as check_config), show the diff, save with a backup
    and reload. Secrets stay masked and unchanged unless edited."""
    name = request.POST.get("file") or request.GET.get("file") or AGENTS_FILE
    context: dict = {"files": EDITABLE_FILES, "name": name, "problems": None, "diff": None}
    try:
        if request.method == "POST":
            edited = request.POST.get("text", "").replace("\r\n", "\n")
            fingerprint = request.POST.get("fingerprint", "")
            context.update(text=edited, fingerprint=fingerprint)
            problems, diff = config_file_check(name=name, edited=edited, fingerprint=fingerprint)
            context.update(problems=problems, diff=diff)
            if request.POST.get("action") == "save" and not problems:
                result = config_file_save(name=name, edited=edited, fingerprint=fingerprint)
                messages.success(
                    request,
                    f"{name} saved (backup kept) and reloaded" if result.changed else f"{name} saved; nothing changed",
                )
                context["text"], context["fingerprint"] = config_file_read_masked(name=name)
                context["diff"] = None
        else:
            context["text"], context["fingerprint"] = config_file_read_masked(name=name)
    except DomainError as error:
        messages.error(request, _refusal(error, name=name))
        context.setdefault("text", "")
        context.setdefault("fingerprint", "")
    except OSError as error:
        messages.error(request, f"Could not write {name}: {error.strerror}; nothing was saved.")
    context["status"] = status = config_status()
    context["loaded_at"], context["last_error_at"] = _moment(status["loaded_at"]), _moment(status["last_error_at"])
    return render_page(request, "console/config.html", "console/partials/config.html", context)


def _refusal(error: DomainError, *, name: str) -> str:
    """A refusal in words: capitalised, unless it starts with the file's name, which keeps its spelling."""
    return error.message if error.message.startswith(name) else sentence(error.message)


def _moment(iso: str | None) -> datetime | None:
    """A time of config_status (ISO 8601, for /health) as a datetime the page shows in the reviewer's zone."""
    return datetime.fromisoformat(iso) if iso else None
