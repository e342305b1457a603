"""Sanitized HTML as WordPress core block markup, for sites with `content_format: blocks` (the default).

Without block markup WordPress shows a post as one "Classic" (core/freeform) block, which editors must convert
by hand. `blocks_serialize` writes each top-level element as the core block the block editor itself would save
for it (WordPress 6.1's `save()` of paragraph, heading, list and list-item, quote, code, preformatted, table,
image and separator), byte for byte where it matters: the editor re-runs `save()` on what it parsed and flags
any difference ("This block contains unexpected or invalid content"). What no core block can hold exactly (the
footnotes section, a definition list, a table with merged cells, raw HTML of other shapes) becomes a `core/html`
block holding that HTML as written, never freeform: WordPress renders it unchanged, and the editor shows it as
HTML.

Rendering changes nothing a reader sees, except what the block markup itself asks for (a table or an image in a
`<figure>`, a table cell's alignment as WordPress's `has-text-align-*` class): WordPress strips the block
comments and, for content with blocks, skips its auto-paragraphing. A loose list item's single paragraph is
unwrapped (a list-item block holds inline text, and the editor has no loose lists).

The input is sanitized HTML (nh3's serialization: every element closed, attribute values double-quoted, `<`
escaped in text and attribute values, no comments). It is tokenized once into a tree, and each node is
serialized at most once, into one list of pieces: time linear in the input.
"""

from __future__ import annotations

import html as html_module
import json
import re
from collections.abc import Mapping

# Elements whose content a rich-text block attribute can hold as is (nh3's allowlist, phrasing content only).
_PHRASING = frozenset(
    {
        "a",
        "abbr",
        "b",
        "br",
        "code",
        "del",
        "em",
        "i",
        "img",
        "ins",
        "kbd",
        "mark",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "u",
    }
)
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_CELL_ALIGNMENTS = frozenset({"left", "center", "right"})
# Deeper than sanitized HTML gets (rendering.MAX_NESTING); anything deeper is kept as HTML, not recursed into.
_MAX_DEPTH = 200

# Possessive: a tag without its `>` fails at once instead of backtracking (it is then a `<` of text).
_TOKEN = re.compile(r'<(/?)([a-z][a-z0-9]*+)((?:[^>"]++|"[^"]*+")*+)>|[^<]++|<')
_ATTRIBUTE = re.compile(r'([^\s="/>]+)(?:\s*=\s*"([^"]*)")?')
_WHITESPACE = " \t\n\r\f"
_BETWEEN_BLOCKS = "\n\n"  # what the editor's serialize() writes between blocks, nested ones too
_CANONICAL_INTEGER = re.compile(r"(?:0|-?[1-9][0-9]{0,8})\Z")
# The code block's save() (`escapeProtocolInIsolatedUrls`): the `//` of a URL alone on its line is written
# `&#47;&#47;`, so that WordPress's auto-embed does not turn it into an embed (the site would fetch it). The
# editor does it for the first such line only; every one is done here. Horizontal whitespace only, so that a
# run of blank lines is not rescanned from each of its line starts.
_ISOLATED_URL = re.compile(r'^([^\S\n]*https?:)//([^\s<>"]+[^\S\n]*)$', re.MULTILINE)


