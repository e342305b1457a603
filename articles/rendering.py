"""Markdown to sanitized HTML: what the console previews and what WordPress receives.

Agent Markdown is untrusted, and so is its cost: every step here takes time linear in the input, whatever its
shape (bench/markdown_worst.py measures the known worst shapes at the size limit).

1. cmark-gfm (the CommonMark reference parser, GitHub's fork; C, linear by design and fuzzed for pathological
   input) renders CommonMark plus GFM tables and footnotes. Raw HTML is passed through, to be sanitized.
   Python-Markdown, used before, is quadratic on bracket floods: `"![" * 16000` took 17.6 s.
2. `_Defuser` rewrites that HTML, in one pass, into a form on which nh3 is linear too. html5ever (nh3's
   parser) is quadratic on several shapes, whoever produces them: deep nesting (every block start tag scans
   the stack of open elements), unclosed formatting elements with distinct attributes, content moved out of
   tables (each move scans the table's siblings), many attributes on one tag, and, in its serializer, text or
   attribute values with many `&` or U+0080-U+00BF characters (each one rescans the rest of the node). The
   pass emits well-formed markup no deeper than `MAX_NESTING`, writes moved content where the parser would
   put it, passes on only the attributes nh3 may keep, and swaps those characters for placeholders that are
   swapped back after sanitizing. It also drops what nh3 would drop whole (comments, scripts) and turns
   cmark's footnote section into the `div.footnote` used before. HTML that cmark wrote entirely (no raw HTML)
   is well-formed already: for it the pass is a few C-speed string operations (`_defuse_cmark`).
3. nh3 cleans against an explicit allowlist: no script, style, iframe, object or form elements, no event
   handler, `style` or htmx (`hx-*`, `data-hx-*`) attributes, and only http(s), mailto and relative URLs.

Soft line breaks (a paragraph, list item, quote or heading wrapped over several source lines) join the lines
as readers expect, since WordPress's auto-paragraphing would turn a newline left inside a paragraph into
`<br />`: a space between words (CMARK_OPT_NOBREAKS), nothing between two Chinese or Japanese characters
(`_soft_breaks_join`, one linear pass over the breaks). Hard breaks (two trailing spaces or a backslash) stay
`<br>`; code blocks keep their newlines. Raw HTML is passed on as written, newlines included.

What a site receives (`post_content_build`) is that HTML without a leading H1 that repeats the post's title (the
theme prints the title), unless the site keeps it, and with shortcodes neutralized unless the site allows them,
written as WordPress core blocks unless the site's `content_format` is `html` (articles/blocks.py).
"""

from __future__ import annotations

import html as html_module
import re
import string
import threading
import unicodedata
from collections.abc import Callable, Iterator
from html.entities import html5 as html5_references
from importlib.metadata import version
from itertools import accumulate

import cffi
import nh3
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options

from articles.blocks import blocks_serialize
from core.config.types import SiteConfig
from core.exceptions import ValidationFailed

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
    # id and class on links: cmark-gfm puts the footnote anchors (`fnref-1`) and the back-link class on them.
    "a": {"href", "title", "id", "class"},
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
# `fn-x`/`fnref-x-2` are cmark-gfm's; `fn:x`/`fnref:x` are in articles rendered before it.
_SAFE_ID = re.compile(r"^fn(ref)?[:-][A-Za-z0-9_-]{1,40}$")

# Deeper than any article (nested lists, quotes and emphasis stay far below), shallow enough that html5ever's
# stack scans stay cheap: at 100, 256 KiB of nesting costs nh3 ~30 ms, where 131,072 levels took 104 s.
MAX_NESTING = 100
# cmark's output is linear in its input, but footnote back-links can make it ~60 times larger (tables of
# one-letter cells, the largest legitimate case, ~6 times); beyond this many times the Markdown (with a floor
# for short articles) the HTML is refused rather than stored, sanitized and published.
MAX_HTML_EXPANSION = 8
MIN_HTML_LIMIT = 1 << 20


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


# --- cmark-gfm ---------------------------------------------------------------------------------------------


