"""Issue 16, Gutenberg blocks, on real WordPress (scripts/wordpress-local.sh): an article using every construct is
published as core blocks. WordPress's own `parse_blocks()` (PHP, against the site) finds no classic
(core/freeform) block and every expected block; the public post page shows the same paragraphs, headings, list
items and table cells as the console preview; and the block editor opens every block as valid (no "This block
contains unexpected or invalid content")."""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from html.parser import HTMLParser

import pytest
import requests

from agents.actors import Actor
from agents.models import Agent
from articles import services
from articles.models import Article, ArticleStatus
from tests.conftest import agent_entry
from tests.factories import UserFactory
from tests.support.browser import chromium_launch, chromium_required

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

COMPARED = ("p", "h2", "h3", "h4", "li", "th", "td")


def markdown(marker: str) -> str:
    return (
        f"Opening paragraph {marker} with *emphasis*, `code` and a [link](https://example.com/).\n\n"
        f"## Section {marker}\n\n"
        f"### Subsection {marker}\n\n"
        f"- Item one {marker}\n  - Nested {marker}\n- Item two {marker}\n\n"
        f"3. Third {marker}\n4. Fourth {marker}\n\n"
        f"> Quoted {marker}\n>\n> - Quoted item {marker}\n\n"
        "```python\nprint(1)\nhttps://example.com/video\n```\n\n"
        f"<pre>Preformatted {marker}\n  kept</pre>\n\n"
        f"| Left {marker} | Centre | Right |\n|:--|:-:|--:|\n| Cell {marker} | 2 | 3 |\n\n"
        f"![Picture {marker}](https://example.com/picture.png)\n\n"
        "---\n\n"
        f"<dl><dt>Term {marker}</dt><dd>Definition</dd></dl>\n\n"
        f"Closing paragraph {marker}.[^1]\n\n"
        f"[^1]: Footnote {marker}.\n"
    )