def block_attributes_serialize(attributes: Mapping[str, object]) -> str:
    """A block comment's attributes as WordPress writes them (`serialize_block_attributes`, the editor's
    `serializeAttributes`): compact JSON with `--`, `<`, `>`, `&` and an escaped `"` written as \\u escapes, so
    the comment cannot end early and no tool mistakes it for markup."""
    encoded = json.dumps(attributes, ensure_ascii=False, separators=(",", ":"))
    for character, escape in (("--", "\\u002d\\u002d"), ("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        encoded = encoded.replace(character, escape)
    return encoded.replace('\\"', "\\u0022")


def blocks_serialize(*, html: str, media_ids: Mapping[str, int] | None = None) -> str:
    """Sanitized HTML as core block markup (see the module's docstring).

    `media_ids`: the site's attachment id of an image, by its URL (`src`, as the reader's browser would read
    it). An image found there is written as the editor writes a media-library image (`{"id":N}` and the
    `wp-image-N` class), so the editor offers it as that attachment (replace, edit, its sizes)."""
    return _Serializer(html, media_ids or {}).run()


class _Node:
    """An element (`tag`), or a run of text (`tag` ""): offsets into the source, and what serializing asks of
    its subtree, computed once when it closes (`_finish`)."""

    __slots__ = (
        "children",
        "end",
        "height",
        "inner_end",
        "inner_start",
        "phrasing_only",
        "raw_attributes",
        "start",
        "tag",
    )

    def __init__(self, tag: str, start: int, inner_start: int, raw_attributes: str = "") -> None:
        self.tag = tag
        self.start = start
        self.inner_start = inner_start
        self.raw_attributes = raw_attributes
        self.inner_end = self.end = -1
        self.children: list[_Node] = []
        self.phrasing_only = True  # no descendant is anything but text and phrasing elements
        self.height = 0  # elements on the longest path down, this one included

    def attributes(self) -> dict[str, str]:
        """Name to raw (still escaped) value; a name given twice keeps its first value, as browsers do."""
        found: dict[str, str] = {}
        for match in _ATTRIBUTE.finditer(self.raw_attributes):
            found.setdefault(match.group(1).lower(), match.group(2) or "")
        return found


def _tree(source: str) -> _Node:
    """The element tree of well-formed HTML, built in one pass. An end tag closes the elements opened after its
    start tag; a stray one is ignored (neither happens in nh3's output, but the result stays a tree)."""
    root = _Node("", 0, 0)
    stack = [root]
    open_count: dict[str, int] = {}
    for match in _TOKEN.finditer(source):
        closing, name, raw_attributes = match.groups()
        if name is None:  # text, or a `<` that starts no tag; whitespace alone is left out (slices keep it)
            if match.group().strip(_WHITESPACE):
                text = _Node("", match.start(), match.start())
                text.inner_end = text.end = match.end()
                stack[-1].children.append(text)
            continue
        if not closing:
            node = _Node(name, match.start(), match.end(), raw_attributes)
            stack[-1].children.append(node)
            if name in _VOID or raw_attributes.rstrip().endswith("/"):
                node.inner_end = node.end = match.end()
                _finish(node)
            else:
                stack.append(node)
                open_count[name] = open_count.get(name, 0) + 1
            continue
        if not open_count.get(name):
            continue
        while True:
            node = stack.pop()
            open_count[node.tag] -= 1
            matched = node.tag == name
            node.inner_end = match.start()
            node.end = match.end() if matched else match.start()
            _finish(node)
            if matched:
                break
    while len(stack) > 1:
        node = stack.pop()
        node.inner_end = node.end = len(source)
        _finish(node)
    root.inner_end = root.end = len(source)
    return root


def _finish(node: _Node) -> None:
    height = 0
    phrasing_only = True
    for child in node.children:
        if child.tag:
            if child.height > height:
                height = child.height
            if phrasing_only and not (child.phrasing_only and child.tag in _PHRASING):
                phrasing_only = False
    node.height = height + 1
    node.phrasing_only = phrasing_only


class _Serializer:
    def __init__(self, source: str, media_ids: Mapping[str, int]):
        self.source = source
        self.media_ids = media_ids
        self.out: list[str] = []

    def run(self) -> str:
        self._container(_tree(self.source).children)
        return _BETWEEN_BLOCKS.join(self.out)

    # --- helpers ------------------------------------------------------------------------------------------

    def _inner(self, node: _Node) -> str:
        return self.source[node.inner_start : node.inner_end]

    def _delimited(self, out: list[str], name: str, attributes: Mapping[str, object], content: str) -> None:
        serialized = f"{block_attributes_serialize(attributes)} " if attributes else ""
        out.append(f"<!-- wp:{name} {serialized}-->\n{content}\n<!-- /wp:{name} -->")

    # --- where blocks follow one another: the post, a quote -------------------------------------------------

    def _container(self, nodes: list[_Node]) -> None:
        """Each node as its block, appended to `self.out`; runs of nodes that make no block (text, inline
        elements, other shapes) as one `core/html` block each."""
        pending: list[_Node] = []
        for node in nodes:
            mark = len(self.out)
            if node.tag and self._block(node):
                if pending:
                    self.out.insert(mark, self._html(pending))
                    pending = []
                continue
            pending.append(node)
        if pending:
            self.out.append(self._html(pending))

    def _html(self, nodes: list[_Node]) -> str:
        """A `core/html` block holding these nodes as written, with what lies between them."""
        pieces: list[str] = []
        self._delimited(pieces, "html", {}, self.source[nodes[0].start : nodes[-1].end].strip(_WHITESPACE))
        return pieces[0]

    def _block(self, node: _Node) -> bool:
        """Whether `node` was appended to `self.out` as one block (nothing is appended otherwise)."""
        if node.height > _MAX_DEPTH:
            return False
        tag = node.tag
        if tag == "p":
            return self._image(node) or self._paragraph(node)
        if tag == "img":  # raw HTML on its own line: no paragraph around it
            return self._image_block(node, None)
        if tag in _HEADINGS:
            return self._heading(node)
        if tag in ("ul", "ol"):
            pieces: list[str] = []
            if self._list(node, pieces):
                self.out.append(pieces[0])
                return True
            return False
        if tag == "blockquote":
            return self._quote(node)
        if tag == "pre":
            return self._code(node) or self._preformatted(node)
        if tag == "table":
            return self._table(node)
        if tag == "hr" and not node.raw_attributes.strip():
            self._delimited(self.out, "separator", {}, '<hr class="wp-block-separator has-alpha-channel-opacity"/>')
            return True
        return False

    # --- the blocks -----------------------------------------------------------------------------------------

    def _paragraph(self, node: _Node) -> bool:
        if node.raw_attributes.strip() or not node.phrasing_only:
            return False
        self._delimited(self.out, "paragraph", {}, f"<p>{self._inner(node)}</p>")
        return True

    def _heading(self, node: _Node) -> bool:
        if node.raw_attributes.strip() or not node.phrasing_only:
            return False
        level = _HEADINGS[node.tag]
        attributes = {} if level == 2 else {"level": level}
        self._delimited(self.out, "heading", attributes, f"<{node.tag}>{self._inner(node)}</{node.tag}>")
        return True

    def _list(self, node: _Node, out: list[str]) -> bool:
        """A `core/list` with its `core/list-item` blocks, appended to `out` as one piece."""
        attributes = node.attributes()
        ordered = node.tag == "ol"
        start = attributes.pop("start", None) if ordered else None
        if attributes or (start is not None and not _CANONICAL_INTEGER.match(start)):
            return False
        items: list[str] = []
        for child in node.children:
            if child.tag != "li" or not self._list_item(child, items):
                return False
        block_attributes: dict[str, object] = {}
        opening = node.tag
        if ordered:
            block_attributes["ordered"] = True
        if start is not None:
            block_attributes["start"] = int(start)
            opening += f' start="{start}"'
        self._delimited(out, "list", block_attributes, f"<{opening}>{_BETWEEN_BLOCKS.join(items)}</{node.tag}>")
        return True

    def _list_item(self, node: _Node, out: list[str]) -> bool:
        """Its inline content (a loose item's single paragraph unwrapped), then its nested lists."""
        if node.raw_attributes.strip():
            return False
        content: list[_Node] = []
        paragraph: _Node | None = None
        nested: list[str] = []
        for child in node.children:
            if child.tag in ("ul", "ol"):
                if not self._list(child, nested):
                    return False
                continue
            if nested or paragraph is not None:
                return False
            if child.tag == "p" and not content and not child.raw_attributes.strip() and child.phrasing_only:
                paragraph = child
            elif not child.tag or (child.tag in _PHRASING and child.phrasing_only):
                content.append(child)
            else:
                return False
        if paragraph is not None:
            text = self._inner(paragraph)
        elif content:
            text = self.source[content[0].start : content[-1].end].strip(_WHITESPACE)
        else:
            text = ""
        self._delimited(out, "list-item", {}, f"<li>{text}{''.join(nested)}</li>")
        return True

    def _quote(self, node: _Node) -> bool:
        if node.raw_attributes.strip():
            return False
        outer, self.out = self.out, []
        try:
            self._container(node.children)
            inner = _BETWEEN_BLOCKS.join(self.out)
        finally:
            self.out = outer
        self._delimited(self.out, "quote", {}, f'<blockquote class="wp-block-quote">{inner}</blockquote>')
        return True

    def _code(self, node: _Node) -> bool:
        """`<pre><code>`: a `core/code` block; a language class moves to the `<pre>` as the block's custom class
        (the block keeps none on `<code>`), where highlighters look too."""
        code = node.children[0] if len(node.children) == 1 else None
        if node.raw_attributes.strip() or code is None or code.tag != "code":
            return False
        if (code.start, code.end) != (node.inner_start, node.inner_end):  # text around it: not a code block
            return False
        attributes = code.attributes()
        class_name = attributes.pop("class", "").strip(_WHITESPACE)
        if attributes or not code.phrasing_only:
            return False
        content = _ISOLATED_URL.sub(r"\1&#47;&#47;\2", self._inner(code).replace("[", "&#91;"))
        classes = f"wp-block-code {class_name}" if class_name else "wp-block-code"
        block_attributes = {"className": class_name} if class_name else {}
        self._delimited(self.out, "code", block_attributes, f'<pre class="{classes}"><code>{content}</code></pre>')
        return True

    def _preformatted(self, node: _Node) -> bool:
        if node.raw_attributes.strip() or not node.phrasing_only:
            return False
        self._delimited(self.out, "preformatted", {}, f'<pre class="wp-block-preformatted">{self._inner(node)}</pre>')
        return True

    def _table(self, node: _Node) -> bool:
        """thead, tbody, tfoot in that order, each once at most and with rows, cells holding inline content,
        aligned by `align` (written as the block writes it: `has-text-align-*` and `data-align`); no caption
        and no merged cells, which WordPress 6.1's table block cannot hold."""
        if node.raw_attributes.strip():
            return False
        pieces = ['<figure class="wp-block-table"><table>']
        order = ("thead", "tbody", "tfoot")
        last = -1
        for section in node.children:
            if section.tag not in order or order.index(section.tag) <= last or section.raw_attributes.strip():
                return False
            last = order.index(section.tag)
            rows = section.children
            if not rows:
                return False
            pieces.append(f"<{section.tag}>")
            for row in rows:
                if row.tag != "tr" or row.raw_attributes.strip():
                    return False
                pieces.append("<tr>")
                for cell in row.children:
                    if not self._cell(cell, pieces):
                        return False
                pieces.append("</tr>")
            pieces.append(f"</{section.tag}>")
        if last < 0:
            return False
        pieces.append("</table></figure>")
        self._delimited(self.out, "table", {}, "".join(pieces))
        return True

    def _cell(self, cell: _Node, pieces: list[str]) -> bool:
        if cell.tag not in ("th", "td") or not cell.phrasing_only:
            return False
        attributes = cell.attributes()
        align = attributes.pop("align", None)
        scope = attributes.pop("scope", None) if cell.tag == "th" else None
        if attributes or (align is not None and align not in _CELL_ALIGNMENTS):
            return False
        written = f' class="has-text-align-{align}" data-align="{align}"' if align else ""
        if scope is not None:
            written += f' scope="{scope}"'
        pieces.append(f"<{cell.tag}{written}>{self._inner(cell)}</{cell.tag}>")
        return True

    def _image(self, node: _Node) -> bool:
        """A paragraph holding one image and nothing else (Markdown's `![alt](url)` on its own line), or one
        image linked: a `core/image` block (a raw `<img>` alone is one too, `_block`)."""
        children = node.children
        if node.raw_attributes.strip() or len(children) != 1:
            return False
        image, link = children[0], None
        if image.tag == "a":
            link, inside = image, image.children
            if len(inside) != 1:
                return False
            image = inside[0]
        return self._image_block(image, link)

    def _image_block(self, image: _Node, link: _Node | None) -> bool:
        if image.tag != "img":
            return False
        attributes = image.attributes()
        src, alt, title = attributes.pop("src", None), attributes.pop("alt", ""), attributes.pop("title", None)
        width, height = attributes.pop("width", None), attributes.pop("height", None)
        if attributes or src is None:
            return False
        block_attributes: dict[str, object] = {}
        # The media hook: an image the site's media library holds is written with its attachment id.
        media_id = self.media_ids.get(html_module.unescape(src))
        if media_id is not None:
            block_attributes["id"] = media_id
        for name, value in (("width", width), ("height", height)):
            if value is not None:
                if not _CANONICAL_INTEGER.match(value) or int(value) <= 0:
                    return False
                block_attributes[name] = int(value)
        written = f'<img src="{src}" alt="{alt}"'
        if media_id is not None:
            written += f' class="wp-image-{media_id}"'
        for name, value in (("width", width), ("height", height), ("title", title)):
            if value is not None:
                written += f' {name}="{value}"'
        written += "/>"
        if link is not None:
            link_attributes = link.attributes()
            href, rel = link_attributes.pop("href", None), link_attributes.pop("rel", None)
            if link_attributes or href is None:
                return False
            rel_written = f' rel="{rel}"' if rel is not None else ""
            written = f'<a href="{href}"{rel_written}>{written}</a>'
        figure_class = "wp-block-image is-resized" if width or height else "wp-block-image"
        self._delimited(self.out, "image", block_attributes, f'<figure class="{figure_class}">{written}</figure>')
        return True
