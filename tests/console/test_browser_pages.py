"""Every console page in a real browser (Playwright driving Debian's Chromium), at 1280 and 390 px, against a
real deployment: web server, Celery worker, a real WordPress and a site that is down, agents over MCP with the
SDK client. On each page the test fires every action the page offers and a live event of every kind (an agent
connecting and leaving, a submission, a revision, an approval, a rejection, a publish, a failed publish, a
site's health changing), then checks the page is still whole: the same heading, the navigation, the forms the
page must keep, no htmx error and no script error in the browser console, no horizontal overflow, and no
serious accessibility violation (axe-core, vendored in tests/support/vendor). Screenshots of every page at
both widths go to test-artifacts/console-pages/."""

from __future__ import annotations

import asyncio
import functools
import re
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from core.keys import key_generate
from tests.support.browser import chromium_launch, chromium_required, reviewer_login
from tests.support.deployment import ROOT, Deployment

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts" / "console-pages"
AXE = Path(__file__).parents[1] / "support" / "vendor" / "axe-4.14.1.min.js"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
CONSOLE_NAV = "#site-nav a[href='/articles/']"
ADMIN_NAV = "#header a[href='/']"  # the admin's way back to the console

# Recorded in the page before any of its scripts run: every htmx error event and every script error.
ERROR_PROBE = """
window.__pageErrors = [];
["htmx:targetError", "htmx:swapError", "htmx:responseError", "htmx:sendError", "htmx:onLoadError",
 "htmx:oobErrorNoTarget", "htmx:syntax:error", "htmx:invalidPath", "htmx:historyCacheMissLoadError",
 "htmx:timeout"].forEach(function (name) {
  document.addEventListener(name, function (evt) {
    var detail = evt.detail || {};
    var status = detail.xhr ? " " + detail.xhr.status + " " + (detail.xhr.responseURL || "") : "";
    window.__pageErrors.push(name + status);
  });
});
window.addEventListener("error", function (evt) { window.__pageErrors.push("error " + evt.message); });
"""


@dataclass
class Console:
    world: Deployment
    keys: dict[str, str]
    password: str
    wordpress: object
    browser: object
    failed: int | None = None  # an article approved for the site that is down

    @property
    def url(self) -> str:
        return self.world.url


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
            "scopes": ["article:submit", "article:read", "article:revise"],
        },
    ]
    down = {
        "id": "down",
        "name": "Site that is down",
        "api_url": "http://127.0.0.1:9/wp-json/wp/v2/",
        "username": "nobody",
        "app_password": "abcd efgh ijkl mnop qrst uvwx",
        "default_category": "News",
    }
    world = Deployment(
        tmp_path_factory.mktemp("console-pages"),
        agents=agents,
        sites=[real_wordpress.site_entry("wp1", default=True), down],
        publishing={"retry_attempts": 2, "retry_delay": 4, "timeout": 10},
    )
    password = re.search(r"password \(shown once\): (\S+)", world.manage("init", "--reviewer", "alice")).group(1)
    world.start_web()
    world.start_worker(concurrency=2)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        browser = chromium_launch(playwright)
        state = Console(world=world, keys=keys, password=password, wordpress=real_wordpress, browser=browser)
        for n in range(3):  # the queue has rows to tick from the start
            submit(state, f"Waiting for review {n}", "writer")
        yield state
        browser.close()
    world.close()


# --- what agents and the system do meanwhile -----------------------------------------------------------------


def on_thread(coroutine_function: Callable) -> object:
    """Run an async MCP client on its own thread and event loop (Playwright's sync API owns this one)."""
    result: dict = {}

    def run() -> None:
        result["value"] = asyncio.run(coroutine_function())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(90)
    return result.get("value")


def mcp_client(state: Console, agent: str):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {state.keys[agent]}"}, timeout=30)
    return http, Client(streamable_http_client(f"{state.url}/mcp", http_client=http))


def submit(state: Console, title: str, agent: str = "writer", site: str | None = None) -> int:
    async def go() -> int:
        http, client = mcp_client(state, agent)
        async with http, client:
            arguments = {"title": f"{title} {uuid.uuid4().hex[:4]}", "content_markdown": "A paragraph.\n\n- one\n- two"}
            if site:
                arguments["target_site"] = site
            submitted = await client.call_tool("submit_article", arguments)
            return submitted.structured_content["id"]

    return on_thread(go)


