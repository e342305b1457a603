"""Markdown rendering (articles.rendering): what an article keeps (tables with alignment, fenced code with its
language, footnotes, lists, raw HTML through the sanitizer), what the sanitizer still strips, and that no
input shape at the 256 KiB limit takes long: each of the worst shapes we know (bench/markdown_worst.py, where
their timings are) is rendered or refused with VALIDATION_ERROR within a bound the renderer used before
(Python-Markdown: 17.6 s for 32 KiB of "![") missed by hours."""

from __future__ import annotations

import resource
import threading
import time

import pytest

from articles.rendering import MAX_NESTING, html_sanitize, markdown_render
from bench.markdown_worst import LIMIT, realistic_article, worst_shapes
from core.exceptions import ValidationFailed

# --- what renders ----------------------------------------------------------------------------------------------


def test_headings_paragraphs_and_emphasis():
    assert markdown_render("# Hello\n\nWorld") == "<h1>Hello</h1>\n<p>World</p>"
    assert markdown_render("Better *body*, **bold** and `code`") == (
        "<p>Better <em>body</em>, <strong>bold</strong> and <code>code</code></p>"
    )


def test_tables_keep_their_alignment_as_attributes():
    html = markdown_render("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |")
    assert html == (
        "<table>\n<thead>\n<tr>\n"
        '<th align="left">a</th>\n<th align="center">b</th>\n<th align="right">c</th>\n'
        "</tr>\n</thead>\n<tbody>\n<tr>\n"
        '<td align="left">1</td>\n<td align="center">2</td>\n<td align="right">3</td>\n'
        "</tr>\n</tbody>\n</table>"
    )


def test_fenced_code_keeps_its_language_class_and_escapes_its_text():
    assert markdown_render("```python\nif a < b & c:\n    pass\n```") == (
        '<pre><code class="language-python">if a &lt; b &amp; c:\n    pass\n</code></pre>'
    )
    # The class comes from the info string, so only language-like words survive the sanitizer.
    assert markdown_render('```x" onclick="y\ncode\n```') == "<pre><code>code\n</code></pre>"


def test_footnotes_link_both_ways_with_the_only_ids_kept():
    html = markdown_render("Text[^note] and again[^note].\n\n[^note]: The note.")
    assert '<sup class="footnote-ref"><a href="#fn-note" id="fnref-note" rel="noopener noreferrer nofollow">' in html
    assert 'id="fnref-note-2"' in html
    assert '<div class="footnote"><hr>\n<ol>\n<li id="fn-note">\n<p>The note.' in html
    assert '<a href="#fnref-note" class="footnote-backref" rel="noopener noreferrer nofollow">↩</a>' in html
    assert "data-footnote" not in html and "aria-label" not in html and "<section" not in html


def test_lists_are_sane_and_keep_their_start():
    assert markdown_render("1. a\n2. b\n\n- c") == "<ol>\n<li>a</li>\n<li>b</li>\n</ol>\n<ul>\n<li>c</li>\n</ul>"
    assert markdown_render("3. x\n4. y") == '<ol start="3">\n<li>x</li>\n<li>y</li>\n</ol>'


def test_a_soft_line_break_reads_as_a_space_and_two_spaces_make_a_break():
    assert markdown_render("line one\nline two") == "<p>line one line two</p>"  # issue 16: no newline for wpautop
    assert markdown_render("line one  \nline two") == "<p>line one<br>\nline two</p>"


def test_text_and_urls_come_out_as_the_sanitizer_always_wrote_them():
    html = markdown_render('R&D © 2024 « ° » café\u00a0[link](http://a/?x=1&y=2 "t&t")')
    assert html == (
        "<p>R&amp;D © 2024 « ° » café&nbsp;"
        '<a href="http://a/?x=1&amp;y=2" title="t&amp;t" rel="noopener noreferrer nofollow">link</a></p>'
    )
    # The private-use character the renderer uses internally is an ordinary character to agents.
    assert markdown_render("\ue000 and \ue00001 and \ue000\ue000") == "<p>\ue000 and \ue00001 and \ue000\ue000</p>"


def test_raw_html_passes_through_the_allowlist():
    html = markdown_render('Press <kbd>Ctrl</kbd>+<kbd>C</kbd>, see <abbr title="HyperText">HTML</abbr>, x<sup>2</sup>')
    assert html == ('<p>Press <kbd>Ctrl</kbd>+<kbd>C</kbd>, see <abbr title="HyperText">HTML</abbr>, x<sup>2</sup></p>')
    assert markdown_render("<div>\n\n*Markdown* inside\n\n</div>") == "<div>\n<p><em>Markdown</em> inside</p>\n</div>"
    assert markdown_render("<ul><li>a<li>b</ul>") == "<ul><li>a</li><li>b</li></ul>"


def test_one_article_s_footnotes_never_appear_in_the_next():
    first = markdown_render("Text[^1]\n\n[^1]: A footnote of the first article.")
    assert "footnote of the first" in first
    assert markdown_render("Plain text.") == "<p>Plain text.</p>"


