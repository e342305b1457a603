"""The live site (issue 13), against real WordPress sites (scripts/wordpress-local.sh): every text field
leaves as plain text (the publishing user has `unfiltered_html`, so markup in a title would run on the
public page), and shortcodes in agent content stay text unless the site opts in with `allow_shortcodes`
(`[embed]` would make the site fetch a URL). The fast tests at the end check the same against the fake."""

from __future__ import annotations

import html
import re
import time
import uuid
from html.parser import HTMLParser

import pytest
import requests

from agents.actors import Actor
from agents.models import Agent
from articles import services
from articles.models import Article, ArticleStatus
from tests.conftest import agent_entry
from tests.factories import UserFactory
from tests.support.remote import Remote

pytestmark = pytest.mark.django_db

TITLE = "T <script>alert(document.domain)</script> <img src=x onerror=alert(2)>"


class Page(HTMLParser):
    """A page as a browser would build it: the elements with their attributes, and the visible text."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._raw: str | None = None
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._raw = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._raw = None

    def handle_data(self, data: str) -> None:
        if self._raw is None:
            self.text.append(data)
        elif self._raw == "script":
            self.scripts.append(data)

    def runs(self, code: str) -> list[str]:
        """What on the page would run `code`: a script element holding it, an event handler attribute."""
        found = [script[:80] for script in self.scripts if code in script]
        for tag, attrs in self.elements:
            found += [f"<{tag} {name}={value}>" for name, value in attrs.items() if name.startswith("on")]
        return found


def embed_target_start() -> Remote:
    """A local HTTP server an `[embed]` names; records every request WordPress makes to it."""
    page = b"<html><head><title>target</title></head><body>target</body></html>"
    return Remote(default=(200, {"Content-Type": "text/html"}, page))


@pytest.fixture
def wordpress(loaded_config, real_wordpress, eager):
    def load(**site_overrides) -> Agent:
        loaded_config(
            agents=[agent_entry("writer")],
            sites=[real_wordpress.site_entry("wp1", **site_overrides)],
            publishing={"retry_attempts": 0, "retry_delay": 1, "timeout": 20},
        )
        return Agent.objects.get(pk="writer")

    return load


@pytest.fixture
def embed_target(real_wordpress):
    """The target, and a must-use plugin that lets WordPress fetch from its port: WordPress's own
    `wp_safe_remote_get` allows only ports 80, 443 and 8080 (and the site's own), which a public target
    would use. Without it the test could not tell a neutralized `[embed]` from a refused port."""
    target = embed_target_start()
    plugin = real_wordpress.directory / "htdocs" / "wp-content" / "mu-plugins" / "wpl-test-embed-port.php"
    plugin.parent.mkdir(parents=True, exist_ok=True)
    plugin.write_text(
        "<?php\nadd_filter('http_allowed_safe_ports', function ($ports) "
        f"{{ $ports[] = {target.port}; return $ports; }});\n"
    )
    yield target
    plugin.unlink()
    target.close()


def publish(article: Article, capture) -> Article:
    with capture(execute=True):
        services.article_approve(
            actor=Actor(user=UserFactory()), article_id=article.pk, expected_revision=article.revision_number
        )
    published = Article.objects.get(pk=article.pk)
    assert published.status == ArticleStatus.PUBLISHED, published.publish_error_message
    return published


def public_page(article: Article) -> Page:
    response = requests.get(article.wordpress_permalink, timeout=30)
    response.raise_for_status()
    return Page(response.text)


@pytest.mark.slow
def test_the_title_and_term_names_reach_the_public_page_as_plain_text(
    wordpress, real_wordpress, django_capture_on_commit_callbacks, client
):
    writer = wordpress()
    marker = uuid.uuid4().hex[:8]
    title = f"{TITLE} & more {marker}"
    existing = real_wordpress.post("wp1", "/tags", {"name": f"R&D {marker}"})  # stored by WordPress as R&amp;D
    article = services.article_submit(
        agent=writer,
        title=title,
        content_markdown="Body",
        target_site="wp1",
        tags=[f"R&D {marker}", f"Q&A > x {marker}"],
        category=f"Fish & Chips {marker}",
    )
    # A tag with markup, as stored before names were checked at submission (WordPress would strip it).
    tags = [f"R&D {marker}", f"Q&A > x {marker}", f"<b>bold</b> {marker}"]
    Article.objects.filter(pk=article.pk).update(tags=tags)
    article = publish(Article.objects.get(pk=article.pk), django_capture_on_commit_callbacks)

    (post,) = real_wordpress.get("wp1", "/posts", search=marker, status="any", context="edit")
    assert "<script" not in post["title"]["rendered"] and "<img" not in post["title"]["rendered"]
    assert html.unescape(post["title"]["rendered"]) == title

    page = public_page(article)
    assert page.runs("alert(") == []
    assert not any(tag == "img" and attrs.get("src") == "x" for tag, attrs in page.elements)
    assert title in "".join(page.text)  # shown literally, as the agent wrote it

    names = {
        html.unescape(term["name"]): term["id"]
        for term in real_wordpress.get("wp1", "/tags", include=",".join(map(str, post["tags"])))
    }
    assert set(names) == set(tags)
    assert names[f"R&D {marker}"] == existing["id"]  # the existing term was found, not created again
    (category,) = real_wordpress.get("wp1", "/categories", include=str(post["categories"][0]))
    assert html.unescape(category["name"]) == f"Fish & Chips {marker}"

    # The console shows the title as the agent wrote it: escaped once, for HTML, never twice.
    assert Article.objects.get(pk=article.pk).title == title
    client.force_login(UserFactory(is_staff=True))
    console = client.get(f"/articles/{article.pk}/").content.decode()
    assert "&lt;script&gt;alert(document.domain)&lt;/script&gt;" in console and "&amp;lt;" not in console


def content_with_shortcodes(marker: str, port: int) -> str:
    """Shortcodes, and a URL alone in its paragraph, which WordPress auto-embeds (fetching it to discover an
    embed) unless it is neutralized too."""
    return (
        f"Intro {marker}\n\n"
        f"[embed]http://127.0.0.1:{port}/embed-{marker}[/embed]\n\n"
        f"[caption]Caption {marker}[/caption]\n\n"
        f"[audio src=http://127.0.0.1:{port}/audio-{marker}.mp3]\n\n"
        f"http://127.0.0.1:{port}/autoembed-{marker}\n"
    )


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.slow
def test_shortcodes_stay_text_and_embed_fetches_nothing_by_default(
    wordpress, embed_target, django_capture_on_commit_callbacks
):
    writer = wordpress()
    marker = uuid.uuid4().hex[:8]
    article = services.article_submit(
        agent=writer,
        title=f"Shortcodes {marker}",
        content_markdown=content_with_shortcodes(marker, embed_target.port),
        target_site="wp1",
    )
    article = publish(article, django_capture_on_commit_callbacks)
    text = "".join(public_page(article).text)
    assert f"[caption]Caption {marker}[/caption]" in text
    assert f"[embed]http://127.0.0.1:{embed_target.port}/embed-{marker}[/embed]" in text
    assert f"[audio src=http://127.0.0.1:{embed_target.port}/audio-{marker}.mp3]" in text
    assert f"http://127.0.0.1:{embed_target.port}/autoembed-{marker}" in text  # readers see the URL as written
    assert not wait_for(lambda: embed_target.requested(marker), 3.0), embed_target.requests


@pytest.mark.slow
def test_a_site_that_allows_shortcodes_runs_them(
    wordpress, embed_target, real_wordpress, django_capture_on_commit_callbacks
):
    writer = wordpress(allow_shortcodes=True)
    marker = uuid.uuid4().hex[:8]
    article = services.article_submit(
        agent=writer,
        title=f"Shortcodes on {marker}",
        content_markdown=content_with_shortcodes(marker, embed_target.port),
        target_site="wp1",
    )
    article = publish(article, django_capture_on_commit_callbacks)
    text = "".join(public_page(article).text)
    assert f"Caption {marker}" in text and "[caption]" not in text
    assert wait_for(lambda: embed_target.requested(f"/embed-{marker}"), 10.0), embed_target.requests
    # The bare URL is auto-embedded too: what the default neutralizes is a real fetch.
    assert wait_for(lambda: embed_target.requested(f"autoembed-{marker}"), 10.0), embed_target.requests


# --- the same against the fake WordPress (fast) -------------------------------------------------------


@pytest.fixture
def fake_site(loaded_config, fake_wp, eager):
    def load(**site) -> Agent:
        entry = {
            "id": "blog",
            "name": "Blog",
            "api_url": fake_wp.api_url,
            "username": "publisher",
            "app_password": fake_wp.password,
        }
        loaded_config(agents=[agent_entry("writer")], sites=[{**entry, **site}], publishing={"timeout": 3})
        return Agent.objects.get(pk="writer")

    return load


def test_the_title_and_new_term_names_are_sent_escaped_once(fake_site, fake_wp, django_capture_on_commit_callbacks):
    writer = fake_site()
    title = f"{TITLE} &amp; 'quoted' \"x\""
    article = services.article_submit(
        agent=writer, title=title, content_markdown="x", tags=["Q&A"], category="Fish & Chips"
    )
    publish(article, django_capture_on_commit_callbacks)
    (post,) = fake_wp.posts
    assert post["title"] == (
        "T &lt;script&gt;alert(document.domain)&lt;/script&gt; &lt;img src=x onerror=alert(2)&gt; "
        "&amp;amp; &#x27;quoted&#x27; &quot;x&quot;"
    )
    assert [t["name"] for t in fake_wp.terms["tags"]] == ["Q&amp;A"]
    assert fake_wp.terms["categories"][-1]["name"] == "Fish &amp; Chips"
    assert Article.objects.get(pk=article.pk).title == title


@pytest.mark.parametrize("content_format", ["html", "blocks"])
@pytest.mark.parametrize("allow", [False, True])
def test_urls_wordpress_would_auto_embed_are_sent_so_it_does_not(
    fake_site, fake_wp, django_capture_on_commit_callbacks, allow, content_format
):
    writer = fake_site(allow_shortcodes=allow, content_format=content_format)
    markdown = "Read https://in.text/ok first.\n\nhttps://alone.example/x\n\n```\nfirst\nhttps://code.example/y\n```\n"
    article = services.article_submit(agent=writer, title="Embeds", content_markdown=markdown)
    publish(article, django_capture_on_commit_callbacks)
    (post,) = fake_wp.posts
    # WordPress's own patterns (WP_Embed::autoembed): a URL alone in its paragraph, or alone on a line.
    alone = re.compile(r'(<p(?: [^>]*)?>\s*https?://[^\s<>"]+\s*</p>|^\s*https?://[^\s<>"]+\s*$)', re.I | re.M)
    assert bool(alone.search(post["content"])) is allow
    assert "https://in.text/ok" in post["content"]  # a URL within a sentence is no embed: left as it is
    for url in ("https://alone.example/x", "https://code.example/y"):
        assert url in html.unescape(post["content"])  # readers see the same characters


@pytest.mark.parametrize("allow", [False, True])
def test_brackets_are_sent_as_entities_unless_the_site_allows_shortcodes(
    fake_site, fake_wp, django_capture_on_commit_callbacks, allow
):
    writer = fake_site(allow_shortcodes=allow, content_format="html")  # the HTML as is: compared with content_html
    markdown = "[embed]http://example.com/x[/embed] [link](http://example.com/?a[]=1)"
    article = services.article_submit(agent=writer, title="Brackets", content_markdown=markdown)
    publish(article, django_capture_on_commit_callbacks)
    (post,) = fake_wp.posts
    if allow:
        assert post["content"] == article.content_html and "[embed]" in post["content"]
    else:
        assert "[" not in post["content"] and "&#91;embed]http://example.com/x&#91;/embed]" in post["content"]
        assert html.unescape(post["content"]) == html.unescape(article.content_html)
