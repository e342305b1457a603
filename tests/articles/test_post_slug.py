"""Clean public URLs with exactly-once kept (issue 16): a post is created as a draft with its delivery slug
(found again by it), recorded, then made public and renamed in one update to the agent's slug or
WordPress's own slug of the title. Whenever the worker dies, the next attempt ends with one public post
under the clean slug. Against the fake WordPress; tests/articles/test_slow_slug.py does it on a real one."""

from __future__ import annotations

import html
from datetime import timedelta

import anyio
import pytest
from django.utils import timezone
from django.utils.text import slugify
from mcp import Client

from agents.models import Agent
from articles import services
from articles.models import Article, ArticleStatus
from articles.serializers import article_detail
from articles.services import publishing
from audit.models import AuditLog
from core.exceptions import ValidationFailed
from sites.exceptions import WordPressError
from sites.wordpress import WordPressClient
from tests.conftest import agent_entry, site_entry
from tests.sites.fake_wordpress import FakeWordPress
from tests.support.publishing import approved, publish

pytestmark = pytest.mark.django_db

S = ArticleStatus
SLUG_RULE = (
    "slug must be 1 to 200 lowercase letters (of any script), digits and single hyphens, "
    "starting and ending with a letter or digit"
)


@pytest.fixture
def like_wordpress(monkeypatch):
    """The fake WordPress names a post made public without a slug after its title, as WordPress does
    (`sanitize_title`; the titles here are ASCII, the real-WordPress test has a Chinese one)."""
    settle = FakeWordPress._settle_slug

    def settle_like_wordpress(self, post: dict) -> None:
        if not post.get("slug") and post.get("status", "draft") not in ("draft", "pending"):
            post["slug"] = slugify(html.unescape(post["title"]))
        settle(self, post)

    monkeypatch.setattr(FakeWordPress, "_settle_slug", settle_like_wordpress)


@pytest.fixture
def writer(loaded_config, fake_wp, eager, like_wordpress) -> Agent:
    loaded_config(
        agents=[agent_entry("writer")],
        sites=[site_entry("blog", name="Blog", api_url=fake_wp.api_url, app_password=fake_wp.password)],
        publishing={"retry_attempts": 2, "retry_delay": 1, "timeout": 2},
    )
    return Agent.objects.get(pk="writer")


def publish_after_the_dead_worker(article: Article) -> str:
    """The next delivery of the task once the dead worker's claim has expired."""
    Article.objects.filter(pk=article.pk).update(publish_claimed_at=timezone.now() - timedelta(minutes=5))
    return publish(article)


def die_once(monkeypatch, owner: object, name: str) -> None:
    """The worker dies (SystemExit: no handler catches it) on its first call of `owner.name`."""
    real = getattr(owner, name)
    calls = []

    def dying(*args, **kwargs):
        if not calls:
            calls.append(1)
            raise SystemExit(f"worker killed at {name}")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, dying)


def the_one_post(fake_wp: FakeWordPress, article: Article) -> dict:
    """The article's one post, public under a clean slug, recorded as its post."""
    article.refresh_from_db()
    assert article.status == S.PUBLISHED, article.publish_error_message
    (post,) = fake_wp.untrashed()
    assert post["status"] == "publish"
    assert (article.wordpress_post_id, article.wordpress_permalink) == (post["id"], post["link"])
    return post


def writes(fake_wp: FakeWordPress) -> list[tuple[str, str]]:
    return [call for call in fake_wp.calls if call[0] in ("POST", "DELETE") and call[1].startswith("/posts")]


# --- the public slug -------------------------------------------------------------------------------------


def test_a_post_is_public_under_the_slug_of_its_title_without_id_or_hash(writer, fake_wp):
    article = approved(writer, "Building a Webhook Consumer")
    assert publish(article) == S.PUBLISHED
    post = the_one_post(fake_wp, article)
    assert post["slug"] == "building-a-webhook-consumer"
    assert post["link"] == "http://wp.test/building-a-webhook-consumer/"
    # One create (a draft, with the delivery slug), one update that makes it public and renames it.
    assert writes(fake_wp) == [("POST", "/posts"), ("POST", f"/posts/{post['id']}")]


def test_the_slug_the_agent_set_wins_and_is_shown(writer, fake_wp):
    article = approved(writer, "Building a Webhook Consumer", slug="webhooks-步骤")
    publish(article)
    assert the_one_post(fake_wp, article)["slug"] == "webhooks-步骤"
    article.refresh_from_db()
    detail = article_detail(article, list(article.revisions.all()))
    assert (detail["slug"], detail["wordpress_permalink"]) == ("webhooks-步骤", "http://wp.test/webhooks-步骤/")


def test_a_second_article_with_the_same_title_gets_a_suffixed_slug(writer, fake_wp):
    first, second = approved(writer, "Same Title"), approved(writer, "Same Title")
    publish(first)
    publish(second)
    assert sorted(p["slug"] for p in fake_wp.posts) == ["same-title", "same-title-2"]
    assert all(p["status"] == "publish" for p in fake_wp.posts)