class _Cmark:
    """cmark-gfm's C API, called on the library that cmarkgfm ships. cmarkgfm's own wrappers free neither the
    document tree nor the returned HTML (300 renders of a 130 KB article grew the process by 2.6 GB); these
    calls free both. cffi releases the GIL during each C call, so a render does not stall the event loop."""

    OPTIONS = Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_FOOTNOTES  # raw HTML kept: nh3 sanitizes it
    EXTENSIONS = (b"table",)

    def __init__(self) -> None:
        ffi = cffi.FFI()
        ffi.cdef(
            """
            typedef struct cmark_node cmark_node;
            typedef struct cmark_parser cmark_parser;
            typedef struct cmark_syntax_extension cmark_syntax_extension;
            typedef struct cmark_llist cmark_llist;
            typedef struct cmark_mem {
              void *(*calloc)(size_t, size_t);
              void *(*realloc)(void *, size_t);
              void (*free)(void *);
            } cmark_mem;
            const char *cmark_version_string(void);
            cmark_mem *cmark_get_default_mem_allocator(void);
            void cmark_gfm_core_extensions_ensure_registered(void);
            cmark_syntax_extension *cmark_find_syntax_extension(const char *name);
            cmark_parser *cmark_parser_new(int options);
            int cmark_parser_attach_syntax_extension(cmark_parser *parser, cmark_syntax_extension *extension);
            void cmark_parser_feed(cmark_parser *parser, const char *buffer, size_t len);
            cmark_node *cmark_parser_finish(cmark_parser *parser);
            cmark_llist *cmark_parser_get_syntax_extensions(cmark_parser *parser);
            char *cmark_render_html(cmark_node *root, int options, cmark_llist *extensions);
            void cmark_node_free(cmark_node *node);
            void cmark_parser_free(cmark_parser *parser);
            """
        )
        self._ffi = ffi
        self._lib = ffi.dlopen(_cmark.__file__)
        self._lib.cmark_gfm_core_extensions_ensure_registered()
        self._free = self._lib.cmark_get_default_mem_allocator().free
        self._extensions = []
        for name in self.EXTENSIONS:
            extension = self._lib.cmark_find_syntax_extension(name)
            if extension == ffi.NULL:
                raise RuntimeError(f"cmark-gfm has no {name.decode()} extension")
            self._extensions.append(extension)
        self.version = ffi.string(self._lib.cmark_version_string()).decode()

    def render(self, text: bytes, *, wide: bool) -> tuple[str, bool]:
        """The HTML, soft line breaks joined (`_soft_breaks_join`; `wide`: the text may hold characters written
        without spaces between words, which takes a third rendering), and whether cmark wrote all of it: no
        raw HTML and no URL cmark's safe mode would blank. The tree is rendered a second time in safe mode to
        tell (rendering costs a fraction of parsing)."""
        lib, ffi = self._lib, self._ffi
        parser = lib.cmark_parser_new(self.OPTIONS)
        root = output = safe = newlines = ffi.NULL
        try:
            for extension in self._extensions:
                lib.cmark_parser_attach_syntax_extension(parser, extension)
            lib.cmark_parser_feed(parser, text, len(text))
            root = lib.cmark_parser_finish(parser)
            extensions = lib.cmark_parser_get_syntax_extensions(parser)
            output = lib.cmark_render_html(root, self.OPTIONS | Options.CMARK_OPT_NOBREAKS, extensions)
            safe = lib.cmark_render_html(
                root, (self.OPTIONS | Options.CMARK_OPT_NOBREAKS) & ~Options.CMARK_OPT_UNSAFE, extensions
            )
            html = ffi.string(output)
            cmark_only = html == ffi.string(safe)
            if wide:
                newlines = lib.cmark_render_html(root, self.OPTIONS, extensions)
                html = _soft_breaks_join(html, ffi.string(newlines))
            return html.decode("utf-8", "replace"), cmark_only
        finally:
            for buffer in (output, safe, newlines):
                if buffer != ffi.NULL:
                    self._free(buffer)
            if root != ffi.NULL:
                lib.cmark_node_free(root)
            lib.cmark_parser_free(parser)


_cmark_lock = threading.Lock()
_cmark_instance: _Cmark | None = None


def _cmark_gfm() -> _Cmark:
    global _cmark_instance  # built once, on first use: loading registers the extensions
    if _cmark_instance is None:
        with _cmark_lock:
            if _cmark_instance is None:
                _cmark_instance = _Cmark()
    return _cmark_instance


# --- soft line breaks -------------------------------------------------------------------------------------

# A source text that may hold a character of `_joins_without_space` (all are U+1100 or above).
_MAYBE_WIDE = re.compile("[\u1100-\U0010ffff]")
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff\uffa0-\uffdc]")
_ZERO_WIDTH_SPACE = "\u200b"
# A soft break is `\n` in cmark's default HTML and ` ` with CMARK_OPT_NOBREAKS, all else the same: XOR `*`.
_SOFT_BREAK_MARK = re.compile(re.escape(bytes([ord("\n") ^ ord(" ")])))


