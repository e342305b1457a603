"""The post's own fields (issue 16): an excerpt, several categories, the WordPress status an agent asks for
(within the site's allowed_statuses) and a publish_at that makes an approved article a scheduled (future)
post, shown with the site's time zone. They travel in the draft's create; the final update only sets the
status with the slug, so a retry changes nothing twice. Against the fake WordPress;
tests/articles/test_slow_post_fields.py does it on a real one."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from datetime import timezone as fixed_zone

import anyio
import pytest
from django.urls import reverse
from django.utils import timezone
from mcp import Client

from agents.models import Agent
from articles import services
from articles.models import Article, ArticleStatus
from articles.serializers import article_status
from articles.services import publishing
from configuration.reload import config_reload
from core.exceptions import ValidationFailed
from sites.models import Site
from sites.services import site_health_check
from sites.wordpress import WordPressClient
from tests.conftest import agent_entry
from tests.factories import UserFactory
from tests.sites.fake_wordpress import Failure, FakeWordPress
from tests.support.publishing import approved, publish

pytestmark = pytest.mark.django_db

S = ArticleStatus
INDIA = fixed_zone(timedelta(hours=5, minutes=30))
PUBLISH_AT_RULE = "an ISO 8601 date-time with an offset, like 2026-12-01T09:00:00+01:00 or 2026-12-01T08:00:00Z"


def blog(fake_wp: FakeWordPress, **extra) -> dict:
    return {
        "id": "blog",
        "name": "Blog",
        "api_url": fake_wp.api_url,
        "username": "publisher",
        "app_password": fake_wp.password,
        **extra,
    }


@pytest.fixture
def site_config(loaded_config, fake_wp, eager):
    """Load the writer and site "blog" (on the fake WordPress) with these site fields and publishing settings."""

    def load(publishing: dict | None = None, **site_fields):
        return loaded_config(
            agents=[agent_entry("writer")],
            sites=[blog(fake_wp, **site_fields)],
            publishing={"retry_attempts": 2, "retry_delay": 1, "timeout": 2, **(publishing or {})},
        )

    return load


@pytest.fixture
def writer(site_config) -> Agent:
    site_config()
    return Agent.objects.get(pk="writer")


def tomorrow(zone=INDIA) -> datetime:
    return (timezone.now() + timedelta(days=1)).astimezone(zone).replace(microsecond=0)


def submit(writer: Agent, title: str = "Post", **fields) -> Article:
    return services.article_submit(agent=writer, title=title, content_markdown="Body", **fields)


def the_post(fake_wp: FakeWordPress, article: Article) -> dict:
    article.refresh_from_db()
    assert article.status == S.PUBLISHED, article.publish_error_message
    (post,) = fake_wp.untrashed()
    assert post["id"] == article.wordpress_post_id
    return post


def term_names(fake_wp: FakeWordPress, ids: list[int]) -> list[str]:
    by_id = {term["id"]: term["name"] for term in fake_wp.terms["categories"]}
    return [by_id[term_id] for term_id in ids]


@pytest.fixture
def updates(monkeypatch) -> list[dict]:
    """The fields of every post update the client sends."""
    sent: list[dict] = []
    real = WordPressClient.post_update

    def recording(self, post_id, **fields):
        sent.append(fields)
        return real(self, post_id, **fields)

    monkeypatch.setattr(WordPressClient, "post_update", recording)
    return sent


def refused(call, **fields) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as error:
        call(**fields)
    return error.value


# --- what the post gets --------------------------------------------------------------------------------


def test_excerpt_categories_and_a_schedule_make_one_future_post_dated_in_utc(writer, fake_wp, updates):
    when = tomorrow()
    article = approved(
        writer,
        "Scheduled",
        excerpt="Tips & <b>tricks</b>",
        categories=["Guides", "Python", "guides"],
        publish_at=when.isoformat(),
    )
    assert publish(article) == S.PUBLISHED
    post = the_post(fake_wp, article)
    assert post["status"] == "future" and post["slug"] == "scheduled"
    assert post["date_gmt"] == when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert post["excerpt"] == "Tips &amp; &lt;b&gt;tricks&lt;/b&gt;"  # plain text: readers see it as written
    assert term_names(fake_wp, post["categories"]) == ["Guides", "Python"]  # duplicates (any case) dropped
    # Everything but the status travelled in the create: the one update sets the status with the slug.
    assert updates == [{"status": "future", "slug": ""}]
    shown = article_status(Article.objects.get(pk=article.pk))
    assert shown["scheduled_for"] == when.astimezone(UTC).isoformat()
    assert shown["categories"] == ["Guides", "Python"] and shown["category"] == "Guides"


def test_without_the_new_fields_the_post_is_as_before(writer, fake_wp, updates):
    article = approved(writer, "Plain", category="News")
    publish(article)
    post = the_post(fake_wp, article)
    assert (post["status"], term_names(fake_wp, post["categories"])) == ("publish", ["News"])
    assert "excerpt" not in post and "date_gmt" not in post
    assert updates == [{"status": "publish", "slug": ""}]
    # A revision without them hashes as before, so existing revisions compare equal.
    legacy = json.dumps(["Plain", "Body", [], "News"], ensure_ascii=False).encode()
    assert article.content_hash == hashlib.sha256(legacy).hexdigest()


def test_a_worker_dead_before_the_update_leaves_a_draft_with_the_fields_and_the_retry_sets_only_the_status(
    writer, fake_wp, monkeypatch, updates
):
    when = tomorrow(UTC)
    article = approved(writer, "Died", excerpt="Short", categories=["A", "B"], publish_at=when.isoformat())
    real = WordPressClient.post_update
    died: list[int] = []

    def dying_once(self, post_id, **fields):
        if not died:
            died.append(post_id)
            raise SystemExit("worker killed before the update")
        return real(self, post_id, **fields)

    with monkeypatch.context() as patch:
        patch.setattr(WordPressClient, "post_update", dying_once)
        with pytest.raises(SystemExit):
            publish(article)
    (draft,) = fake_wp.posts
    assert (draft["status"], draft["excerpt"], term_names(fake_wp, draft["categories"])) == (
        "draft",
        "Short",
        ["A", "B"],
    )
    assert draft["date_gmt"] == when.strftime("%Y-%m-%dT%H:%M:%S")
    Article.objects.filter(pk=article.pk).update(publish_claimed_at=timezone.now() - timedelta(minutes=5))
    assert publish(article) == S.PUBLISHED
    post = the_post(fake_wp, article)
    assert (post["id"], post["status"], post["date_gmt"]) == (draft["id"], "future", draft["date_gmt"])
    assert updates == [{"status": "future", "slug": ""}]


def test_a_publish_repeated_after_the_update_writes_nothing(writer, fake_wp, monkeypatch):
    article = approved(writer, "Once", publish_at=tomorrow().isoformat(), excerpt="E")
    real = publishing.article_publish_succeed
    calls: list[int] = []

    def dying_once(**kwargs):
        if not calls:
            calls.append(1)
            raise SystemExit("worker killed before success")
        return real(**kwargs)

    monkeypatch.setattr(publishing, "article_publish_succeed", dying_once)
    with pytest.raises(SystemExit):
        publish(article)
    before = [call for call in fake_wp.calls if call[0] in ("POST", "DELETE")]
    Article.objects.filter(pk=article.pk).update(publish_claimed_at=timezone.now() - timedelta(minutes=5))
    assert publish(article) == S.PUBLISHED
    assert [call for call in fake_wp.calls if call[0] in ("POST", "DELETE")] == before
    assert the_post(fake_wp, article)["status"] == "future"


def test_a_scheduled_article_approved_after_its_time_is_published_at_once_and_dated_now(writer, fake_wp, updates):
    article = approved(writer, "Late", publish_at=(timezone.now() + timedelta(hours=1)).isoformat())
    Article.objects.filter(pk=article.pk).update(publish_at=timezone.now() - timedelta(minutes=5))
    publish(article)
    post = the_post(fake_wp, article)
    assert post["status"] == "publish" and "date_gmt" not in post
    assert updates == [{"status": "publish", "slug": ""}]


@pytest.mark.parametrize(
    ("status", "slug"), [("draft", ""), ("pending", ""), ("private", "asked"), ("publish", "asked")]
)
def test_the_status_the_agent_asks_for_is_the_posts(writer, fake_wp, status, slug):
    article = approved(writer, "Asked", status=status)
    assert publish(article) == S.PUBLISHED
    assert (the_post(fake_wp, article)["status"], the_post(fake_wp, article)["slug"]) == (status, slug)
    assert article_status(article)["post_status"] == status


def test_without_a_status_the_sites_default_applies(site_config, fake_wp):
    site_config(publishing={"default_status": "pending"})
    article = approved(Agent.objects.get(pk="writer"), "Default")
    publish(article)
    assert the_post(fake_wp, article)["status"] == "pending"
    assert article_status(article)["post_status"] is None


# --- what is refused ---------------------------------------------------------------------------------------


def test_a_status_the_site_does_not_allow_is_refused_with_the_allowed_list(site_config):
    site_config(allowed_statuses=["publish", "draft"])
    writer = Agent.objects.get(pk="writer")
    error = refused(submit, writer=writer, status="private")
    assert (error.field, error.message) == (
        "status",
        "status 'private' is not allowed on site blog (allowed_statuses: publish, draft)",
    )
    assert submit(writer, status="draft").post_status == "draft"
    assert Article.objects.count() == 1


@pytest.mark.parametrize("status", ["future", "published", "trash", "Draft"])
def test_an_unknown_status_is_refused_naming_the_choices(writer, status):
    error = refused(submit, writer=writer, status=status)
    assert (error.field, error.message) == (
        "status",
        f"status must be one of publish, draft, pending, private (got {status!r}); to schedule a post, give publish_at",
    )


@pytest.mark.parametrize("value", ["2026-12-01T09:00:00", "2026-12-01 09:00", "2026-12-01"])
def test_a_publish_at_without_an_offset_is_refused_naming_the_rule(writer, value):
    error = refused(submit, writer=writer, publish_at=value)
    assert error.field == "publish_at"
    assert error.message == (
        f"publish_at must be {PUBLISH_AT_RULE}: {value!r} has no offset, so it names a different moment in "
        "every time zone"
    )


@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01T09:00:00Z", 1733043600])
def test_a_publish_at_that_is_no_date_time_is_refused(writer, value):
    error = refused(submit, writer=writer, publish_at=value)
    assert error.field == "publish_at" and error.message.startswith(f"publish_at must be {PUBLISH_AT_RULE}")


def test_a_publish_at_in_the_past_is_refused_by_name(writer):
    past = (timezone.now() - timedelta(minutes=1)).replace(microsecond=0)
    error = refused(submit, writer=writer, publish_at=past.isoformat())
    assert error.field == "publish_at"
    assert error.message.startswith(f"publish_at {past:%Y-%m-%d %H:%M:%S} UTC is in the past (now ")
    assert not Article.objects.exists()


def test_a_schedule_with_a_status_other_than_publish_is_refused(writer):
    error = refused(submit, writer=writer, publish_at=tomorrow().isoformat(), status="draft")
    assert (error.field, error.message) == (
        "publish_at",
        "publish_at schedules the post to go public: status must be publish or absent (got 'draft')",
    )


def test_a_schedule_on_a_site_that_allows_no_publish_is_refused(site_config):
    site_config(allowed_statuses=["draft"], publishing={"default_status": "draft"})
    error = refused(submit, writer=Agent.objects.get(pk="writer"), publish_at=tomorrow().isoformat())
    assert (error.field, error.message) == (
        "publish_at",
        "publish_at makes a post public, which site blog does not allow (allowed_statuses: draft)",
    )


def test_category_and_categories_together_are_refused_naming_both(writer):
    error = refused(submit, writer=writer, category="A", categories=["B"])
    assert (error.field, error.message) == ("categories", "give either category or categories, not both")


@pytest.mark.parametrize(
    ("categories", "message"),
    [
        ([f"c{n}" for n in range(11)], "at most 10 categories (got 11)"),
        ("A, B", "categories must be a list of category names"),
        (["A", 5], "categories must be a list of category names"),
        (["x" * 101], "each of categories must be at most 100 characters (got 101)"),
        (["<b>bold</b>"], "categories must be plain text: '<' in '<b>bold</b>' is not allowed"),
    ],
)
def test_bad_categories_are_refused(writer, categories, message):
    error = refused(submit, writer=writer, categories=categories)
    assert error.field == "categories" and error.message.startswith(message)


def test_an_excerpt_over_1000_characters_is_refused(writer):
    error = refused(submit, writer=writer, excerpt="x" * 1001)
    assert (error.field, error.message) == ("excerpt", "excerpt must be at most 1000 characters (got 1001)")
    assert submit(writer, excerpt="x" * 1000).excerpt == "x" * 1000


# --- revisions --------------------------------------------------------------------------------------------


def test_a_revision_sets_keeps_and_clears_each_field(writer):
    when = tomorrow()
    article = submit(writer, excerpt="First", categories=["A", "B"], status="draft")
    revise = lambda **fields: services.article_revise(agent=writer, article_id=article.pk, **fields)  # noqa: E731
    revised = revise(content_markdown="Changed")
    assert (revised.excerpt, revised.category_names, revised.post_status) == ("First", ["A", "B"], "draft")
    revised = revise(category="C")  # one category replaces the list
    assert (revised.category, revised.category_names) == ("C", ["C"])
    revised = revise(status="", publish_at=when.isoformat(), excerpt="")
    assert (revised.post_status, revised.publish_at, revised.excerpt) == ("", when, "")
    revised = revise(publish_at="", categories=[])
    assert (revised.publish_at, revised.category_names, revised.revision_number) == (None, [], 5)
    rows = list(revised.revisions.order_by("number").values_list("excerpt", "categories", "post_status", "publish_at"))
    assert rows == [
        ("First", ["A", "B"], "draft", None),
        ("First", ["A", "B"], "draft", None),
        ("First", ["C"], "draft", None),
        ("", ["C"], "", when),
        ("", [], "", None),
    ]
    with pytest.raises(ValidationFailed, match="the revision changes nothing"):
        revise(categories=[], excerpt="")
    assert refused(revise, status="private", publish_at=when.isoformat()).field == "publish_at"


def test_a_revision_that_only_changes_a_post_field_is_a_revision(writer):
    for fields in (
        {"excerpt": "E"},
        {"categories": ["A", "B"]},
        {"status": "draft"},
        {"publish_at": tomorrow().isoformat()},
    ):
        article = submit(writer)
        revised = services.article_revise(agent=writer, article_id=article.pk, **fields)
        assert revised.revision_number == 2 and revised.content_hash != article.content_hash


# --- the site's allowed_statuses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "publishing_settings", "message"),
    [
        (["publish", "future"], {}, "sites[0].allowed_statuses[1]: must be one of publish, draft, pending, private"),
        ([], {}, "sites[0].allowed_statuses: must name at least one of publish, draft, pending, private"),
        (["draft"], {}, "sites[0].allowed_statuses: must include publishing.default_status 'publish'"),
        ("publish", {}, "sites[0].allowed_statuses: expected a list"),
    ],
)
def test_allowed_statuses_are_checked_when_the_configuration_loads(
    config_files, fake_wp, allowed, publishing_settings, message
):
    config_files.write(
        agents=[agent_entry("writer")], sites=[blog(fake_wp, allowed_statuses=allowed)], publishing=publishing_settings
    )
    result = config_reload(sync=True)
    assert not result.ok
    assert any(problem.startswith(f"sites.yml: {message}") for problem in result.messages), result.messages


def test_allowed_statuses_default_to_every_status(site_config):
    assert site_config().site("blog").allowed_statuses == ("publish", "draft", "pending", "private")


# --- the site's time zone -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone_string", "gmt_offset", "expected"),
    [("Asia/Kolkata", 5.5, "Asia/Kolkata"), ("", "-3.5", "UTC-3:30"), ("", 0, "UTC"), ("", 10, "UTC+10")],
)
def test_the_health_check_reads_the_sites_time_zone(writer, fake_wp, timezone_string, gmt_offset, expected):
    fake_wp.timezone_string, fake_wp.gmt_offset = timezone_string, gmt_offset
    site = site_health_check(site_id="blog")
    assert (site.health_status, site.time_zone) == ("healthy", expected)
    assert Site.objects.get(pk="blog").time_zone == expected


def test_a_failed_time_zone_read_keeps_the_last_zone_and_the_site_healthy(writer, fake_wp):
    fake_wp.timezone_string = "Europe/Berlin"
    site_health_check(site_id="blog")
    fake_wp.fail("GET", "/wp-json/", Failure(status=500))
    site = site_health_check(site_id="blog")
    assert (site.health_status, site.time_zone) == ("healthy", "Europe/Berlin")


def article_page(client, article: Article) -> str:
    client.force_login(UserFactory(username="alice", is_staff=True))
    response = client.get(reverse("console:article", args=[article.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_article_page_shows_the_fields_and_the_schedule_in_the_sites_zone(client, writer, fake_wp):
    when = datetime(2030, 1, 15, 9, 0, tzinfo=UTC)
    article = submit(writer, excerpt="The short of it", categories=["Guides", "Python"], publish_at=when.isoformat())
    page = article_page(client, article)
    assert "<dt>Categories</dt><dd>Guides, Python</dd>" in page
    assert "<dt>Excerpt</dt><dd>The short of it</dd>" in page
    print("PAGE", page[page.find("<dt>Excerpt") : page.find("<dt>Revision")])
    assert "2030-01-15 09:00:00</time> (the site's time zone is not known yet)" in page
    fake_wp.timezone_string = "Asia/Kolkata"
    site_health_check(site_id="blog")
    page = article_page(client, article)
    assert "2030-01-15 09:00:00</time> (2030-01-15 14:30 Asia/Kolkata on the site)" in page


def test_the_article_page_shows_a_requested_status(client, writer):
    page = article_page(client, submit(writer, status="private"))
    assert "<dt>Post status</dt><dd>private</dd>" in page and "Scheduled for" not in page


# --- the tools --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_tools_take_the_fields_and_get_article_status_shows_the_schedule(loaded_config, fake_wp):
    from mcp_bridge.identity import stdio_identity
    from mcp_bridge.server import build_server

    loaded_config(agents=[agent_entry("writer")], sites=[blog(fake_wp, allowed_statuses=["publish", "draft"])])
    when = tomorrow()

    async def calls() -> tuple:
        async with Client(build_server(with_auth=False)) as client:
            submitted = await client.call_tool(
                "submit_article",
                {
                    "title": "T",
                    "content_markdown": "x",
                    "excerpt": "E",
                    "categories": ["A", "B"],
                    "publish_at": when.isoformat(),
                },
            )
            article_id = submitted.structured_content["id"]
            status = await client.call_tool("get_article_status", {"article_id": article_id})
            revised = await client.call_tool(
                "revise_article", {"article_id": article_id, "publish_at": "", "status": "draft"}
            )
            private = await client.call_tool(
                "submit_article", {"title": "T", "content_markdown": "x", "status": "private"}
            )
            both = await client.call_tool(
                "submit_article", {"title": "T", "content_markdown": "x", "category": "A", "categories": ["B"]}
            )
            return status, revised, private, both

    stdio_identity.agent_id = "writer"
    try:
        status, revised, private, both = anyio.run(calls)
    finally:
        stdio_identity.agent_id = None
    assert status.structured_content["scheduled_for"] == when.astimezone(UTC).isoformat()
    assert status.structured_content["categories"] == ["A", "B"]
    assert (revised.structured_content["scheduled_for"], revised.structured_content["post_status"]) == (None, "draft")
    assert revised.structured_content["excerpt"] == "E"
    assert [r["scheduled_for"] for r in revised.structured_content["revisions"]] == [
        when.astimezone(UTC).isoformat(),
        None,
    ]
    assert private.is_error and private.content[0].text == (
        "VALIDATION_ERROR: status 'private' is not allowed on site blog (allowed_statuses: publish, draft)"
    )
    assert both.is_error and both.content[0].text == "VALIDATION_ERROR: give either category or categories, not both"
