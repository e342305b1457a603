"""Issue 16, Gutenberg blocks (fast): a site with `content_format: blocks` (the default) receives the article as
WordPress core block markup, each block exactly as the block editor saves it (so the editor opens every block
without "This block contains unexpected or invalid content"), and what no core block holds as a `core/html`
block, never as a classic (freeform) block; a site with `content_format: html` receives the HTML as before.
tests/articles/test_slow_blocks.py proves it on real WordPress with its own `parse_blocks()`."""

from __future__ import annotations

import re

import pytest

from agents.actors import Actor
from articles import services
from articles.blocks import block_attributes_serialize, blocks_serialize
from articles.models import Article, ArticleStatus
from articles.rendering import MAX_NESTING, markdown_render, post_content_build
from configuration.reload import config_reload
from core.config.types import SiteConfig
from tests.conftest import agent_entry, site_entry
from tests.factories import UserFactory


def site(**fields) -> SiteConfig:
    return SiteConfig(
        id="blog", name="Blog", api_url="http://wp.test/wp-json/wp/v2", username="u", app_password="p", **fields
    )


def blocks(markdown: str, **fields) -> str:
    return post_content_build(html=markdown_render(markdown), title="Title", site=site(**fields))


def block(name: str, content: str, attributes: str = "") -> str:
    return f"<!-- wp:{name} {attributes + ' ' if attributes else ''}-->\n{content}\n<!-- /wp:{name} -->"


def item(content: str) -> str:
    return block("list-item", f"<li>{content}</li>")


# --- each block, as the editor saves it ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("A *paragraph* with `code`.", block("paragraph", "<p>A <em>paragraph</em> with <code>code</code>.</p>")),
        ("## Level two", block("heading", "<h2>Level two</h2>")),  # the default level: no attribute
        ("### Level three", block("heading", "<h3>Level three</h3>", '{"level":3}')),
        ("# Level one", block("heading", "<h1>Level one</h1>", '{"level":1}')),
        ("- one\n- two", block("list", f"<ul>{item('one')}\n\n{item('two')}</ul>")),
        ("1. one\n2. two", block("list", f"<ol>{item('one')}\n\n{item('two')}</ol>", '{"ordered":true}')),
        (
            "3. three\n4. four",
            block("list", f'<ol start="3">{item("three")}\n\n{item("four")}</ol>', '{"ordered":true,"start":3}'),
        ),
        # A loose list's items hold one paragraph each: the list-item block holds its text.
        ("- one\n\n- two", block("list", f"<ul>{item('one')}\n\n{item('two')}</ul>")),
        (
            "> Quoted\n> text.\n>\n> Second.",
            block(
                "quote",
                '<blockquote class="wp-block-quote">'
                + block("paragraph", "<p>Quoted text.</p>")
                + "\n\n"
                + block("paragraph", "<p>Second.</p>")
                + "</blockquote>",
            ),
        ),
        (
            "```\nx < y && z\n```",
            block("code", '<pre class="wp-block-code"><code>x &lt; y &amp;&amp; z\n</code></pre>'),
        ),
        # The language class moves to the <pre> as the block's custom class (the code block keeps none on <code>).
        (
            "```python\nprint(1)\n```",
            block(
                "code",
                '<pre class="wp-block-code language-python"><code>print(1)\n</code></pre>',
                '{"className":"language-python"}',
            ),
        ),
        ("<pre>laid\n  out</pre>", block("preformatted", '<pre class="wp-block-preformatted">laid\n  out</pre>')),
        (
            "| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |",
            block(
                "table",
                '<figure class="wp-block-table"><table><thead><tr>'
                '<th class="has-text-align-left" data-align="left">a</th>'
                '<th class="has-text-align-center" data-align="center">b</th>'
                '<th class="has-text-align-right" data-align="right">c</th></tr></thead><tbody><tr>'
                '<td class="has-text-align-left" data-align="left">1</td>'
                '<td class="has-text-align-center" data-align="center">2</td>'
                '<td class="has-text-align-right" data-align="right">3</td></tr></tbody></table></figure>',
            ),
        ),
        (
            "| a |\n|---|\n| 1 |",
            block(
                "table",
                '<figure class="wp-block-table"><table><thead><tr><th>a</th></tr></thead>'
                "<tbody><tr><td>1</td></tr></tbody></table></figure>",
            ),
        ),
        (
            '![A "cat"](https://example.com/cat.png "Cat")',
            block(
                "image",
                '<figure class="wp-block-image">'
                '<img src="https://example.com/cat.png" alt="A &quot;cat&quot;" title="Cat"/></figure>',
            ),
        ),
        (
            "[![Badge](https://example.com/b.svg)](https://example.com/)",
            block(
                "image",
                '<figure class="wp-block-image"><a href="https://example.com/" rel="noopener noreferrer nofollow">'
                '<img src="https://example.com/b.svg" alt="Badge"/></a></figure>',
            ),
        ),
        (
            '<img src="https://example.com/w.png" alt="" width="300" height="200">',
            block(
                "image",
                '<figure class="wp-block-image is-resized">'
                '<img src="https://example.com/w.png" alt="" width="300" height="200"/></figure>',
                '{"width":300,"height":200}',
            ),
        ),
        ("---", block("separator", '<hr class="wp-block-separator has-alpha-channel-opacity"/>')),
    ],
)
def test_each_construct_becomes_the_core_block_the_editor_saves(markdown, expected):
    assert blocks(markdown) == expected