def _wide(character: str) -> bool:
    """Written without spaces between words: East Asian Wide, Fullwidth or Halfwidth (Han, kana, their
    punctuation and fullwidth forms), Hangul excepted (Korean puts spaces between words)."""
    return unicodedata.east_asian_width(character) in ("W", "F", "H") and not _HANGUL.match(character)


def _joins_without_space(before: str, after: str) -> bool:
    """Whether a soft line break between these characters disappears rather than reads as a space: CSS Text 3's
    segment break transformation (a zero-width space on either side, or wide characters on both sides), and
    also between a wide character and punctuation of ambiguous width (`”`, `…`, `—`), as in Chinese text."""
    if _ZERO_WIDTH_SPACE in (before, after):
        return True
    if not before or not after:
        return False
    wide_before, wide_after = _wide(before), _wide(after)
    if wide_before and wide_after:
        return True
    other = after if wide_before else before if wide_after else ""
    return bool(other) and unicodedata.east_asian_width(other) == "A" and unicodedata.category(other)[0] == "P"


def _soft_breaks_join(spaced: bytes, newlines: bytes) -> bytes:
    """cmark's HTML with soft line breaks written as spaces (`spaced`, CMARK_OPT_NOBREAKS) without the space of
    those that join two characters without one (`_joins_without_space`): 第一行 第二行 becomes 第一行第二行.
    `newlines` is the same tree rendered with soft breaks as newlines: the two differ exactly there, so XOR-ing
    them (at C speed) marks the breaks, whatever precedes them (code blocks keep their newlines in both).
    The characters on either side are read past the tags around them (`<em>中</em> 文`), from one break to the
    next at most, so the whole pass is linear."""
    if len(spaced) != len(newlines):  # cannot happen (cmark writes one byte either way): keep the spaces
        return spaced
    marks = (int.from_bytes(spaced, "big") ^ int.from_bytes(newlines, "big")).to_bytes(len(spaced), "big")
    breaks = [match.start() for match in _SOFT_BREAK_MARK.finditer(marks)]
    kept, start = [], 0
    for index, at in enumerate(breaks):
        floor = breaks[index - 1] + 1 if index else 0
        ceiling = breaks[index + 1] if index + 1 < len(breaks) else len(spaced)
        end = at  # the character before: skip back over the tags that close or open just before the break
        while end > floor and spaced[end - 1] == 0x3E:  # `>`
            tag = spaced.rfind(b"<", floor, end - 1)
            if tag < 0:
                break
            end = tag
        begin = at + 1  # the character after: skip the tags just after it
        while begin < ceiling and spaced[begin] == 0x3C:  # `<`
            tag = spaced.find(b">", begin, ceiling)
            if tag < 0:
                break
            begin = tag + 1
        before = spaced[max(floor, end - 4) : end].decode("utf-8", "ignore")[-1:]
        after = spaced[begin : min(ceiling, begin + 4)].decode("utf-8", "ignore")[:1]
        if _joins_without_space(before, after):
            kept.append(spaced[start:at])
            start = at + 1
    if not kept:
        return spaced
    kept.append(spaced[start:])
    return b"".join(kept)


def renderer_version() -> str:
    """The renderer, for benchmarks and reports: cmarkgfm's release and the cmark-gfm it bundles."""
    return f"cmarkgfm {version('cmarkgfm')} (cmark-gfm {_cmark_gfm().version})"


# --- making html5ever's work linear ---------------------------------------------------------------------------

# The placeholder scheme: P followed by two hex digits stands for one character. "00" is P itself (so agent
# text that contains P survives), "01" is `&`, then U+0080-U+00BF. nh3 copies P and the digits untouched.
_P = "\ue000"
_SWAPPED = "&" + "".join(chr(c) for c in range(0x80, 0xC0))
_CODES = {ch: f"{_P}{index + 1:02x}" for index, ch in enumerate(_SWAPPED)}
_ESCAPE_TEXT = str.maketrans({_P: _P + "00", "<": "&lt;", ">": "&gt;", **_CODES})
_ESCAPE_ATTRIBUTE = str.maketrans({_P: _P + "00", "<": "&lt;", ">": "&gt;", '"': "&quot;", **_CODES})
# For text whose only references are cmark's own (&amp; &lt; &gt; &quot;): those stay as they are, and
# `&amp;` is swapped afterwards.
_ESCAPE_TEXT_WITH_REFERENCES = str.maketrans(
    {_P: _P + "00", "<": "&lt;", ">": "&gt;", **{ch: code for ch, code in _CODES.items() if ch != "&"}}
)
# What nh3 would have written for each swapped character: `&amp;`, `&nbsp;`, else the character itself.
_RESTORE = {
    "00": _P,
    **{code[1:]: ("&amp;" if ch == "&" else "&nbsp;" if ch == "\xa0" else ch) for ch, code in _CODES.items()},
}
_RESTORE_PATTERN = re.compile(_P + "([0-9a-f]{2})")
_OTHER_REFERENCE = re.compile(r"&(?!(?:amp|lt|gt|quot);)")