def stir(state: Console) -> None:
    """A live event of every kind: an agent connects, submits, revises and leaves; one article is approved
    and published, one rejected, one fails to publish to the site that is down; that site's health changes."""

    async def agents_work() -> None:
        http, client = mcp_client(state, "writer")
        async with http, client:
            submitted = await client.call_tool(
                "submit_article", {"title": f"Stirred {uuid.uuid4().hex[:4]}", "content_markdown": "Text."}
            )
            article_id = submitted.structured_content["id"]
            await client.call_tool(
                "revise_article",
                {"article_id": article_id, "content_markdown": "Text, revised.", "note": "tighter"},
            )

    on_thread(agents_work)
    to_publish, to_reject = submit(state, "Stir publish"), submit(state, "Stir reject")
    to_fail = submit(state, "Stir fail", site="down")
    state.world.run(
        "from agents.actors import Actor\n"
        "from django.contrib.auth import get_user_model\n"
        "from articles.services import article_approve, article_reject\n"
        "from sites.services import site_health_check\n"
        "actor = Actor(user=get_user_model().objects.get(username='alice'))\n"
        f"article_approve(actor=actor, article_id={to_publish}, expected_revision=1)\n"
        f"article_approve(actor=actor, article_id={to_fail}, expected_revision=1)\n"
        f"article_reject(actor=actor, article_id={to_reject}, rejection_reason='Off-topic', expected_revision=1)\n"
        "site_health_check(site_id='down')\n"
    )


# --- the browser side -----------------------------------------------------------------------------------------


def open_page(state: Console, size: str):
    width, height = WIDTHS[size]
    context = state.browser.new_context(viewport={"width": width, "height": height}, timezone_id="Europe/Berlin")
    context.add_init_script(ERROR_PROBE)
    page = context.new_page()
    messages: list[str] = []
    # Errors of the page's own scripts and of the browser about the page; not those of code the test evaluates
    # (axe-core sets inline styles, which the page's CSP refuses): that code has no URL.
    page.on(
        "console",
        lambda message: message.type == "error" and message.location.get("url") and messages.append(message.text),
    )
    page.on("pageerror", lambda error: messages.append(f"pageerror {error}"))
    reviewer_login(page, state.url, "alice", state.password)
    return context, page, messages


def whole(page, must_keep: list[str], heading: str, nav: str = CONSOLE_NAV) -> None:
    """The page is still whole: its heading, the navigation, the parts it must keep, and no error."""
    assert page.locator("main h1").first.text_content().strip() == heading
    assert page.locator(nav).count() == 1
    for selector in must_keep:
        assert page.locator(selector).count() >= 1, f"{selector} is gone from {page.url}"
    assert page.evaluate("window.__pageErrors") == []
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} overflows by {overflow}px"


# What the page's CSP says when axe-core, which the test runs in the page, sets an inline style (its contrast
# checks do): the page's own inline styles are caught at any other time.
AXE_STYLE_REFUSED = "Applying inline style violates the following Content Security Policy directive"


def accessible(page, messages: list[str]) -> None:
    already = len(messages)
    page.evaluate(AXE.read_text())
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))"
    )
    page.wait_for_timeout(300)  # the browser reports a refused style a moment later
    messages[already:] = [m for m in messages[already:] if not m.startswith(AXE_STYLE_REFUSED)]
    assert violations == [], page.url


def live_round(page, state: Console) -> None:
    """Everything happens while the page is open; the page hears of it and refreshes its regions."""
    page.wait_for_selector("#live-status.on", state="attached", timeout=20000)
    stir(state)
    page.wait_for_timeout(2500)  # the events arrive within about a second; the regions refresh after 300 ms


@dataclass(frozen=True)
class PageCase:
    name: str
    path: Callable[[Console], str]
    heading: Callable[[Console], str]
    must_keep: list[str]
    act: Callable | None = None
    nav: str = CONSOLE_NAV
    live: bool = True  # the page listens to live events (the admin does not: it is whole after them all the same)


def act_queue(page, state: Console) -> None:
    page.locator("form.filters select[name=site]").select_option("wp1")
    page.wait_for_load_state("networkidle")
    page.locator("form.filters select[name=site]").select_option("")
    page.wait_for_load_state("networkidle")
    boxes = page.locator("#batch input[type=checkbox][name=article]")
    assert boxes.count() >= 1
    boxes.first.check()
    page.locator("#batch button[value=approve]").click()
    page.wait_for_selector("#messages .message")
    page.keyboard.press("?")
    page.keyboard.press("Escape")


