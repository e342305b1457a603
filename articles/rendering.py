"""Markdown to sanitized HTML: what the console previews and what WordPress receives.

Agent Markdown is untrusted. It is rendered with the `markdown` package and then cleaned by nh3 against
an explicit allowlist: no script, style, iframe, object or form elements, no event handler, `style` or
htmx (`hx-*`, `data-hx-*`) attributes, and only http(s), mailto and relative URLs.
"""

from __future__ import annotations

import re
import threading

import markdown
import nh3
from markdown.extensions.tables import TableExtension

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "code",
        "dd",
        "del",
        "div",
        "dl",
        "dt",
        "em",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "mark",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan", "scope"},
    "ol": {"start"},
    "code": {"class"},
    "div": {"class"},
    "sup": {"id", "class"},
    "li": {"id"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_SAFE_CLASS = re.compile(r"^(language-[A-Za-z0-9_+-]{1,40}|footnote|footnote-ref|footnote-backref)$")
# Footnote anchors are the only ids kept, so agent content cannot clobber ids the console relies on.
_SAFE_ID = re.compile(r"^fn(ref)?:[A-Za-z0-9_-]{1,40}$")


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        kept = " ".join(c for c in value.split() if _SAFE_CLASS.match(c))
        return kept or None
    if attribute == "id":
        return value if _SAFE_ID.match(value) else None
    return value


_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style", "template", "iframe", "object", "embed", "noscript"},
    attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
    attribute_filter=_attribute_filter,
    url_schemes=set(URL_SCHEMES),
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)


def html_sanitize(html: str) -> str:
    return _cleaner.clean(html)


_renderers = threading.local()


def _markdown() -> markdown.Markdown:
    """This thread's Markdown converter: building one (loading its extensions) costs more than converting
    an article. A converter is not thread-safe, and keeps state between documents until reset."""
    renderer = getattr(_renderers, "markdown", None)
    if renderer is None:
        extensions = [TableExtension(use_align_attribute=True), "fenced_code", "footnotes", "sane_lists"]
        renderer = _renderers.markdown = markdown.Markdown(extensions=extensions, output_format="html")
    return renderer.reset()


def markdown_render(text: str) -> str:
    """Sanitized HTML for agent Markdown."""
    return html_sanitize(_markdown().convert(text))