class _Texts(HTMLParser):
    """The text of every element of the compared tags, whitespace collapsed, by tag."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, list[str]]] = []
        self.found: dict[str, list[str]] = defaultdict(list)

    def handle_starttag(self, tag, attrs):
        if tag in COMPARED:
            self.open.append((tag, []))

    def handle_endtag(self, tag):
        if tag in COMPARED and self.open and self.open[-1][0] == tag:
            name, parts = self.open.pop()
            self.found[name].append(" ".join("".join(parts).split()))

    def handle_data(self, data):
        for _, parts in self.open:
            parts.append(data)


def texts(html: str, marker: str) -> dict[str, list[str]]:
    parser = _Texts()
    parser.feed(html)
    return {tag: [text for text in found if marker in text] for tag, found in parser.found.items()}


def block_names(blocks: list[dict]) -> list[str | None]:
    names: list[str | None] = []
    for block in blocks:
        names.append(block["blockName"])
        names.extend(block_names(block["innerBlocks"]))
    return names


def freeform(blocks: list[dict]) -> list[str]:
    """The innerHTML of every block WordPress reads as classic content (no block name), blank ones aside."""
    found = []
    for block in blocks:
        if block["blockName"] is None and block["innerHTML"].strip():
            found.append(block["innerHTML"])
        found.extend(freeform(block["innerBlocks"]))
    return found


# What the block editor says of each block once it has opened the post: the name and validity of every block.
EDITOR_BLOCKS = """() => {
    const walk = (blocks) => blocks.flatMap((b) => [[b.name, b.isValid], ...walk(b.innerBlocks)]);
    return walk(wp.data.select('core/block-editor').getBlocks());
}"""


def test_an_article_with_every_construct_is_published_as_core_blocks(
    loaded_config, real_wordpress, eager, client, django_capture_on_commit_callbacks
):
    loaded_config(
        agents=[agent_entry("writer")],
        sites=[real_wordpress.site_entry("wp1")],  # content_format: blocks, the default
        publishing={"retry_attempts": 0, "retry_delay": 1, "timeout": 20},
    )
    marker = uuid.uuid4().hex[:8]
    article = services.article_submit(
        agent=Agent.objects.get(pk="writer"),
        title=f"Blocks {marker}",
        content_markdown=markdown(marker),
        target_site="wp1",
    )
    client.force_login(UserFactory(is_staff=True))
    console = client.get(f"/articles/{article.pk}/").content.decode()
    preview = console.split('<div class="preview">', 1)[1].split("</div>\n      </article>", 1)[0]
    with django_capture_on_commit_callbacks(execute=True):
        services.article_approve(actor=Actor(user=UserFactory()), article_id=article.pk, expected_revision=1)
    article = Article.objects.get(pk=article.pk)
    assert article.status == ArticleStatus.PUBLISHED, article.publish_error_message

    # WordPress stored what the console previews, and reads it as blocks, none of them classic.
    stored = real_wordpress.get("wp1", f"/posts/{article.wordpress_post_id}", context="edit")["content"]["raw"]
    assert stored == preview
    parsed = real_wordpress.parse_blocks("wp1", article.wordpress_post_id)
    assert freeform(parsed) == []
    names = block_names(parsed)
    assert [name for name in names if name is not None and not name.startswith("core/")] == []
    assert {
        "core/paragraph",
        "core/heading",
        "core/list",
        "core/list-item",
        "core/quote",
        "core/code",
        "core/preformatted",
        "core/table",
        "core/image",
        "core/separator",
        "core/html",
    } <= set(names)
    top = [block["blockName"] for block in parsed if block["blockName"] is not None]
    assert top == [
        "core/paragraph",
        "core/heading",
        "core/heading",
        "core/list",
        "core/list",
        "core/quote",
        "core/code",
        "core/preformatted",
        "core/table",
        "core/image",
        "core/separator",
        "core/html",
        "core/paragraph",
        "core/html",
    ]

    # The public page shows what the preview shows.
    page = requests.get(article.wordpress_permalink, timeout=30)
    page.raise_for_status()
    shown, previewed = texts(page.text, marker), texts(preview, marker)
    assert set(previewed) == {"p", "h2", "h3", "li", "th", "td"}
    for tag, found in previewed.items():
        assert shown.get(tag) == found, tag
    assert "<!-- wp:" not in page.text  # WordPress rendered the blocks
    assert "https:&#47;&#47;example.com/video" in page.text  # the code block's URL is not embedded
    (figure,) = re.findall(r'<figure class="wp-block-image">(.*?)</figure>', page.text, re.DOTALL)
    assert re.fullmatch(rf'<img [^>]*src="https://example.com/picture.png" alt="Picture {marker}"[^>]*/?>', figure), (
        figure
    )

    # The block editor opens every block as valid.
    chromium_required()
    from playwright.sync_api import sync_playwright

    site = real_wordpress.sites["wp1"]
    with sync_playwright() as playwright:
        browser = chromium_launch(playwright)
        try:
            page = browser.new_page()
            page.goto(f"{site['base_url']}/wp-login.php", timeout=60_000)
            page.fill("#user_login", "admin")
            page.fill("#user_pass", site["admin_password"])
            page.click("#wp-submit")
            page.wait_for_url(re.compile(r"/wp-admin/"), timeout=60_000)
            page.goto(f"{site['base_url']}/wp-admin/post.php?post={article.wordpress_post_id}&action=edit")
            page.wait_for_function(
                "() => window.wp && wp.data && wp.data.select('core/block-editor').getBlocks().length > 0",
                timeout=120_000,
            )
            editor_blocks = page.evaluate(EDITOR_BLOCKS)
            resaved = page.evaluate("() => wp.blocks.serialize(wp.data.select('core/block-editor').getBlocks())")
        finally:
            browser.close()
    assert [name for name, valid in editor_blocks if not valid] == [], json.dumps(editor_blocks)
    assert "core/freeform" not in {name for name, _ in editor_blocks}
    assert len(editor_blocks) == len([name for name in names if name is not None])
    # Saving in the editor changes nothing: it writes every block as it was sent.
    assert resaved == stored