# The HTML tokenizer's view of a tag: name, then attributes whose quoted values may hold `>`, up to `>`.
_TAG = re.compile(
    r"""<(/?)([A-Za-z][^\t\n\f\r />]*)((?:[\t\n\f\r /]+|=?[^\t\n\f\r />=]*"""
    r"""(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:"[^"]*"?|'[^']*'?|[^\t\n\f\r >]*))?)*)(>?)"""
)
_ATTRIBUTE = re.compile(
    r"""([\t\n\f\r /]+)|(=?[^\t\n\f\r />=]*)(?:[\t\n\f\r ]*=[\t\n\f\r ]*("[^"]*"?|'[^']*'?|[^\t\n\f\r >]*))?"""
)
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*\Z")
# The only attribute names nh3 keeps, and the one that marks cmark-gfm's footnote section.
_KEPT_ATTRIBUTES = frozenset().union(*ALLOWED_ATTRIBUTES.values(), {"data-footnotes"})
_COMMENT = re.compile(r"<!--(?:-?>|[\s\S]*?(?:--!?>|\Z))")
_BOGUS_COMMENT = re.compile(r"<[!?/][^>]*>?")
# html.unescape's reading of a reference: numeric, or a name of up to 32 characters.
_REFERENCE = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_LETTERS = frozenset(string.ascii_letters)

_VOID = frozenset(
    [
        "area",
        "base",
        "basefont",
        "bgsound",
        "br",
        "col",
        "embed",
        "frame",
        "hr",
        "img",
        "input",
        "keygen",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
# Dropped with their content, as nh3 would (clean_content_tags); their content is raw text to the parser.
_RAW_TEXT_DROPPED = frozenset({"script", "style", "iframe", "noscript"})
# Tags nh3 strips while keeping their content as text: raw text (xmp...) or text with references (textarea).
_RAW_TEXT_KEPT = frozenset({"xmp", "noembed", "noframes", "plaintext"})
_ESCAPABLE_RAW_TEXT_KEPT = frozenset({"textarea", "title"})
_RAW_TEXT_END = {
    name: re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE)
    for name in _RAW_TEXT_DROPPED | _RAW_TEXT_KEPT | _ESCAPABLE_RAW_TEXT_KEPT
}
_IGNORED = frozenset({"html", "head", "body", "frameset"})  # no element in a fragment
_CLOSES_P = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "center",
        "details",
        "dd",
        "dialog",
        "dir",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "li",
        "listing",
        "main",
        "menu",
        "nav",
        "ol",
        "p",
        "pre",
        "search",
        "section",
        "summary",
        "table",
        "ul",
    ]
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_FOOTNOTE_SECTION = (("class", "footnotes"), ("data-footnotes", ""))
# Start tags that close the current element when it is one of these (beyond `p`, which _CLOSES_P closes).
_CLOSED_BY = {
    **{heading: _HEADINGS for heading in _HEADINGS},
    "li": frozenset({"li"}),
    "dt": frozenset({"dt", "dd"}),
    "dd": frozenset({"dt", "dd"}),
    "td": frozenset({"td", "th"}),
    "th": frozenset({"td", "th"}),
    "tr": frozenset({"td", "th", "tr"}),
    "thead": frozenset({"td", "th", "tr", "thead", "tbody", "tfoot"}),
    "tbody": frozenset({"td", "th", "tr", "thead", "tbody", "tfoot"}),
    "tfoot": frozenset({"td", "th", "tr", "thead", "tbody", "tfoot"}),
    "option": frozenset({"option"}),
    "optgroup": frozenset({"option", "optgroup"}),
}
# The loop's fast path: a lowercase tag without attributes...
_PLAIN_TAG = re.compile(r"<(/?)([a-z][a-z0-9]*)>")
# Where text and most elements cannot go: the parser moves them out, before the table ("foster parenting").
_TABLE_CONTEXT = frozenset({"table", "thead", "tbody", "tfoot", "tr"})
# What may go there: table parts, and elements the parser keeps in place.
_TABLE_CONTENT = frozenset(
    {"caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr", "td", "th", "table", "form", "template"}
)
# Start tags that _tag must see (no element, raw text, renamed)...
_NEEDS_TAG = frozenset(set(_RAW_TEXT_END) | _IGNORED | {"image"})
# ...and those that need more than a push (void, or special cases of _start_tag).
_CAREFUL = frozenset(_VOID | {"a", "section", "table"})
_VOID_CMARK_TAG = re.compile(r"<(?:br|hr|img|input)\b[^>]*>")
_CMARK_TAG_START = re.compile(r"<(/?)[a-z]")
_DEPTH_STEP = {"": 1, "/": -1}
_SWAPPED_OR_P = re.compile("[\x80-\xbf\ue000]")