# --- what the sanitizer strips ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("Hi <script>alert(1)</script>there", "<p>Hi there</p>"),
        ("<style>p{}</style>\n\nText", "<p>Text</p>"),
        ('<iframe src="https://evil.example"></iframe>x', "x"),
        ("<img src=x onerror=alert(2)>", '<img src="x">'),
        ("[x](javascript:alert(3))", '<p><a rel="noopener noreferrer nofollow">x</a></p>'),
        ('<a href="jav&#x61;script:alert(1)">x</a>', '<p><a rel="noopener noreferrer nofollow">x</a></p>'),
        ('<div hx-get="/admin/" hx-trigger="load" data-hx-post="/x">x</div>', "<div>x</div>"),
        ('<p style="color:red" onclick="x()">x</p>', "<p>x</p>"),
        ('<span id="main" class="btn footnote">x</span>', "<p><span>x</span></p>"),
        ('<div id="content" class="footnote language-js evil">x</div>', '<div class="footnote language-js">x</div>'),
        ('<sup id="fn:1">1</sup> <sup id="fnref-x">2</sup>', '<p><sup id="fn:1">1</sup> <sup id="fnref-x">2</sup></p>'),
        ("<svg onload=alert(4)><circle/></svg>", "<p></p>"),
        ('<form action="/x"><input name="q"><button>Go</button></form>', "Go"),
        ("<!-- a comment -->Visible", "Visible"),
        ("<textarea><b>not markup</b> &amp;</textarea>", "&lt;b&gt;not markup&lt;/b&gt; &amp;"),
        ("a <script> unclosed\n\nb", "<p>a </p>"),
    ],
)
def test_the_sanitizer_is_as_strict_as_before(markdown, expected):
    assert markdown_render(markdown) == expected


def test_stored_html_is_sanitized_again_and_deep_nesting_flattened_not_refused():
    stored = '<p>ok</p><script>alert(1)</script><img src="x" onerror="alert(1)"><a hx-post="/x">x</a>'
    assert html_sanitize(stored) == '<p>ok</p><img src="x"><a rel="noopener noreferrer nofollow">x</a>'
    # Footnotes rendered by the previous renderer keep their anchors.
    old = '<sup id="fnref:1"><a class="footnote-ref" href="#fn:1">1</a></sup><li id="fn:1">x</li>'
    assert 'id="fnref:1"' in html_sanitize(old) and 'id="fn:1"' in html_sanitize(old)
    deep = "<div>" * 5000 + "deep" + "</div>" * 5000
    flattened = html_sanitize(deep)
    assert "deep" in flattened and flattened.count("<div>") == MAX_NESTING


# --- limits -----------------------------------------------------------------------------------------------------


def test_nesting_past_the_limit_is_refused_naming_the_limit():
    # 99 quotes and the paragraph in the deepest: 100 elements.
    assert markdown_render("> " * (MAX_NESTING - 1) + "a").count("<blockquote>") == MAX_NESTING - 1
    for markdown in ("> " * MAX_NESTING + "a", "<div>\n" * 500, "<b>x" * 200):
        with pytest.raises(ValidationFailed) as refused:
            markdown_render(markdown)
        assert refused.value.field == "content_markdown"
        assert refused.value.code == "VALIDATION_ERROR"
        assert f"the limit is {MAX_NESTING}" in refused.value.message


def test_html_many_times_larger_than_the_markdown_is_refused_naming_the_limit():
    with pytest.raises(ValidationFailed) as refused:
        markdown_render("[^1]" * 60_000 + "\n\n[^1]: x")
    assert refused.value.field == "content_markdown"
    assert "characters of HTML; the limit is" in refused.value.message


def test_text_that_is_not_unicode_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        markdown_render("a\ud800b")
    assert refused.value.field == "content_markdown" and "lone surrogate" in refused.value.message


# --- cost ---------------------------------------------------------------------------------------------------------

SHAPES = worst_shapes(LIMIT)


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_worst_shape_at_the_size_limit_renders_or_is_refused_in_bounded_time(name):
    markdown = SHAPES[name]
    assert len(markdown.encode()) <= LIMIT
    started = time.perf_counter()
    try:
        html = markdown_render(markdown)
    except ValidationFailed as refused:
        assert refused.field == "content_markdown"
    else:
        assert isinstance(html, str)
    # About 0.1-0.6 s here (2 shared cores); the old renderer needed hours for the bracket floods.
    assert time.perf_counter() - started < 2.0


def test_a_realistic_article_at_the_limit_renders_quickly():
    started = time.perf_counter()
    html = markdown_render(realistic_article(LIMIT))
    assert time.perf_counter() - started < 1.0
    assert html.count("<table>") > 100 and 'class="language-python"' in html and "<kbd>Ctrl</kbd>" in html


def test_renders_run_in_parallel_threads_with_the_same_result():
    article = realistic_article(32 * 1024)
    expected = markdown_render(article)
    results: list[str] = []

    def render() -> None:
        results.extend(markdown_render(article) for _ in range(10))

    threads = [threading.Thread(target=render) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 40


def test_rendering_frees_what_cmark_allocates():
    # cmarkgfm's own wrappers leak the tree and the HTML (~8 MB per render of a 130 KB article); 300 renders of
    # 256 KiB here would then add well over a gigabyte.
    markdown = "A paragraph of text. " * (LIMIT // 21)
    markdown_render(markdown)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(300):
        markdown_render(markdown)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100