def test_a_draft_by_default_status_keeps_no_delivery_slug(loaded_config, writer, fake_wp):
    """publishing.default_status draft: the post stays a draft without the delivery slug, so WordPress names
    it after its title when someone publishes it (or it keeps the agent's slug)."""
    config = loaded_config(
        sites=[
            {
                "id": "blog",
                "name": "Blog",
                "api_url": fake_wp.api_url,
                "username": "publisher",
                "app_password": fake_wp.password,
            }
        ],
        publishing={"default_status": "draft"},
    )
    assert config.publishing.default_status == "draft"
    plain, named = approved(writer, "Plain"), approved(writer, "Named", slug="named-by-agent")
    publish(plain)
    publish(named)
    assert {p["id"]: (p["status"], p["slug"]) for p in fake_wp.posts} == {
        Article.objects.get(pk=plain.pk).wordpress_post_id: ("draft", ""),
        Article.objects.get(pk=named.pk).wordpress_post_id: ("draft", "named-by-agent"),
    }


# --- exactly once, whenever the worker dies -----------------------------------------------------------


def test_a_worker_dead_after_the_create_before_the_record(writer, fake_wp, monkeypatch):
    article = approved(writer, "Died After Create")
    die_once(monkeypatch, publishing, "article_publish_post_record")
    with pytest.raises(SystemExit):
        publish(article)
    (draft,) = fake_wp.posts
    assert (draft["status"], draft["slug"]) == ("draft", services.post_slug(article))  # never public
    assert Article.objects.get(pk=article.pk).wordpress_post_id is None
    assert publish_after_the_dead_worker(article) == S.PUBLISHED
    post = the_one_post(fake_wp, article)
    assert (post["id"], post["slug"]) == (draft["id"], "died-after-create")


def test_a_worker_dead_after_the_record_before_the_rename(writer, fake_wp, monkeypatch):
    article = approved(writer, "Died After Record", slug="agent-slug")
    die_once(monkeypatch, WordPressClient, "post_update")
    with pytest.raises(SystemExit):
        publish(article)
    (draft,) = fake_wp.posts
    assert (draft["status"], draft["slug"]) == ("draft", services.post_slug(article))
    assert Article.objects.get(pk=article.pk).wordpress_post_id == draft["id"]
    assert publish_after_the_dead_worker(article) == S.PUBLISHED
    post = the_one_post(fake_wp, article)
    assert (post["id"], post["slug"]) == (draft["id"], "agent-slug")


def test_a_worker_dead_after_the_rename_before_success(writer, fake_wp, monkeypatch):
    article = approved(writer, "Died After Rename")
    die_once(monkeypatch, publishing, "article_publish_succeed")
    with pytest.raises(SystemExit):
        publish(article)
    (live,) = fake_wp.posts
    assert (live["status"], live["slug"]) == ("publish", "died-after-rename")
    before = len(writes(fake_wp))
    # The delivery slug no longer finds the post: the recorded id does, and nothing is written again.
    assert publish_after_the_dead_worker(article) == S.PUBLISHED
    post = the_one_post(fake_wp, article)
    assert (post["id"], post["slug"]) == (live["id"], "died-after-rename")
    assert len(writes(fake_wp)) == before


def test_a_rename_whose_answer_was_lost_is_not_done_twice(writer, fake_wp, monkeypatch):
    """The update that publishes and renames landed, but its answer never came back (a timeout)."""
    real = WordPressClient.post_update
    lost = []

    def update_answer_lost(self, post_id, **fields):
        real(self, post_id, **fields)
        if not lost:
            lost.append(post_id)
            raise WordPressError("timed out", retryable=True, reason="timed out")
        return real(self, post_id, **fields)

    monkeypatch.setattr(WordPressClient, "post_update", update_answer_lost)
    article = approved(writer, "Lost Answer")
    assert publish(article) == S.PUBLISHED
    assert the_one_post(fake_wp, article)["slug"] == "lost-answer"
    assert Article.objects.get(pk=article.pk).publish_attempts == 2


def test_a_worker_whose_claim_was_taken_over_leaves_its_draft_to_the_new_claimant(writer, fake_wp, monkeypatch):
    """The post id must be recorded before the post loses its delivery slug: a worker that can no longer
    record it (another took the publish over) stops before making anything public."""
    real = WordPressClient.post_create

    def create_then_lose_the_claim(self, **fields):
        created = real(self, **fields)
        Article.objects.filter(pk=article.pk).update(
            publish_claimed_by="elsewhere:1", publish_claimed_at=timezone.now()
        )
        return created

    article = approved(writer, "Taken Over")
    with monkeypatch.context() as patch:
        patch.setattr(WordPressClient, "post_create", create_then_lose_the_claim)
        assert publish(article) == "skipped"
    (draft,) = fake_wp.posts
    assert (draft["status"], draft["slug"]) == ("draft", services.post_slug(article))
    assert publish_after_the_dead_worker(article) == S.PUBLISHED
    assert the_one_post(fake_wp, article)["id"] == draft["id"]