def _attribute_reference(match: re.Match) -> str:
    """One character reference in an attribute value, decoded as html.unescape decodes text (HTML5 rules),
    except that a named reference without `;` followed by a letter, digit or `=` stays literal there
    (`?a=1&copy=2`)."""
    name = match.group(1)
    if name[0] == "#" or name in html5_references:
        return html_module.unescape(match.group(0))
    for length in range(len(name) - 1, 1, -1):
        if name[:length] in html5_references:
            following = name[length]
            if following.isascii() and (following.isalnum() or following == "="):
                return match.group(0)
            return html5_references[name[:length]] + name[length:]
    return match.group(0)


def _unescape_attribute(value: str) -> str:
    if "&" not in value:
        return value
    if not _OTHER_REFERENCE.search(value):
        return value.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return _REFERENCE.sub(_attribute_reference, value)


def _attribute_text(value: str) -> str:
    return _unescape_attribute(value).translate(_ESCAPE_ATTRIBUTE)


def _text(raw: str) -> str:
    """Text for the sanitizer: `<` and `>` escaped, `&` and U+0080-U+00BF swapped for placeholders."""
    if "&" not in raw:
        return raw.translate(_ESCAPE_TEXT)
    if not _OTHER_REFERENCE.search(raw):  # cmark's own escapes only: the common case, kept fast
        return raw.translate(_ESCAPE_TEXT_WITH_REFERENCES).replace("&amp;", _CODES["&"])
    return html_module.unescape(raw).translate(_ESCAPE_TEXT)


