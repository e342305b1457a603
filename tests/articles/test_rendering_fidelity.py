"""Issue 16, fidelity bugs 1 and 2 (fast): a paragraph wrapped over several source lines reaches WordPress as one
line (WordPress's auto-paragraphing turns every newline left inside a paragraph into `<br />`), joined with a
space between words and with nothing between two Chinese or Japanese characters; and a leading H1 that repeats
the title is not sent (the theme prints the title), unless the site keeps it. The console previews exactly what
the site receives. tests/articles/test_slow_fidelity.py proves both on real WordPress."""

from __future__ import annotations

import re

import pytest

from agents.actors import Actor
from articles import services
from articles.models import Article, ArticleStatus
from articles.rendering import markdown_render, post_content_build
from configuration.reload import config_reload
from core.config.types import SiteConfig
from tests.conftest import agent_entry, site_entry
from tests.factories import UserFactory


def site(**fields) -> SiteConfig:
    """A site receiving plain HTML (`content_format: html`): these tests are about the HTML itself; the block
    markup around it is tests/articles/test_blocks.py's."""
    fields = {"content_format": "html", **fields}
    return SiteConfig(
        id="blog", name="Blog", api_url="http://wp.test/wp-json/wp/v2", username="u", app_password="p", **fields
    )


# --- soft line breaks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("line one\nline two\nline three", "<p>line one line two line three</p>"),
        ("第一行\n第二行", "<p>第一行第二行</p>"),
        ("日本語の文章は\nスペースなしで続く。\n次の文。", "<p>日本語の文章は" + "スペースなしで続く。次の文。</p>"),
        # CJK punctuation, fullwidth forms, and the curly quotes Chinese text uses, on either side of the break.
        ("他说：“你好”\n然后走了，\n（完）", "<p>他说：“你好”然后走了，（完）</p>"),  # noqa: RUF001
        # A Latin word next to a CJK character keeps its space, either way round; Korean puts spaces between words.
        ("使用\nPython\n编程", "<p>使用 Python 编程</p>"),
        ("한국어\n문장", "<p>한국어 문장</p>"),
        ("café\nau lait", "<p>café au lait</p>"),
        # The characters either side are read through the inline markup around them.
        ("*强调*\n**文字**\n`代码`\n[链接](http://example.com/)\n结束", None),
        ("<span>中</span>\n文", "<p><span>中</span>文</p>"),
    ],
)
def test_a_soft_line_break_joins_the_lines_as_readers_expect(markdown, html):
    rendered = markdown_render(markdown)
    assert "\n" not in rendered and "<br" not in rendered
    if html is not None:
        assert rendered == html
    else:
        assert rendered == (
            '<p><em>强调</em><strong>文字</strong><code>代码</code><a href="http://example.com/" '
            'rel="noopener noreferrer nofollow">链接</a>结束</p>'
        )


@pytest.mark.parametrize("markdown", ["one  \ntwo", "one\\\ntwo", "第一行  \n第二行", "第一行\\\n第二行"])
def test_a_hard_break_stays_a_break(markdown):
    first, second = ("one", "two") if "one" in markdown else ("第一行", "第二行")
    assert markdown_render(markdown) == f"<p>{first}<br>\n{second}</p>"


def test_code_blocks_keep_their_newlines_exactly():
    fenced = "```\nfirst line\n第一行\n第二行\n  indented\n```"
    indented = "    a = 1\n    中文\n    文字"
    assert markdown_render(fenced) == "<pre><code>first line\n第一行\n第二行\n  indented\n</code></pre>"
    assert markdown_render(indented) == "<pre><code>a = 1\n中文\n文字\n</code></pre>"
    assert markdown_render("Text\n" + fenced + "\nmore\n中文") == (
        "<p>Text</p>\n<pre><code>first line\n第一行\n第二行\n  indented\n</code></pre>\n<p>more 中文</p>"
    )


def test_list_items_quotes_headings_and_footnotes_hold_no_newline_in_their_text():
    markdown = (
        "Setext heading\nover two lines\n===\n\n"
        "- first item\n  wrapped\n- 第一项\n  继续\n  1. nested\n     item\n\n"
        "> quoted line\n> another\n>\n> 引用\n> 继续\n\n"
        "| a | b |\n|---|---|\n| 中 | x |\n\n"
        "Note[^n]\n\n[^n]: A footnote\n    wrapped. 脚\n    注"
    )
    html = markdown_render(markdown)
    assert "<h1>Setext heading over two lines</h1>" in html
    assert "<li>first item wrapped</li>" in html and "<li>第一项继续\n<ol>\n<li>nested item</li>" in html
    assert "<p>quoted line another</p>" in html and "<p>引用继续</p>" in html
    assert "<td>中</td>" in html
    assert "<p>A footnote wrapped. 脚注 <a" in html
    # Newlines are left only between elements (a nested list starts on its own line), never inside text.
    assert not re.search(r"[^>\n]\n(?!<(?:ol|ul)>)|\n[^<\n]", html), html


