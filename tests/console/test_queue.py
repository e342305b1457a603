"""The review queue as a reviewer meets it: it opens on what waits for review, oldest first, with counts;
batches report one summary in words; empty states say what to do next; a live refresh replaces the table
only, and every element that makes a request names its own target (htmx inheritance is off)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from articles.models import Article, ArticleStatus
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

HTMX = {"HX-Request": "true"}


@pytest.fixture
def reviewer(client, loaded_config):
    from tests.conftest import agent_entry, site_entry

    loaded_config(agents=[agent_entry("writer"), agent_entry("editor")], sites=[site_entry("blog")])
    client.force_login(UserFactory(username="alice", is_staff=True))
    return client


def submit(title: str, agent: str = "writer") -> int:
    from agents.models import Agent
    from articles.services import article_submit

    return article_submit(agent=Agent.objects.get(pk=agent), title=title, content_markdown="x").pk


def row_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="article-row-(\d+)"', html)]


def shown_messages(html: str) -> list[str]:
    return re.findall(r'<p class="message [a-z]+" role="[a-z]+">(.*?)</p>', html)


class Requesting(HTMLParser):
    """Every element that makes an htmx request, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "hx-get" in found or "hx-post" in found:
            self.elements.append((tag, found))


def requesting(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Requesting()
    parser.feed(html)
    return parser.elements


def test_the_queue_opens_on_pending_review_oldest_first(reviewer):
    ids = [submit(f"Story {n}") for n in range(4)]
    Article.objects.filter(pk=ids[1]).update(status=ArticleStatus.REJECTED)
    html = reviewer.get("/articles/").content.decode()
    assert row_ids(html) == [ids[0], ids[2], ids[3]]
    assert "Pending review, oldest first" in html
    assert 'aria-current="page">Pending review <span class="tab-count">3</span>' in html


def test_other_statuses_and_all_are_newest_first(reviewer):
    ids = [submit(f"Story {n}") for n in range(3)]
    Article.objects.filter(pk__in=ids[:2]).update(status=ArticleStatus.REJECTED)
    rejected = reviewer.get("/articles/", {"status": "rejected"}).content.decode()
    assert row_ids(rejected) == [ids[1], ids[0]] and "Rejected, newest first" in rejected
    assert row_ids(reviewer.get("/articles/", {"status": "all"}).content.decode()) == ids[::-1]


def test_an_unknown_status_is_refused_naming_the_parameter(reviewer):
    response = reviewer.get("/articles/", {"status": "archived"})
    assert response.status_code == 400 and "status: must be one of all, pending_review" in response.content.decode()


def test_keyset_pages_follow_the_order_shown():
    from articles.selectors import article_queue_page
    from tests.factories import AgentFactory, ArticleFactory, SiteFactory

    agent, site = AgentFactory(), SiteFactory()
    ids = [ArticleFactory(submitting_agent=agent, target_site=site).pk for _ in range(5)]
    pending = ArticleStatus.PENDING_REVIEW
    page, cursor = article_queue_page(status=pending, page_size=2)
    assert [a.pk for a in page] == ids[:2] and cursor == ids[1]
    page, cursor = article_queue_page(status=pending, page_size=2, cursor_id=cursor)
    assert [a.pk for a in page] == ids[2:4]
    page, cursor = article_queue_page(status=pending, page_size=2, cursor_id=cursor)
    assert [a.pk for a in page] == ids[4:] and cursor is None
    page, cursor = article_queue_page(page_size=2)
    assert [a.pk for a in page] == [ids[4], ids[3]]
    page, _ = article_queue_page(page_size=2, cursor_id=cursor)
    assert [a.pk for a in page] == [ids[2], ids[1]]


def test_the_next_page_of_pending_review_continues_after_the_last_row(reviewer):
    from articles.selectors import QUEUE_PAGE_SIZE
    from tests.factories import ArticleFactory

    agent, site = reviewer_world()
    ids = [ArticleFactory(submitting_agent=agent, target_site=site).pk for _ in range(QUEUE_PAGE_SIZE + 1)]
    first = reviewer.get("/articles/", {"agent": "writer"}).content.decode()
    assert row_ids(first) == ids[:QUEUE_PAGE_SIZE]
    link = f"?agent=writer&amp;after={ids[QUEUE_PAGE_SIZE - 1]}"
    assert f'href="{link}"' in first and ">Newer »</a>" in first
    second = reviewer.get("/articles/", {"agent": "writer", "after": ids[QUEUE_PAGE_SIZE - 1]}).content.decode()
    assert row_ids(second) == ids[QUEUE_PAGE_SIZE:] and ">« Oldest</a>" in second


def reviewer_world():
    from agents.models import Agent
    from sites.models import Site

    return Agent.objects.get(pk="writer"), Site.objects.get(pk="blog")


def test_counts_per_status_follow_the_other_filters(reviewer):
    mine = [submit(f"Mine {n}") for n in range(3)]
    submit("Theirs", agent="editor")
    Article.objects.filter(pk=mine[0]).update(status=ArticleStatus.PUBLISHED)
    everyone = reviewer.get("/articles/").content.decode()
    assert 'Pending review <span class="tab-count">3</span>' in everyone
    assert 'Published <span class="tab-count">1</span>' in everyone
    assert 'All <span class="tab-count">4</span>' in everyone
    writer = reviewer.get("/articles/", {"agent": "writer"}).content.decode()
    assert 'Pending review <span class="tab-count">2</span>' in writer
    assert 'All <span class="tab-count">3</span>' in writer
    # A tab keeps the other filters.
    assert 'href="/articles/?agent=writer&amp;status=published"' in writer


def test_a_mixed_batch_is_one_summary_naming_the_refused_article(reviewer):
    from agents.models import Agent
    from articles.services import article_revise

    ids = [submit(f"Batch {n}") for n in range(3)]
    # The reviewer's page showed revision 1 of each; the writer revises the second meanwhile.
    article_revise(agent=Agent.objects.get(pk="writer"), article_id=ids[1], content_markdown="changed")
    response = reviewer.post("/articles/batch", {"action": "approve", "article": [f"{i}:1" for i in ids]}, headers=HTMX)
    assert shown_messages(response.content.decode()) == [
        f"Approved 2. 1 refused: #{ids[1]} was revised since you loaded the page; look at it again."
    ]
    statuses = list(Article.objects.filter(pk__in=ids).order_by("pk").values_list("status", flat=True))
    assert statuses == ["publishing", "pending_review", "publishing"]


def test_a_batch_of_articles_no_longer_pending_says_so(reviewer):
    ids = [submit(f"Batch {n}") for n in range(2)]
    Article.objects.filter(pk=ids[0]).update(status=ArticleStatus.REJECTED)
    response = reviewer.post("/articles/batch", {"action": "approve", "article": [f"{ids[0]}:1"]}, headers=HTMX)
    assert shown_messages(response.content.decode()) == [
        f"None approved. 1 refused: #{ids[0]} is no longer pending review."
    ]


def test_rejecting_needs_a_reason_and_then_rejects_every_selected_article(reviewer):
    ids = [submit(f"Batch {n}") for n in range(2)]
    selected = [f"{i}:1" for i in ids]
    refused = reviewer.post("/articles/batch", {"action": "reject", "article": selected, "rejection_reason": " "})
    assert shown_messages(refused.content.decode()) == [
        "Rejecting needs a reason: type it in the reason box, then press Reject selected."
    ]
    assert set(Article.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"pending_review"}
    done = reviewer.post("/articles/batch", {"action": "reject", "article": selected, "rejection_reason": "thin"})
    assert shown_messages(done.content.decode()) == ["Rejected 2."]
    assert set(Article.objects.filter(pk__in=ids).values_list("rejection_reason", flat=True)) == {"thin"}


def test_an_empty_batch_is_refused_in_words(reviewer):
    submit("Waiting")
    response = reviewer.post("/articles/batch", {"action": "approve"}, headers=HTMX)
    assert shown_messages(response.content.decode()) == ["Select at least one article."]
    assert Article.objects.get().status == ArticleStatus.PENDING_REVIEW


def test_an_unreadable_selection_is_refused_in_words(reviewer):
    article = submit("Waiting")
    response = reviewer.post("/articles/batch", {"action": "approve", "article": [f"{article}:1", "x"]})
    assert shown_messages(response.content.decode()) == [
        "A selected row could not be read; reload the page and select again."
    ]
    assert Article.objects.get().status == ArticleStatus.PENDING_REVIEW


def test_the_empty_queue_says_what_to_do_next(reviewer):
    html = reviewer.get("/articles/").content.decode()
    assert "Nothing is waiting for review. Agents submit articles over MCP; they appear here." in html
    assert "<table" not in html


def test_filters_that_match_nothing_offer_to_clear_them(reviewer):
    submit("Something")
    html = reviewer.get("/articles/", {"status": "pending_review", "agent": "writer", "q": "zzz"}).content.decode()
    assert "No articles match these filters." in html
    assert re.search(r'<a href="/articles/\?status=pending_review"[^>]*>Clear filters</a>', html)
    assert "Nothing is waiting for review" not in html


def test_a_full_page_and_an_htmx_request_both_keep_heading_filters_and_batch_form(reviewer):
    submit("Waiting")
    for headers in ({}, HTMX):
        html = reviewer.get("/articles/", headers=headers).content.decode()
        assert "<h1>Review queue</h1>" in html and '<form class="filters"' in html
        assert html.index('<form id="batch"') < html.index('<div id="queue-table"') < html.index("</form>\n<dialog")
        assert "Keyboard shortcuts (?)" in html and '<dialog id="queue-shortcuts"' in html
        assert re.search(r'<input type="checkbox" id="select-all"[^>]*><span class="select-all-text">Select all', html)


def test_the_live_refresh_returns_the_table_and_the_counts_only(reviewer):
    submit("Waiting")
    html = reviewer.get("/articles/", headers={**HTMX, "HX-Target": "queue-table"}).content.decode()
    assert html.count('<div id="queue-table"') == 1 and "Waiting" in html
    assert '<nav id="queue-tabs" class="tabs queue-tabs" aria-label="Status" hx-swap-oob="true">' in html
    assert "<h1>" not in html and '<form id="batch"' not in html and 'class="filters"' not in html


def test_the_live_refresh_keeps_the_page_shown(reviewer):
    html = reviewer.get("/articles/", {"status": "all", "before": "90"}).content.decode()
    assert 'hx-get="/articles/?status=all&amp;before=90"' in html


def test_every_element_that_makes_a_request_names_its_own_target(reviewer):
    from tests.factories import ArticleFactory

    agent, site = reviewer_world()
    for _ in range(51):
        ArticleFactory(submitting_agent=agent, target_site=site)
    html = reviewer.get("/articles/", {"after": "1"}).content.decode()
    elements = requesting(html)
    assert len(elements) >= 10  # tabs, filters, batch, the table, the pager
    for tag, attrs in elements:
        assert attrs.get("hx-target"), (tag, attrs)
    table = next(attrs for tag, attrs in elements if attrs.get("id") == "queue-table")
    assert (table["hx-target"], table["hx-select"], table["hx-swap"]) == ("this", "#queue-table", "outerHTML")
    for tag, attrs in elements:
        if attrs.get("hx-target") == "#main":
            assert attrs.get("hx-push-url") == "true" or tag == "form", (tag, attrs)


def test_times_are_relative_with_the_exact_time_on_hover(reviewer):
    submit("Waiting")
    html = reviewer.get("/articles/").content.decode()
    assert re.search(
        r'<td data-label="Submitted"><time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(', html
    )
    assert "just now" in html


def test_rows_name_their_columns_for_narrow_screens(reviewer):
    submit("Waiting")
    html = reviewer.get("/articles/").content.decode()
    assert '<table class="queue cards">' in html
    row = html.split('<tr id="article-row-', 1)[1].split("</tr>", 1)[0]
    labels = re.findall(r'<td data-label="([^"]+)"', row)
    assert labels == ["Select", "#", "Title", "Agent", "Site", "Status", "Rev.", "Submitted"]


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"action": "approve"},
        {"action": "approve", "article": ["{first}:1", "{second}:1", "nope"]},
        {"action": "approve", "article": ["{first}:1", "{second}:1", "999999:1"]},
        {"action": "reject", "article": ["{first}:1"]},
        {"action": "reject", "article": ["{first}:1", "{second}:1", "999999:1"], "rejection_reason": "thin"},
        {"action": "publish", "article": ["{first}:1"]},
    ],
)
def test_no_response_shows_an_error_code(reviewer, form):
    from agents.models import Agent
    from articles.services import article_revise

    first, second = submit("One"), submit("Two")
    form = {
        name: [v.format(first=first, second=second) for v in value] if isinstance(value, list) else value
        for name, value in form.items()
    }
    article_revise(agent=Agent.objects.get(pk="writer"), article_id=second, content_markdown="changed")
    for response in (
        reviewer.post("/articles/batch", form, headers=HTMX),
        reviewer.post("/articles/batch", form),
        reviewer.get("/articles/", {"status": "all"}),
    ):
        text = response.content.decode()
        assert response.status_code == 200 and "_ERROR" not in text and "INVALID_TRANSITION" not in text