class _Defuser:
    """One pass over HTML that yields the same document, well-formed, at most `max_depth` elements deep and
    with the characters html5ever's serializer rescans swapped for placeholders. Tokens are read as the HTML
    tokenizer reads them; every tag is written back in a canonical form and all text escaped, so nh3 parses
    exactly the structure this pass tracked. Misnested raw HTML is closed the simple way (an end tag closes
    everything opened after its element); well-formed markup, as cmark writes it, comes out unchanged.
    Content that the parser would move out of a table (text or elements between rows: "foster parenting",
    which costs html5ever a scan of the table's siblings each time) is written before the table here.

    `on_too_deep` is called when an element would open past `max_depth`; if it returns, the element's tags
    are dropped (its content kept)."""

    def __init__(self, source: str, *, max_depth: int, on_too_deep: Callable[[int], None]):
        self.source = source
        self.max_depth = max_depth
        self.on_too_deep = on_too_deep
        self.root: list = []
        self.out: list = self.root  # where content goes now: the list the current element was written to
        # (name in the source, name written, the list it was written to); tables have a list of their own,
        # written just before them, for the content moved out of them (in self.fosters while they are open).
        self.stack: list[tuple[str, str, list]] = []
        self.open: dict[str, int] = {}
        self.fosters: list[list] = []

    def run(self) -> str:
        # The loop handles text and plain tags (no attribute, lowercase name) inline: most tokens are those,
        # and a method call per token would double the cost.
        source, stack, open_ = self.source, self.stack, self.open
        find, plain, max_depth = source.find, _PLAIN_TAG.match, self.max_depth
        end = len(source)
        pos = 0
        while pos < end:
            lt = find("<", pos)
            if lt < 0:
                lt = end
            top = stack[-1][0] if stack else ""
            if lt > pos:
                chunk = source[pos:lt]
                text = chunk if chunk.isascii() and "&" not in chunk and ">" not in chunk else _text(chunk)
                if top in _TABLE_CONTEXT and self.fosters and not chunk.isspace():
                    self.fosters[-1].append(text)
                else:
                    self.out.append(text)
                pos = lt
                continue
            match = plain(source, pos)
            if match is not None:
                closing, name = match.groups()
                if closing:
                    if top == name and name != "table":
                        written, home = stack.pop()[1:]
                        open_[name] -= 1
                        home.append(f"</{written}>")
                        self.out = stack[-1][2] if stack else self.root
                    else:
                        self._end_tag(name)
                    pos = match.end()
                    continue
                if name not in _NEEDS_TAG:
                    if (
                        name not in _CAREFUL
                        and (top not in _TABLE_CONTEXT or name in _TABLE_CONTENT)
                        and top not in _CLOSED_BY.get(name, ())
                        and not (top == "p" and name in _CLOSES_P)
                        and len(stack) < max_depth
                    ):
                        stack.append((name, name, self.out))
                        open_[name] = open_.get(name, 0) + 1
                        self.out.append(match.group(0))
                    else:
                        self._start_tag(name, [], self_closing=False)
                    pos = match.end()
                    continue
            following = source[pos + 1 : pos + 2]
            if following in _LETTERS or (following == "/" and source[pos + 2 : pos + 3] in _LETTERS):
                pos = self._tag(pos)
            elif source.startswith("<!--", pos):
                pos = _matched(_COMMENT, source, pos).end()  # comments are stripped by nh3 anyway
            elif following in ("!", "?", "/"):
                pos = _matched(_BOGUS_COMMENT, source, pos).end()  # doctype, CDATA, PIs, `</>`: bogus comments
            else:
                (self.fosters[-1] if top in _TABLE_CONTEXT and self.fosters else self.out).append("&lt;")
                pos += 1
        while stack:
            self._pop()
        return "".join(_flatten(self.root))

    def _tag(self, pos: int) -> int:
        match = _matched(_TAG, self.source, pos)
        after = match.end()
        if not match.group(4):
            return after  # the input ended inside the tag: no tag at all
        name = match.group(2)
        if not _TAG_NAME.match(name):
            return after  # a name no allowed element has: nh3 would strip the tag and keep its content
        name = name.lower()
        if match.group(1):
            self._end_tag(name)
            return after
        if name in _IGNORED:
            return after
        if name in _RAW_TEXT_END:
            return self._raw_text(name, after)
        attributes, self_closing = _attributes(match.group(3))
        self._start_tag("img" if name == "image" else name, attributes, self_closing=self_closing)
        return after

    def _raw_text(self, name: str, start: int) -> int:
        found = _RAW_TEXT_END[name].search(self.source, start) if name != "plaintext" else None
        stop = found.start() if found else len(self.source)
        target = self._target(name)
        if name in _RAW_TEXT_KEPT:
            target.append(self.source[start:stop].translate(_ESCAPE_TEXT))  # references stay literal
        elif name in _ESCAPABLE_RAW_TEXT_KEPT:
            target.append(_text(self.source[start:stop]))
        if found:
            return _matched(_TAG, self.source, stop).end()  # its end tag
        return stop

    def _target(self, name: str) -> list:
        """Where a start tag goes: before the innermost open table when the parser would move it there."""
        if self.stack and self.stack[-1][0] in _TABLE_CONTEXT and name not in _TABLE_CONTENT and self.fosters:
            return self.fosters[-1]
        return self.out

    def _start_tag(self, name: str, attributes: list[tuple[str, str]], *, self_closing: bool) -> None:
        stack = self.stack
        # The end tags HTML lets authors leave out, closed as the parser would (when they are the current
        # element): a block closes a paragraph, a list item the previous one, a cell the previous cell...
        if name in _CLOSES_P:
            if stack and stack[-1][0] == "p":
                self._pop()
            if stack and stack[-1][0] in _CLOSED_BY.get(name, ()):
                self._pop()
        elif name in _CLOSED_BY:
            closes = _CLOSED_BY[name]
            while stack and stack[-1][0] in closes:
                self._pop()
        elif name == "a" and self.open.get("a"):
            self._end_tag("a")  # links do not nest
        written = name
        if name == "section" and tuple(attributes) == _FOOTNOTE_SECTION:
            written, attributes = "div", [("class", "footnote")]  # cmark-gfm's footnotes, as before
        if name not in _VOID and not self_closing and len(stack) >= self.max_depth:
            self.on_too_deep(len(stack) + 1)
            return
        home = self._target(name)
        if name == "table":
            foster: list = []
            home.append(foster)
            self.fosters.append(foster)
        parts = [f"<{written}"]
        parts.extend(f' {attribute}="{_attribute_text(value)}"' for attribute, value in attributes)
        parts.append(">" if written == name else "><hr>")
        home.append("".join(parts))
        if name in _VOID:
            return
        if self_closing:
            home.append(f"</{written}>")
            if name == "table":
                self.fosters.pop()
            return
        stack.append((name, written, home))
        self.open[name] = self.open.get(name, 0) + 1
        self.out = home

    def _end_tag(self, name: str) -> None:
        if self.open.get(name):
            while self._pop() != name:
                pass
        elif name == "br":
            self._target("br").append("<br>")  # the parser reads a stray </br> as <br>
        elif name == "p":
            self._target("p").append("<p></p>")  # and a stray </p> as an empty paragraph

    def _pop(self) -> str:
        name, written, home = self.stack.pop()
        self.open[name] -= 1
        home.append(f"</{written}>")
        if name == "table":
            self.fosters.pop()
        self.out = self.stack[-1][2] if self.stack else self.root
        return name


