"""The console in a real browser (Playwright driving Debian's Chromium) against a real deployment: web
server, Celery worker (embedded broker: its events reach the console through the outbox), a real
WordPress, and agents over MCP with the SDK client. Screenshots go to test-artifacts/console/."""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
import uuid

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from core.keys import key_generate
from tests.support.browser import chromium_launch, chromium_required, reviewer_login
from tests.support.deployment import ROOT, Deployment

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts" / "console"
XSS = (
    "Safe **text**.\n\n<script>alert('script')</script>\n\n<img src=x onerror=\"alert('img')\">\n\n"
    '[click me](javascript:alert(\'link\'))\n\n<div hx-get="/admin/" hx-trigger="load">htmx</div>\n\n'
    '<svg onload="alert(\'svg\')"><circle r="5"/></svg>\n'
)


@pytest.fixture(scope="module")
def console(tmp_path_factory, real_wordpress):
    chromium_required()
    from playwright.sync_api import sync_playwright

    keys = {"writer": key_generate()[1], "editor": key_generate()[1]}
    agents = [
        {"id": "writer", "name": "Writer", "role": "content-creator", "api_key": keys["writer"]},
        {
            "id": "editor",
            "name": "Editor",
            "role": "editor",
            "api_key": keys["editor"],
            "scopes": ["article:submit", "article:read", "article:review"],
        },
    ]
    world = Deployment(
        tmp_path_factory.mktemp("console"),
        agents=agents,
        sites=[real_wordpress.site_entry("wp1")],
        publishing={"retry_attempts": 1, "retry_delay": 1, "timeout": 15},
    )
    password = re.search(r"password \(shown once\): (\S+)", world.manage("init", "--reviewer", "alice")).group(1)
    world.start_web()
    world.start_worker(concurrency=2)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        browser = chromium_launch(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        reviewer_login(page, world.url, "alice", password)
        yield {"world": world, "page": page, "keys": keys, "wordpress": real_wordpress}
        browser.close()
    world.close()


def submit_over_mcp(console, title: str, content: str = "Body of the article.") -> int:
    """An agent submits with the MCP SDK client (on its own thread and event loop)."""
    result: dict = {}

    async def submit() -> None:
        headers = {"Authorization": f"Bearer {console['keys']['writer']}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(f"{console['world'].url}/mcp", http_client=http)) as client,
        ):
            submitted = await client.call_tool("submit_article", {"title": title, "content_markdown": content})
            result["id"] = submitted.structured_content["id"]

    thread = threading.Thread(target=lambda: asyncio.run(submit()))
    thread.start()
    thread.join(60)
    return result["id"]


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_the_dashboard_and_main_pages_render(console):
    page, url = console["page"], console["world"].url
    for name, path in [
        ("dashboard", "/"),
        ("sites", "/sites/"),
        ("agents", "/agents/"),
        ("config", "/config/"),
        ("audit", "/audit/"),
        ("monitoring", "/monitoring/"),
    ]:
        page.goto(f"{url}{path}")
        page.wait_for_selector("main h1, main .counts")
        shot(page, name)
    assert page.locator("#live-status.on").count() == 1  # the websocket is connected


def test_a_submission_appears_and_an_approval_publishes_without_a_reload(console):
    page, url, wordpress = console["page"], console["world"].url, console["wordpress"]
    page.goto(f"{url}/articles/")
    page.wait_for_selector("#live-status.on")
    title = f"Live article {uuid.uuid4().hex[:6]}"
    article_id = submit_over_mcp(console, title)
    page.wait_for_selector(f"#article-row-{article_id}", timeout=30000)  # arrived live, no reload
    shot(page, "queue")
    page.click(f"#article-row-{article_id} a")
    page.wait_for_selector("#approve")
    page.fill("textarea[name=reviewer_notes]", "Looks good")
    page.click("#approve")
    # The worker publishes it; the page hears of it over the websocket and refreshes its status.
    page.wait_for_selector("#article-status-value:text-is('published')", timeout=60000)
    # Every part of the page caught up, without a reload: the published entry in History, no review forms,
    # and the "approved; publishing" message gone with the status it was about.
    page.wait_for_selector("#article-history li:has-text('published to wp1 as post')", timeout=10000)
    assert page.locator("#approve, #reject").count() == 0
    assert "publishing" not in page.locator("#article-messages").text_content()
    assert page.locator("main h1").text_content().strip() == f"#{article_id} {title}"
    shot(page, "article-published")
    link = page.locator("#live-post-link").get_attribute("href")
    slug = link.rstrip("/").rsplit("/", 1)[-1]
    assert [post["title"]["raw"] for post in wordpress.posts_with_slug("wp1", slug)] == [title]


def test_reject_with_a_reason(console):
    page, url = console["page"], console["world"].url
    article_id = submit_over_mcp(console, f"To reject {uuid.uuid4().hex[:6]}")
    page.goto(f"{url}/articles/{article_id}/")
    page.fill("textarea[name=rejection_reason]", "Off-topic for this site")
    page.click("#reject")
    page.wait_for_selector("text=Rejected because")
    assert page.locator("#article-status-value").text_content().strip() == "rejected"
    assert "Off-topic for this site" in page.locator("#article-status").text_content()


def test_batch_approve(console):
    page, url = console["page"], console["world"].url
    ids = [submit_over_mcp(console, f"Batch {n} {uuid.uuid4().hex[:6]}") for n in range(2)]
    page.goto(f"{url}/articles/?status=pending_review")
    for article_id in ids:
        page.check(f"#article-row-{article_id} input[type=checkbox]")
    page.click("button[value=approve]")
    page.wait_for_selector("#messages .message:has-text('Approved 2.')")  # one summary for the batch
    statuses = console["world"].run(
        "from articles.models import Article\n"
        f"result = list(Article.objects.filter(pk__in={ids}).values_list('status', flat=True))"
    )
    assert set(statuses) <= {"publishing", "published"}


def test_the_config_editor_refuses_invalid_yaml_and_keeps_the_running_config(console):
    page, url, world = console["page"], console["world"].url, console["world"]
    before = (world.config_dir / "agents.yml").read_text()
    page.goto(f"{url}/config/?file=agents.yml")
    page.fill("textarea[name=text]", "agents:\n  - id: writer\n    name: [unclosed\n")
    page.click("button[value=save]")
    page.wait_for_selector("#config-problems")
    assert "agents.yml: line" in page.locator("#config-problems").text_content()
    shot(page, "config-invalid")
    assert (world.config_dir / "agents.yml").read_text() == before
    agents = world.run(
        "from agents.models import Agent\n"
        "result = sorted(Agent.objects.filter(is_active=True).values_list('id', flat=True))"
    )
    assert agents == ["editor", "writer"]


def test_an_article_carrying_xss_payloads_renders_inert(console):
    page, url = console["page"], console["world"].url
    article_id = submit_over_mcp(console, "XSS <script>alert('title')</script>", XSS)
    dialogs, requests = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{url}/articles/{article_id}/")
    page.wait_for_selector(".preview")
    page.wait_for_timeout(1500)  # time for anything that would fire on load
    page.click("text=click me")
    page.wait_for_timeout(500)
    shot(page, "article-xss")
    assert dialogs == []
    assert not [r for r in requests if "/admin/" in r or r.startswith("javascript:")]
    assert page.locator(".preview script, .preview [onerror], .preview svg, .preview [hx-get]").count() == 0
    assert "Safe" in page.locator(".preview").text_content()