def test_a_duplicate_task_after_the_publish_writes_nothing(writer, fake_wp):
    article = approved(writer, "Twice")
    assert publish(article) == S.PUBLISHED
    before = len(writes(fake_wp))
    assert publish(article) == "skipped"
    assert len(writes(fake_wp)) == before and the_one_post(fake_wp, article)["slug"] == "twice"


def test_reconciliation_trashes_late_drafts_with_the_delivery_slug_never_the_renamed_post(writer, fake_wp):
    article = approved(writer, "Late Drafts")
    publish(article)
    keeper = the_one_post(fake_wp, article)
    late = {"id": 999, "slug": services.post_slug(article), "status": "draft", "link": "", "title": "Late Drafts"}
    fake_wp.posts.append(late)  # a create whose answer was lost lands after the publish
    assert services.article_post_reconcile(article_id=article.pk) == [999]
    assert late["status"] == "trash"
    assert (keeper["status"], keeper["slug"]) == ("publish", "late-drafts")
    (trashed,) = AuditLog.objects.filter(article_id=article.pk, event_type="publish_duplicate_trashed")
    assert trashed.metadata["kept_post_id"] == keeper["id"]


# --- the slug argument ---------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["hello-world", "中文-标题", "привет-мир", "हिन्दी", "café-2", "2026", "a"])
def test_slugs_of_lowercase_letters_of_any_script_digits_and_hyphens_are_kept(writer, slug):
    article = services.article_submit(agent=writer, title="T", content_markdown="x", slug=slug)
    assert Article.objects.get(pk=article.pk).slug == slug
    assert article.revisions.get().slug == slug


@pytest.mark.parametrize(
    "slug",
    ["Hello", "hello world", "hello_world", "-hello", "hello-", "hello--world", "a.b", "a/b", "ПРИВЕТ", "x" * 201],
)
def test_a_bad_slug_is_refused_naming_the_field_and_the_rule(writer, slug):
    with pytest.raises(ValidationFailed) as refused:
        services.article_submit(agent=writer, title="T", content_markdown="x", slug=slug)
    assert refused.value.field == "slug" and refused.value.message.startswith(SLUG_RULE)
    assert not Article.objects.exists()


def test_a_slug_that_is_not_a_string_is_refused(writer):
    with pytest.raises(ValidationFailed) as refused:
        services.article_submit(agent=writer, title="T", content_markdown="x", slug=5)
    assert (refused.value.field, refused.value.message) == ("slug", "slug must be a string")


def test_a_revision_sets_keeps_and_clears_the_slug(writer):
    article = services.article_submit(agent=writer, title="T", content_markdown="x")
    revised = services.article_revise(agent=writer, article_id=article.pk, slug="own-slug")
    assert (revised.slug, revised.revision_number) == ("own-slug", 2)  # a change of its own: a new revision
    revised = services.article_revise(agent=writer, article_id=article.pk, content_markdown="y")
    assert (revised.slug, revised.revision_number) == ("own-slug", 3)
    revised = services.article_revise(agent=writer, article_id=article.pk, slug="")
    assert (revised.slug, revised.revision_number) == ("", 4)
    assert [r.slug for r in revised.revisions.order_by("number")] == ["", "own-slug", "own-slug", ""]
    with pytest.raises(ValidationFailed, match="the revision changes nothing"):
        services.article_revise(agent=writer, article_id=article.pk, slug="")


@pytest.mark.django_db(transaction=True)
def test_the_tools_take_the_slug_and_show_it(loaded_config):
    from mcp_bridge.identity import stdio_identity
    from mcp_bridge.server import build_server
    from tests.conftest import site_entry

    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog")])

    async def calls() -> tuple:
        async with Client(build_server(with_auth=False)) as client:
            submitted = await client.call_tool(
                "submit_article", {"title": "T", "content_markdown": "x", "slug": "clean-url"}
            )
            article_id = submitted.structured_content["id"]
            revised = await client.call_tool("revise_article", {"article_id": article_id, "slug": "cleaner-url"})
            refused = await client.call_tool("submit_article", {"title": "T", "content_markdown": "x", "slug": "A B"})
            detail = await client.call_tool("get_article", {"article_id": article_id})
            return revised, refused, detail

    stdio_identity.agent_id = "writer"
    try:
        revised, refused, detail = anyio.run(calls)
    finally:
        stdio_identity.agent_id = None
    assert revised.structured_content["slug"] == "cleaner-url"
    assert [r["slug"] for r in revised.structured_content["revisions"]] == ["clean-url", "cleaner-url"]
    assert detail.structured_content["slug"] == "cleaner-url"
    assert refused.is_error and refused.content[0].text == f"VALIDATION_ERROR: {SLUG_RULE} (got 'A B')"