def _matched(pattern: re.Pattern[str], source: str, pos: int) -> re.Match[str]:
    """`pattern.match` for the patterns written to match at any position where they are tried (each ends in
    an alternative that takes the rest of the input)."""
    match = pattern.match(source, pos)
    if match is None:
        raise AssertionError(f"{pattern.pattern!r} did not match at {pos}")
    return match


def _flatten(pieces: list) -> Iterator[str]:
    """The strings of nested lists, in order (a table's moved content is a list written before it)."""
    stack = [iter(pieces)]
    while stack:
        for piece in stack[-1]:
            if isinstance(piece, list):
                stack.append(iter(piece))
                break
            yield piece
        else:
            stack.pop()


def _attributes(raw: str) -> tuple[list[tuple[str, str]], bool]:
    """A start tag's attributes as the tokenizer reads them (the first of duplicates wins), those nh3 may
    keep, and whether the tag ends with `/>`."""
    attributes: list[tuple[str, str]] = []
    seen: set[str] = set()
    self_closing = False
    for match in _ATTRIBUTE.finditer(raw):
        separator, name, value = match.groups()
        if separator is not None:
            self_closing = separator.endswith("/") and match.end() == len(raw)
            continue
        if not name:
            continue
        self_closing = False
        name = name.lower()
        if name in seen or name not in _KEPT_ATTRIBUTES:
            continue  # nh3 would drop it: not passing it on keeps html5ever's per-tag duplicate scan short
        seen.add(name)
        if value is None:
            value = ""
        elif value[:1] in ('"', "'"):
            value = value[1:-1] if len(value) > 1 and value[-1] == value[0] else value[1:]
        attributes.append((name, value))
    return attributes, self_closing


def _defuse_cmark(html: str) -> str:
    """`_Defuser`'s work at C speed for HTML that cmark wrote entirely: it is well-formed, its text and
    attributes hold no reference but `&amp; &lt; &gt; &quot;`, and `<` followed by a letter always starts a
    tag. Raises ValidationFailed past `MAX_NESTING`."""
    unclosed = _VOID_CMARK_TAG.sub("", html)
    depth = max(accumulate(map(_DEPTH_STEP.__getitem__, _CMARK_TAG_START.findall(unclosed)), initial=0))
    if depth > MAX_NESTING:
        _too_deep(depth)
    if "<section" in html:
        html = html.replace('<section class="footnotes" data-footnotes>', '<div class="footnote"><hr>')
        html = html.replace("</section>", "</div>")
    # str.translate costs ~70 ns a character on a multi-character mapping: replace what is present instead.
    present = set(_SWAPPED_OR_P.findall(html))
    if _P in present:
        html = html.replace(_P, _P + "00")
    for character in present - {_P}:
        html = html.replace(character, _CODES[character])
    return html.replace("&amp;", _CODES["&"])


def _restore(html: str) -> str:
    if _P not in html:
        return html
    html = html.replace(_CODES["&"], "&amp;")
    if _P not in html:
        return html
    return _RESTORE_PATTERN.sub(lambda match: _RESTORE.get(match.group(1), match.group(0)), html)


def _sanitize_defused(html: str) -> str:
    return _restore(_cleaner.clean(html)).strip("\n")  # cmark ends every block with a newline


def _drop(depth: int) -> None:
    """Past the nesting limit when re-sanitizing stored HTML: the element's tags are dropped, its text kept."""


def _too_deep(depth: int) -> None:
    raise ValidationFailed(
        f"content_markdown nests more than {MAX_NESTING} levels deep (lists, quotes, emphasis or HTML elements "
        f"reach {depth}); the limit is {MAX_NESTING}",
        field="content_markdown",
    )


def html_sanitize(html: str) -> str:
    """Sanitized HTML for HTML already stored (or from anywhere): never fails; markup nested deeper than
    `MAX_NESTING` is flattened."""
    return _sanitize_defused(_Defuser(html, max_depth=MAX_NESTING, on_too_deep=_drop).run())


