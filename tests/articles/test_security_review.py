"""Review integrity (issue 13): an agent never approves a revision it wrote, and every approval path (MCP
`approve_article`, the console's batch approve, the admin action, `/api/…/approve`) approves only the revision
its reviewer was shown. A revision written between the look and the approval is refused, never approved."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from agents.actors import Actor
from articles import services
from articles.models import Article, ArticleStatus
from core.exceptions import Forbidden
from tests.conftest import agent_entry, site_entry
from tests.factories import AgentFactory, SiteFactory, UserFactory
from tests.mcp_bridge.conftest import SCOPES_ALL, connect, make_world
from tests.support.mcp import call, error

S = ArticleStatus
REVIEWED = "# Reviewed\n\nThe text the reviewer read."
SWAPPED = "# Swapped\n\nBuy now at https://spam.example/"
CHANGELIST = reverse("admin:articles_article_changelist")


class Inputs(HTMLParser):
    """The <input>s of the page's POST forms: (type, name, value), as a browser would send them."""

    def __init__(self, html: str):
        super().__init__()
        self.inputs: list[tuple[str, str, str]] = []
        self._in_post_form = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._in_post_form = values.get("method", "").lower() == "post"
        elif tag == "input" and self._in_post_form:
            self.inputs.append((values.get("type", "text"), values.get("name", ""), values.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_post_form = False


def swap(article: Article) -> None:
    """The submitting agent rewrites its article after the reviewer looked at it."""
    services.article_revise(agent=article.submitting_agent, article_id=article.pk, content_markdown=SWAPPED)


def assert_not_approved(article: Article) -> None:
    article.refresh_from_db()
    assert (article.status, article.revision_number, article.approved_content_hash) == (S.PENDING_REVIEW, 2, "")
    assert article.content_markdown == SWAPPED and article.reviewed_at is None


# --- the rule, through the service ------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_agent_never_approves_a_revision_it_wrote_but_may_reject_it(queued):
    site = SiteFactory(id="blog")
    writer = AgentFactory(id="writer")
    editor = AgentFactory(id="editor", scopes=SCOPES_ALL)
    other = AgentFactory(id="chief", scopes=SCOPES_ALL)
    article = services.article_submit(agent=writer, title="Draft", content_markdown=REVIEWED, target_site=site.id)
    services.article_revise(agent=editor, article_id=article.pk, content_markdown=SWAPPED)
    with pytest.raises(Forbidden) as refused:
        services.article_approve(actor=Actor(agent=editor), article_id=article.pk, expected_revision=2)
    assert (refused.value.field, refused.value.message) == (
        "article_id",
        f"agent editor wrote revision 2 of article {article.pk}; an agent never approves a revision it wrote: "
        "another reviewer must approve it",
    )
    assert Article.objects.get(pk=article.pk).status == S.PENDING_REVIEW and queued == []
    # Another reviewer, who has read revision 2, approves it; the editor could have rejected it instead.
    approved = services.article_approve(actor=Actor(agent=other), article_id=article.pk, expected_revision=2)
    assert approved.status == S.PUBLISHING
    second = services.article_submit(agent=writer, title="Other", content_markdown=REVIEWED, target_site=site.id)
    services.article_revise(agent=editor, article_id=second.pk, content_markdown=SWAPPED)
    rejected = services.article_reject(actor=Actor(agent=editor), article_id=second.pk, rejection_reason="no")
    assert rejected.status == S.REJECTED


# --- over MCP: the SDK's client against a live server ------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    created = make_world(
        tmp_path_factory.mktemp("review"),
        {"writer": {}, "editor": {"role": "editor", "scopes": SCOPES_ALL}, "chief": {"scopes": SCOPES_ALL}},
    )
    yield created
    created.deployment.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.slow
@pytest.mark.anyio
async def test_mcp_the_editor_cannot_approve_its_own_rewrite(world):
    """The example config's editor (article:revise and article:review) rewrites another agent's pending
    article and approves it at once: refused; another reviewer must approve it."""
    async with connect(world, "writer") as writer, connect(world, "editor") as editor, connect(world, "chief") as chief:
        article = await call(writer, "submit_article", title="Draft", content_markdown=REVIEWED)
        revised = await call(editor, "revise_article", article_id=article["id"], content_markdown=SWAPPED)
        assert (revised["revision"], revised["revisions"][-1]["agent"]) == (2, "editor")
        assert await error(editor, "approve_article", article_id=article["id"], expected_revision=2) == (
            f"FORBIDDEN: agent editor wrote revision 2 of article {article['id']}; an agent never approves a "
            "revision it wrote: another reviewer must approve it"
        )
        assert (await call(editor, "get_article_status", article_id=article["id"]))["status"] == "pending_review"
        approved = await call(chief, "approve_article", article_id=article["id"], expected_revision=2)
        assert approved["status"] == "publishing"


@pytest.mark.slow
@pytest.mark.anyio
async def test_mcp_a_revision_written_after_the_review_is_not_approved(world):
    async with connect(world, "writer") as writer, connect(world, "editor") as editor:
        article = await call(writer, "submit_article", title="Look", content_markdown=REVIEWED)
        shown = await call(editor, "get_article", article_id=article["id"])
        await call(writer, "revise_article", article_id=article["id"], content_markdown=SWAPPED)
        assert await error(
            editor, "approve_article", article_id=article["id"], expected_revision=shown["revision"]
        ) == (f"INVALID_TRANSITION: article {article['id']} is at revision 2, not 1; review the current revision")
        missing = await error(editor, "approve_article", article_id=article["id"])
        assert "expected_revision" in missing
        status = await call(editor, "get_article", article_id=article["id"])
        assert (status["status"], status["revision"], status["content_markdown"]) == ("pending_review", 2, SWAPPED)
        # Read again, the current revision can be approved.
        approved = await call(editor, "approve_article", article_id=article["id"], expected_revision=status["revision"])
        assert approved["status"] == "publishing"
        tools = {t.name: t for t in (await editor.list_tools()).tools}
        schema = tools["approve_article"].input_schema
        assert "expected_revision" in schema["required"]
        assert "get_article" in schema["properties"]["expected_revision"]["description"]


# --- the console's batch approve, with the queue page's own form fields -----------------------------------


@pytest.fixture
def reviewer_client(client, loaded_config):
    loaded_config(agents=[agent_entry("writer"), agent_entry("other")], sites=[site_entry("blog")])
    client.force_login(UserFactory(username="alice", is_staff=True))
    return client


def submit(agent_id: str, title: str) -> Article:
    """A pending article at revision 1, as the agent submits it."""
    from agents.models import Agent

    return services.article_submit(agent=Agent.objects.get(pk=agent_id), title=title, content_markdown=REVIEWED)


@pytest.fixture
def writer() -> None:
    """The agent "writer" and the site "blog", for the admin and API tests (no config loaded)."""
    SiteFactory(id="blog")
    AgentFactory(id="writer")


@pytest.mark.django_db
def test_console_batch_approve_refuses_a_row_revised_since_the_page_was_shown(
    reviewer_client, queued, django_capture_on_commit_callbacks
):
    swapped, kept = submit("writer", "Will be swapped"), submit("other", "Stays")
    page = reviewer_client.get("/articles/", {"status": "pending_review"}).content.decode()
    form = Inputs(page).inputs
    ticked = [value for kind, name, value in form if kind == "checkbox" and name == "article"]
    swap(swapped)
    hidden = {name: value for kind, name, value in form if kind == "hidden"}
    with django_capture_on_commit_callbacks(execute=True):
        response = reviewer_client.post(
            "/articles/batch", {**hidden, "action": "approve", "article": ticked}, headers={"HX-Request": "true"}
        )
    text = response.content.decode()
    assert f"Approved 1. 1 refused: #{swapped.pk} was revised since you loaded the page; look at it again" in text
    assert_not_approved(swapped)
    assert Article.objects.get(pk=kept.pk).status == S.PUBLISHING and queued == [kept.pk]
    assert sorted(ticked) == sorted([f"{swapped.pk}:1", f"{kept.pk}:1"])  # each row posts the revision it shows


@pytest.mark.django_db
def test_console_batch_approve_refuses_a_selection_without_its_revision(reviewer_client, queued):
    article = submit("writer", "No revision")
    response = reviewer_client.post(
        "/articles/batch", {"action": "approve", "article": [str(article.pk)]}, headers={"HX-Request": "true"}
    )
    assert "A selected row could not be read; reload the page and select again." in response.content.decode()
    assert Article.objects.get(pk=article.pk).status == S.PENDING_REVIEW and queued == []


@pytest.mark.django_db
def test_console_article_page_still_pins_the_revision_it_shows(reviewer_client, queued):
    article = submit("writer", "Pinned")
    form = Inputs(reviewer_client.get(f"/articles/{article.pk}/").content.decode()).inputs
    assert ("hidden", "revision", "1") in form
    swap(article)
    response = reviewer_client.post(
        f"/articles/{article.pk}/action", {"action": "approve", "revision": "1"}, headers={"HX-Request": "true"}
    )
    assert f"Article {article.pk} is at revision 2, not 1; review the current revision" in response.content.decode()
    assert_not_approved(article)
    missing = reviewer_client.post(
        f"/articles/{article.pk}/action", {"action": "approve"}, headers={"HX-Request": "true"}
    )
    assert "Revision is required" in missing.content.decode()
    assert_not_approved(article)


# --- the admin action: a confirmation page shows the revisions, and approving uses them --------------------


@pytest.mark.django_db
def test_admin_approve_confirms_the_revisions_shown_and_refuses_a_later_one(
    admin_client, queued, writer, django_capture_on_commit_callbacks
):
    swapped, kept = submit("writer", "Will be swapped"), submit("writer", "Stays")
    page = admin_client.post(
        CHANGELIST, {"action": "approve_selected", "_selected_action": [swapped.pk, kept.pk], "index": 0}
    )
    assert page.status_code == 200 and Article.objects.filter(status=S.PUBLISHING).count() == 0
    text = page.content.decode()
    for article in (swapped, kept):
        assert f"Article #{article.pk} “{article.title}”: pending review, revision 1, by Agent writer (writer)" in text
    form = Inputs(text).inputs
    assert ("hidden", f"revision_{swapped.pk}", "1") in form
    swap(swapped)
    data: dict[str, list[str]] = {}
    for kind, name, value in form:
        if kind in ("hidden", "submit") and name:
            data.setdefault(name, []).append(value)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(CHANGELIST, data, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert shown == [
        f"Article #{swapped.pk} “Will be swapped”: article {swapped.pk} is at revision 2, "
        "not 1; review the current revision",
        f"Article #{kept.pk} “Stays” approved; its publishing is queued.",
    ]
    assert_not_approved(swapped)
    assert queued == [kept.pk]


@pytest.mark.django_db
def test_admin_approve_without_the_confirmed_revision_is_refused(admin_client, queued, writer):
    article = submit("writer", "Unconfirmed")
    response = admin_client.post(
        CHANGELIST, {"action": "approve_selected", "_selected_action": [article.pk], "post": "yes"}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == [
        f"Article #{article.pk} “Unconfirmed”: revision_{article.pk} is required: the revision "
        "shown on the confirmation page"
    ]
    assert Article.objects.get(pk=article.pk).status == S.PENDING_REVIEW and queued == []


# --- the JSON API ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_approve_requires_the_revision_read_and_refuses_a_later_one(client, queued, writer):
    client.force_login(UserFactory(username="alice"))
    article = submit("writer", "API")
    shown = client.get(f"/api/articles/{article.pk}").json()
    swap(article)
    path = f"/api/articles/{article.pk}/approve"
    stale = client.post(path, {"expected_revision": shown["revision"]}, content_type="application/json")
    assert (stale.status_code, stale.json()) == (
        409,
        {
            "code": "INVALID_TRANSITION",
            "message": f"article {article.pk} is at revision 2, not 1; review the current revision",
        },
    )
    missing = client.post(path, {"reviewer_notes": "fine"}, content_type="application/json")
    assert (missing.status_code, missing.json()) == (
        422,
        {"code": "VALIDATION_ERROR", "message": "expected_revision: Field required", "field": "expected_revision"},
    )
    no_body = client.generic("POST", path)
    assert (no_body.status_code, no_body.json()["code"]) == (422, "VALIDATION_ERROR")
    assert_not_approved(article)
    assert queued == []