def test_blocks_follow_one_another_as_the_editor_writes_them():
    assert blocks("## A\n\nB\n\n---") == "\n\n".join(
        [
            block("heading", "<h2>A</h2>"),
            block("paragraph", "<p>B</p>"),
            block("separator", '<hr class="wp-block-separator has-alpha-channel-opacity"/>'),
        ]
    )


def test_an_image_among_text_stays_in_its_paragraph():
    assert blocks("See ![x](https://example.com/x.png) here.") == block(
        "paragraph", '<p>See <img src="https://example.com/x.png" alt="x"> here.</p>'
    )


def test_an_image_of_the_media_library_carries_its_attachment_id():
    html = markdown_render("![Cat](https://site.test/wp-content/uploads/cat.png?w=1&amp=2)")
    written = blocks_serialize(html=html, media_ids={"https://site.test/wp-content/uploads/cat.png?w=1&amp=2": 42})
    assert written == block(
        "image",
        '<figure class="wp-block-image"><img src="https://site.test/wp-content/uploads/cat.png?w=1&amp;amp=2" '
        'alt="Cat" class="wp-image-42"/></figure>',
        '{"id":42}',
    )
    assert blocks_serialize(html=html, media_ids={"https://elsewhere.test/cat.png": 42}) == blocks_serialize(html=html)


# --- nesting ----------------------------------------------------------------------------------------------


def test_a_nested_list_is_a_list_block_inside_its_item():
    nested = block("list", f"<ol>{item('a')}\n\n{item('b')}</ol>", '{"ordered":true}')
    deeper = block("list", f"<ul>{item('deep')}</ul>")
    inner = block("list", f"<ul>{block('list-item', f'<li>two{deeper}</li>')}</ul>")
    assert blocks("- one\n  1. a\n  2. b\n- two\n  - two\n    - deep") == block(
        "list",
        f"<ul>{block('list-item', f'<li>one{nested}</li>')}\n\n{block('list-item', f'<li>two{inner}</li>')}</ul>",
    )


def test_a_quote_holds_its_blocks_lists_and_quotes_included():
    assert blocks("> Intro\n>\n> - a\n> - b\n>\n> > Inner") == block(
        "quote",
        '<blockquote class="wp-block-quote">'
        + "\n\n".join(
            [
                block("paragraph", "<p>Intro</p>"),
                block("list", f"<ul>{item('a')}\n\n{item('b')}</ul>"),
                block(
                    "quote",
                    '<blockquote class="wp-block-quote">' + block("paragraph", "<p>Inner</p>") + "</blockquote>",
                ),
            ]
        )
        + "</blockquote>",
    )


