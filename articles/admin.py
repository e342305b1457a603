"""Admin for articles: read-only pages and review actions.

An article changes only through `articles/services/`: the actions call `article_approve`,
`article_reject` and `article_retry_publish` for each selected article and report each result or domain
error; every field is read-only and articles are neither added nor deleted here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from agents.actors import Actor
from articles.models import Article, ArticleRevision
from articles.rendering import html_sanitize
from articles.services import REASON_MAX, article_approve, article_reject, article_retry_publish
from core.admin_helpers import ViewOnlyMixin, action_confirmation, action_confirmed, domain_error_text
from core.exceptions import DomainError, ValidationFailed

WORKFLOW_NOTE = (
    "Articles change only through the review workflow: use the actions of the article list (Approve selected, "
    "Reject selected, Retry publishing). Every field here is read-only."
)


class RejectForm(forms.Form):
    rejection_reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text="Stored with each article, written to the audit log and shown to the submitting agent.",
    )


class ArticleRevisionInline(admin.TabularInline):
    model = ArticleRevision
    fields = ("number", "agent", "title", "note", "category", "tags", "content_hash", "created_at")
    readonly_fields = fields
    ordering = ("number",)
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _label(article: Article) -> str:
    return f"Article #{article.pk} “{article.title}”"


@admin.register(Article)
class ArticleAdmin(ViewOnlyMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "title",
        "status",
        "submitting_agent",
        "target_site",
        "revision_number",
        "created_at",
        "updated_at",
        "permalink",
    )
    list_display_links = ("id", "title")
    list_filter = ("status", "target_site", "submitting_agent")
    list_select_related = ("submitting_agent", "target_site")
    search_fields = ("title",)
    ordering = ("-created_at", "-id")
    fieldsets = (
        (
            None,
            {
                "description": WORKFLOW_NOTE,
                "fields": (
                    "title",
                    "status",
                    "submitting_agent",
                    "target_site",
                    "revision_number",
                    "category",
                    "tags",
                    "created_at",
                    "updated_at",
                ),
            },
        ),
        ("Preview (sanitized HTML)", {"fields": ("preview",)}),
        ("Markdown", {"classes": ("collapse",), "fields": ("content_markdown",)}),
        (
            "Review",
            {"fields": ("reviewed_by", "publishing_agent", "reviewed_at", "reviewer_notes", "rejection_reason")},
        ),
        (
            "Publishing",
            {
                "fields": (
                    "wordpress_post_id",
                    "permalink",
                    "published_at",
                    "publish_attempts",
                    "publish_error_message",
                    "publish_claimed_by",
                    "publish_claimed_at",
                )
            },
        ),
        (
            "Integrity and metadata",
            {"classes": ("collapse",), "fields": ("content_hash", "approved_content_hash", "agent_metadata")},
        ),
    )
    # View-only (ViewOnlyMixin) shows every field above read-only; the preview and the permalink are
    # methods, named here.
    readonly_fields = ("preview", "permalink")
    inlines = (ArticleRevisionInline,)
    actions = ("approve_selected", "reject_selected", "retry_publishing")

    @admin.display(description="Preview")
    def preview(self, article: Article) -> SafeString:
        # content_html was sanitized by nh3 when it was written; it is cleaned again here (cheap, and
        # idempotent) so that no row, however it got into the database, can bring markup of its own. It is
        # the only field marked safe, inside an element where htmx processes nothing.
        # Its container resets the admin's styles inside it and gives the post its own look (admin.css,
        # `.wpub-preview`), so the preview reads as the published post will, not as an admin form.
        clean = mark_safe(html_sanitize(article.content_html))  # noqa: S308 - sanitized by nh3 just now
        return format_html('<div class="wpub-preview preview" hx-disable>{}</div>', clean)

    @admin.display(description="Permalink", ordering="wordpress_permalink")
    def permalink(self, article: Article) -> str:
        return permalink_link(article.wordpress_permalink)

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Article], call: Callable[[Article], Any], done: str
    ) -> None:
        """Run one service call per selected article; report each success or domain error."""
        for article in queryset.order_by("pk"):
            try:
                call(article)
            except DomainError as error:
                self.message_user(request, f"{_label(article)}: {domain_error_text(error)}", messages.ERROR)
            else:
                self.message_user(request, f"{_label(article)} {done}", messages.SUCCESS)

    @admin.action(description="Approve selected", permissions=["change"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Article]) -> HttpResponse | None:
        # A list does not say what its reader saw: a confirmation page shows each article's revision and
        # posts it back, and each approval is of that revision only (a newer one is refused).
        if action_confirmed(request):
            reviewer = Actor(user=request.user)
            self._each(
                request,
                queryset,
                lambda article: article_approve(
                    actor=reviewer, article_id=article.pk, expected_revision=_shown_revision(request, article)
                ),
                "approved; its publishing is queued.",
            )
            return None
        articles = list(queryset.select_related("submitting_agent").order_by("pk"))
        return action_confirmation(
            request,
            model_admin=self,
            queryset=queryset,
            action="approve_selected",
            title="Approve articles",
            question="Approve these articles at the revision shown? A newer revision is refused.",
            items=[
                f"{_label(a)}: {a.get_status_display()}, revision {a.revision_number}, by {a.submitting_agent}"
                for a in articles
            ],
            submit_label="Approve",
            hidden={f"revision_{a.pk}": a.revision_number for a in articles},
        )

    @admin.action(description="Reject selected", permissions=["change"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Article]) -> HttpResponse | None:
        form = RejectForm(request.POST if action_confirmed(request) else None)
        if form.is_valid():
            reviewer = Actor(user=request.user)
            reason = form.cleaned_data["rejection_reason"]
            self._each(
                request,
                queryset,
                lambda article: article_reject(
                    actor=reviewer,
                    article_id=article.pk,
                    rejection_reason=reason,
                    # The revision the reviewer saw on the confirmation page: a newer one is refused.
                    expected_revision=_int_or_none(request.POST.get(f"revision_{article.pk}")),
                ),
                "rejected.",
            )
            return None
        articles = list(queryset.select_related("submitting_agent").order_by("pk"))
        return action_confirmation(
            request,
            model_admin=self,
            queryset=queryset,
            action="reject_selected",
            title="Reject articles",
            question="Reject these articles? Give the reason; the submitting agent sees it.",
            items=[
                f"{_label(a)}: {a.get_status_display()}, revision {a.revision_number}, by {a.submitting_agent}"
                for a in articles
            ],
            submit_label="Reject",
            form=form,
            hidden={f"revision_{a.pk}": a.revision_number for a in articles},
        )

    @admin.action(description="Retry publishing", permissions=["change"])
    def retry_publishing(self, request: HttpRequest, queryset: QuerySet[Article]) -> None:
        self._each(
            request,
            queryset,
            lambda article: article_retry_publish(article_id=article.pk, actor=Actor(user=request.user)),
            "queued for publishing again.",
        )


def permalink_link(url: str) -> str:
    """A published post's address as a link that opens it in a new tab without giving it this page (no
    opener, no referrer); an address that is not http(s) stays plain text, and none is a dash."""
    if not url:
        return "-"
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # "http://[nowhere": not an address one can open
        scheme = ""
    if scheme not in ("http", "https"):
        return format_html("{}", url)
    return format_html(
        '<a href="{}" rel="noopener noreferrer" target="_blank">{}<span class="visually-hidden"> (opens in a new '
        "tab)</span></a>",
        url,
        url,
    )


def _shown_revision(request: HttpRequest, article: Article) -> int:
    """The revision of `article` that the confirmation page showed."""
    field = f"revision_{article.pk}"
    revision = _int_or_none(request.POST.get(field))
    if revision is None:
        raise ValidationFailed(f"{field} is required: the revision shown on the confirmation page", field=field)
    return revision


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