# What WordPress auto-embeds when it shows a post (WP_Embed::autoembed): a URL alone in its paragraph, or alone
# on a line (inside <pre> too). Linear: the URL runs to whitespace, `<`, `>` or `"`, none of which it contains.
_EMBED_CANDIDATE = re.compile(
    r'(<p(?: [^>]*)?>[^\S\n]*|^[^\S\n]*)(https?)://([^\s<>"]+[^\S\n]*(?:</p>|$))', re.I | re.M
)


def html_shortcodes_neutralize(html: str) -> str:
    """Sanitized HTML in which WordPress finds nothing to run that would make the site fetch a URL an agent
    wrote, while readers (and browsers following a link) see the same characters: every `[` written `&#91;`,
    in text and in attribute values alike, so the shortcode parser, which looks for a literal `[`, finds none
    (`[embed]http://…[/embed]`, `[audio]`, `[caption]` stay text); and the `//` of a URL WordPress would
    auto-embed (alone in its paragraph or on its own line: the site would fetch it to discover an embed)
    written `&#47;&#47;`. Applied at publish time for a site without `allow_shortcodes`."""
    return _EMBED_CANDIDATE.sub(r"\1\2:&#47;&#47;\3", html.replace("[", "&#91;"))


def markdown_render(text: str) -> str:
    """Sanitized HTML for agent Markdown. Raises ValidationFailed (field content_markdown) for Markdown whose
    HTML would nest deeper than `MAX_NESTING` or be more than `MAX_HTML_EXPANSION` times its size."""
    try:
        source = text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValidationFailed(
            f"content_markdown is not valid Unicode text (a lone surrogate at character {error.start})",
            field="content_markdown",
        ) from None
    html, cmark_only = _cmark_gfm().render(source, wide=_MAYBE_WIDE.search(text) is not None)
    limit = max(MIN_HTML_LIMIT, MAX_HTML_EXPANSION * len(source))
    if len(html) > limit:
        raise ValidationFailed(
            f"content_markdown renders to {len(html)} characters of HTML; the limit is {limit} "
            f"({MAX_HTML_EXPANSION} times the Markdown)",
            field="content_markdown",
        )
    if cmark_only:
        return _sanitize_defused(_defuse_cmark(html))
    return _sanitize_defused(_Defuser(html, max_depth=MAX_NESTING, on_too_deep=_too_deep).run())


# --- what a site receives -----------------------------------------------------------------------------------

_LEADING_H1 = re.compile(r"\s*<h1>(.*?)</h1>\s*", re.DOTALL)  # nh3 keeps no attribute on h1
_SANITIZED_TAG = re.compile(r'<(?:[^>"]|"[^"]*")*>')  # nh3 quotes every attribute value with `"`
_INLINE_MARKUP = str.maketrans("", "", "*_`~")


def _heading_key(text: str) -> str:
    """A title or heading as compared: compatibility forms folded, whitespace collapsed, case ignored, without
    Markdown's inline markup characters or trailing punctuation (`Hello, *World*!` matches `hello, world`)."""
    key = " ".join(unicodedata.normalize("NFKC", text).translate(_INLINE_MARKUP).split()).casefold()
    end = len(key)
    while end and (key[end - 1].isspace() or unicodedata.category(key[end - 1])[0] == "P"):
        end -= 1
    return key[:end]


def html_leading_title_drop(*, html: str, title: str) -> str:
    """Sanitized HTML without its leading H1 when that heading repeats `title` (compared by `_heading_key`,
    its inline markup ignored): the theme prints the title already, so the post would show it twice. Any
    other heading, and an H1 further down, stays."""
    match = _LEADING_H1.match(html)
    if match is None:
        return html
    heading = html_module.unescape(_SANITIZED_TAG.sub("", match.group(1)))
    key = _heading_key(title)
    if not key or _heading_key(heading) != key:
        return html
    return html[match.end() :]


def post_content_build(*, html: str, title: str, site: SiteConfig | None) -> str:
    """The content WordPress receives for an article's sanitized HTML, and what the console previews: its
    leading H1 dropped when it repeats the title (unless the site has `keep_leading_heading`), every `[`
    neutralized (unless the site has `allow_shortcodes`), written as core block markup (unless the site's
    `content_format` is `html`; block comments show nothing in a browser). `site` None (no longer
    configured): the defaults."""
    keep_heading = site.keep_leading_heading if site is not None else SiteConfig.keep_leading_heading
    allow_shortcodes = site.allow_shortcodes if site is not None else SiteConfig.allow_shortcodes
    content_format = site.content_format if site is not None else SiteConfig.content_format
    if not keep_heading:
        html = html_leading_title_drop(html=html, title=title)
    if not allow_shortcodes:
        html = html_shortcodes_neutralize(html)
    return blocks_serialize(html=html) if content_format == "blocks" else html