def test_text_that_is_not_a_soft_break_is_untouched():
    """Spaces the author wrote stay (also between CJK characters), and so do newlines between blocks."""
    assert markdown_render("中 文\n\n第二段") == "<p>中 文</p>\n<p>第二段</p>"
    assert markdown_render("a &amp; b\n中") == "<p>a &amp; b 中</p>"


# --- the doubled title ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "title"),
    [
        ("# Building a webhook consumer\n\nBody.", "Building a webhook consumer"),
        ("#   building A Webhook CONSUMER  \n\nBody.", "  Building a webhook consumer "),
        ("# Building a *webhook* `consumer`!\n\nBody.", "Building a webhook consumer"),
        ("# Building a webhook consumer\n\nBody.", "Building a webhook consumer:"),
        ("Building a webhook consumer\n===\n\nBody.", "Building a webhook consumer"),
        ("# R&D at scale\n\nBody.", "R&D at scale"),
        ("# 构建一个 Webhook 消费者。\n\nBody.", "构建一个 webhook 消费者"),
    ],
)
def test_a_leading_h1_that_repeats_the_title_is_dropped(markdown, title):
    html = markdown_render(markdown)
    assert html.startswith("<h1>")
    assert post_content_build(html=html, title=title, site=site()) == "<p>Body.</p>"
    # The defaults: the heading dropped too, the rest as blocks.
    assert post_content_build(html=html, title=title, site=None) == (
        "<!-- wp:paragraph -->\n<p>Body.</p>\n<!-- /wp:paragraph -->"
    )


def test_a_site_with_keep_leading_heading_keeps_it():
    html = markdown_render("# Hello world\n\nBody.")
    assert post_content_build(html=html, title="Hello world", site=site(keep_leading_heading=True)) == html


@pytest.mark.parametrize(
    "markdown",
    [
        "# Hello there\n\nBody.",  # another title
        "## Hello world\n\nBody.",  # not an H1
        "Intro.\n\n# Hello world\n\nBody.",  # not leading
        "# Hello world, again\n\nBody.",
        "# Hello\n\n# world",
    ],
)
def test_any_other_heading_stays(markdown):
    html = markdown_render(markdown)
    assert post_content_build(html=html, title="Hello world", site=site()) == html


def test_only_the_leading_heading_is_dropped_and_a_later_equal_one_stays():
    html = markdown_render("# Hello world\n\nBody.\n\n# Hello world\n\nMore.")
    assert post_content_build(html=html, title="Hello world", site=site()) == (
        "<p>Body.</p>\n<h1>Hello world</h1>\n<p>More.</p>"
    )


def test_shortcodes_are_still_neutralized_unless_allowed():
    html = markdown_render("# T\n\n[embed]x[/embed]")
    assert post_content_build(html=html, title="T", site=site()) == "<p>&#91;embed]x&#91;/embed]</p>"
    assert post_content_build(html=html, title="T", site=site(allow_shortcodes=True)) == "<p>[embed]x[/embed]</p>"


# --- the option, and what the site receives ----------------------------------------------------------------------


@pytest.mark.django_db
def test_keep_leading_heading_is_read_from_sites_yml_and_checked(loaded_config, config_files):
    config = loaded_config(
        agents=[agent_entry("writer")], sites=[site_entry("blog", keep_leading_heading=True), site_entry("news")]
    )
    assert config.site("blog").keep_leading_heading is True
    assert config.site("news").keep_leading_heading is False
    config_files.write(agents=[agent_entry("writer")], sites=[site_entry("blog", keep_leading_heading="yes")])
    result = config_reload(sync=True)
    assert not result.ok
    assert "sites.yml: sites[0].keep_leading_heading: expected true or false" in result.messages


MARKDOWN = "# Wrapped lines\n\nA paragraph wrapped\nover two lines.\n\n第一行\n第二行\n\n- item\n  wrapped\n\n[x]"


def preview_of(client, article: Article) -> str:
    page = client.get(f"/articles/{article.pk}/").content.decode()
    return page.split('<div class="preview">', 1)[1].split("</div>\n      </article>", 1)[0]


@pytest.mark.django_db
@pytest.mark.parametrize("keep", [False, True])
def test_the_preview_is_exactly_what_the_site_receives(blog, fake_wp, client, django_capture_on_commit_callbacks, keep):
    writer = blog(keep_leading_heading=keep, content_format="html")
    article = services.article_submit(agent=writer, title="Wrapped lines", content_markdown=MARKDOWN)
    client.force_login(UserFactory(is_staff=True))
    before = preview_of(client, article)
    with django_capture_on_commit_callbacks(execute=True):
        services.article_approve(actor=Actor(user=UserFactory()), article_id=article.pk, expected_revision=1)
    assert Article.objects.get(pk=article.pk).status == ArticleStatus.PUBLISHED
    (post,) = fake_wp.posts
    assert post["content"] == before == preview_of(client, article)
    assert post["content"].count("<h1>Wrapped lines</h1>") == (1 if keep else 0)
    assert (
        "<p>A paragraph wrapped over two lines.</p>\n<p>第一行第二行</p>\n<ul>\n<li>item wrapped</li>"
        in post["content"]
    )
    assert "&#91;x]" in post["content"]  # shortcodes neutralized, as before