def act_article(page, state: Console) -> None:
    page.fill("textarea[name=reviewer_notes]", "Fine")
    page.click("#approve")
    page.wait_for_selector("#approve", state="detached", timeout=20000)  # no longer pending: no review forms


def act_failed_article(page, state: Console) -> None:
    page.wait_for_selector("button[value=retry]", timeout=90000)
    page.click("button[value=retry]")
    page.wait_for_selector("#messages .message")


def act_sites(page, state: Console) -> None:
    for _ in range(2):  # a second click works too
        page.locator("form[action$='/sites/down/check'] button").click()
        page.wait_for_load_state("networkidle")
        page.wait_for_selector("#messages .message")


def act_agents(page, state: Console) -> None:
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("form[action$='/agents/editor/keys'] button[value=rotate]").click()
    page.wait_for_selector(".new-key")


def act_audit(page, state: Console) -> None:
    page.locator("form.filters select[name=agent]").select_option("writer")
    page.wait_for_load_state("networkidle")


def act_config(page, state: Console) -> None:
    page.click("button[value=validate]")
    page.wait_for_selector("#config-valid, #config-problems")


def failed_article(state: Console) -> int:
    if state.failed is None:
        state.failed = submit(state, "Will fail", site="down")
        state.world.run(
            "from agents.actors import Actor\nfrom django.contrib.auth import get_user_model\n"
            "from articles.services import article_approve\n"
            "actor = Actor(user=get_user_model().objects.get(username='alice'))\n"
            f"article_approve(actor=actor, article_id={state.failed}, expected_revision=1)\n"
        )
    return state.failed


PAGES = [
    PageCase("dashboard", lambda s: "/", lambda s: "Dashboard", ["#dashboard"]),
    PageCase(
        "queue", lambda s: "/articles/", lambda s: "Review queue", ["form.filters", "#batch #queue-table"], act_queue
    ),
    PageCase(
        "article",
        lambda s: f"/articles/{submit(s, 'To review')}/",
        lambda s: "",
        ["#article-status", ".preview"],
        act_article,
    ),
    PageCase(
        "article-failed",
        lambda s: f"/articles/{failed_article(s)}/",
        lambda s: "",
        ["#article-status", ".preview"],
        act_failed_article,
    ),
    PageCase(
        "sites",
        lambda s: "/sites/",
        lambda s: "Sites",
        ["#sites-table", "form[action$='/sites/down/check']"],
        act_sites,
    ),
    PageCase("agents", lambda s: "/agents/", lambda s: "Agents", ["form[action$='/agents/writer/keys']"], act_agents),
    PageCase("config", lambda s: "/config/", lambda s: "Configuration", ["textarea[name=text]"], act_config),
    PageCase("audit", lambda s: "/audit/", lambda s: "Audit log", ["form.filters", "table"], act_audit),
    PageCase("monitoring", lambda s: "/monitoring/", lambda s: "Monitoring", ["#monitoring"]),
    PageCase(
        "admin", lambda s: "/admin/", lambda s: "Site administration", ["#content-main"], nav=ADMIN_NAV, live=False
    ),
    PageCase(
        "admin-article",
        lambda s: f"/admin/articles/article/{failed_article(s)}/change/",
        lambda s: "",
        [".wpub-preview"],
        nav=ADMIN_NAV,
        live=False,
    ),
]


@pytest.mark.parametrize("size", list(WIDTHS))
@pytest.mark.parametrize("case", PAGES, ids=[case.name for case in PAGES])
def test_the_page_stays_whole_under_live_events_and_its_actions(console, case, size):
    context, page, messages = open_page(console, size)
    try:
        page.goto(console.url + case.path(console))
        page.wait_for_selector("main h1")
        heading = case.heading(console) or page.locator("main h1").first.text_content().strip()
        checks = (case.must_keep, heading, case.nav)
        whole(page, *checks)
        accessible(page, messages)
        events = functools.partial(live_round, page, console) if case.live else functools.partial(stir, console)
        events()
        whole(page, *checks)
        if case.act is not None:
            case.act(page, console)
            whole(page, *checks)
            events()
            whole(page, *checks)
        accessible(page, messages)
        page.screenshot(path=str(ARTIFACTS / f"{case.name}-{size}.png"), full_page=True)
        assert messages == []
    except Exception:
        # What the page looked like when it failed, to read beside the test's report.
        page.screenshot(path=str(ARTIFACTS / f"{case.name}-{size}-failed.png"), full_page=True)
        (ARTIFACTS / f"{case.name}-{size}-failed.html").write_text(page.content())
        raise
    finally:
        context.close()