def test_nesting_at_the_limit_serializes():
    markdown = "".join(f"{'  ' * depth}- level {depth}\n" for depth in range(MAX_NESTING // 2 - 1))
    written = blocks(markdown)
    assert written.count("<!-- wp:list-item -->") == MAX_NESTING // 2 - 1
    assert "wp:html" not in written


# --- escaping ---------------------------------------------------------------------------------------------


def test_block_attributes_are_escaped_as_wordpress_does():
    assert block_attributes_serialize({"a": 'x--y<z>&"q"', "n": 3, "b": True, "u": "é"}) == (
        '{"a":"x\\u002d\\u002dy\\u003cz\\u003e\\u0026\\u0022q\\u0022","n":3,"b":true,"u":"é"}'
    )


def test_a_class_name_cannot_end_the_block_comment():
    written = blocks("```c--\nint i--;\n```")
    assert written.startswith('<!-- wp:code {"className":"language-c\\u002d\\u002d"} -->\n')
    assert written.count("-->") == 2  # the opening and the closing comment, nothing inside ends one


def test_text_that_looks_like_a_block_comment_stays_text():
    written = blocks('`<!-- wp:latest-posts /-->` and <a title="<!-- wp:rss /-->" href="/x">x</a>')
    assert written.count("<!--") == 2
    assert "&lt;!-- wp:latest-posts /--&gt;" in written and 'title="&lt;!-- wp:rss /--&gt;"' in written


def test_code_blocks_escape_shortcodes_and_isolated_urls_as_the_editor_does():
    # Even on a site that runs shortcodes: WordPress would run [gallery] and embed a URL alone on its line.
    written = blocks("```\n[gallery]\nhttps://example.com/video\nsee https://example.com/\n```", allow_shortcodes=True)
    assert written == block(
        "code",
        '<pre class="wp-block-code"><code>&#91;gallery]\nhttps:&#47;&#47;example.com/video\n'
        "see https://example.com/\n</code></pre>",
    )
    assert blocks("[gallery]", allow_shortcodes=True) == block("paragraph", "<p>[gallery]</p>")
    assert blocks("[gallery]") == block("paragraph", "<p>&#91;gallery]</p>")


# --- what no core block holds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "markdown",
    [
        "<dl><dt>Term</dt><dd>Definition</dd></dl>",
        "<div>A division</div>",
        '<table><tr><td colspan="2">merged</td></tr></table>',  # WordPress 6.1's table has no merged cells
        "<table><caption>Caption</caption><tr><td>1</td></tr></table>",
        '<ol start="07"><li>a</li></ol>',  # the editor would write start="7"
        "- a\n\n  second paragraph",  # a list item of two paragraphs
        "- <div>block in an item</div>",
        "<h2><div>block in a heading</div></h2>",
        '<img src="https://example.com/a.png" width="50%">',
    ],
)
def test_what_no_core_block_holds_is_an_html_block(markdown):
    html = markdown_render(markdown)
    assert blocks(markdown) == block("html", html)


def test_footnotes_are_an_html_block_after_the_paragraphs():
    written = blocks("Text.[^1]\n\n[^1]: The note.")
    (paragraph, footnotes) = written.split("\n\n")
    assert paragraph.startswith("<!-- wp:paragraph -->\n<p>Text.<sup")
    assert footnotes.startswith('<!-- wp:html -->\n<div class="footnote">')
    assert footnotes.endswith("</div>\n<!-- /wp:html -->")


def test_nothing_is_left_outside_a_block():
    markdown = (
        "Intro\n\n<dl><dt>a</dt></dl>\n\n## Head\n\n<span>loose</span> text\n\n<div>x</div>\n\n| t |\n|---|\n| 1 |\n\n"
        "> q\n>\n> <div>in a quote</div>\n\n1. x\n\n---\n\nEnd[^n]\n\n[^n]: note"
    )
    written = blocks(markdown)
    outside = re.sub(r"<!-- (wp:[a-z-]+)[^>]*-->.*?<!-- /\1 -->", "", written, flags=re.DOTALL)
    assert outside.strip() == ""  # every top-level piece is delimited (block names do not nest in themselves here)
    assert re.findall(r"<!-- wp:([a-z-]+)", written) == [
        "paragraph",
        "html",
        "heading",
        "paragraph",
        "html",
        "table",
        "quote",
        "paragraph",
        "html",
        "list",
        "list-item",
        "separator",
        "paragraph",
        "html",
    ]


# --- the option -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("markdown", ["# T\n\nPara\n\n- a\n\n| x |\n|---|\n| 1 |\n\n---\n\n[x]", "<dl><dt>a</dt></dl>"])
def test_a_site_with_content_format_html_receives_the_html_unchanged(markdown):
    html = markdown_render(markdown)
    expected = html.removeprefix("<h1>T</h1>\n").replace("[", "&#91;")
    assert post_content_build(html=html, title="T", site=site(content_format="html")) == expected
    assert "<!--" not in expected


def test_blocks_are_the_default():
    html = markdown_render("Para")
    assert SiteConfig.content_format == "blocks"
    assert post_content_build(html=html, title="T", site=None) == block("paragraph", "<p>Para</p>")
    assert post_content_build(html=html, title="T", site=site()) == block("paragraph", "<p>Para</p>")


@pytest.mark.django_db
def test_content_format_is_read_from_sites_yml_and_checked(loaded_config, config_files):
    config = loaded_config(
        agents=[agent_entry("writer")], sites=[site_entry("blog", content_format="html"), site_entry("news")]
    )
    assert config.site("blog").content_format == "html"
    assert config.site("news").content_format == "blocks"
    config_files.write(agents=[agent_entry("writer")], sites=[site_entry("blog", content_format="gutenberg")])
    result = config_reload(sync=True)
    assert not result.ok
    assert "sites.yml: sites[0].content_format: must be one of blocks, html" in result.messages


# --- what the site receives, and the preview ----------------------------------------------------------------


def preview_of(client, article: Article) -> str:
    page = client.get(f"/articles/{article.pk}/").content.decode()
    return page.split('<div class="preview">', 1)[1].split("</div>\n      </article>", 1)[0]


@pytest.mark.django_db
@pytest.mark.parametrize("content_format", ["blocks", "html"])
def test_the_site_receives_its_format_and_the_preview_shows_it(
    blog, fake_wp, client, django_capture_on_commit_callbacks, content_format
):
    writer = blog(content_format=content_format)
    article = services.article_submit(agent=writer, title="Formats", content_markdown="Para\n\n- item")
    client.force_login(UserFactory(is_staff=True))
    before = preview_of(client, article)
    with django_capture_on_commit_callbacks(execute=True):
        services.article_approve(actor=Actor(user=UserFactory()), article_id=article.pk, expected_revision=1)
    assert Article.objects.get(pk=article.pk).status == ArticleStatus.PUBLISHED
    (post,) = fake_wp.posts
    assert post["content"] == before == preview_of(client, article)
    if content_format == "blocks":
        assert post["content"] == block("paragraph", "<p>Para</p>") + "\n\n" + block("list", f"<ul>{item('item')}</ul>")
    else:
        assert post["content"] == "<p>Para</p>\n<ul>\n<li>item</li>\n</ul>"
