"""Confluence storage format (XHTML with `ac:` and `ri:` elements) as Markdown and plain text.

    converted = convert(body_storage, Names(users={account_id: display_name}))
    converted.markdown, converted.text, converted.blocks

Parsing is lxml's: first as XML (what Confluence writes is well-formed once wrapped in a root
that declares the `ac` and `ri` prefixes and once HTML's named entities are written as numbers),
and when that fails, leniently with lxml's HTML parser (malformed markup still gives its text).
Neither parser expands entities or reads anything outside the string: no DTD is loaded, no
network is used, entity declarations in the input stay unexpanded, and the input is cut at
`MAX_INPUT_CHARS` and the tree walk at `MAX_DEPTH` levels.

The result is a list of blocks (headings, paragraphs, lists, tables, code, panels) in both
renderings at once, so that chunks (`chunks.py`) can follow headings and still carry both.
"""

from __future__ import annotations

import html.entities
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from lxml import etree

AC_NAMESPACE = "http://atlassian.com/content"
RI_NAMESPACE = "http://atlassian.com/resource/identifier"
AT_NAMESPACE = "http://atlassian.com/template"
MAX_INPUT_CHARS = 5_000_000  # the emulator's biggest page is 1.2 MB; Confluence caps bodies near 5 MB
MAX_DEPTH = 200  # deeper elements are read as flat text
MAX_PARAMETER_CHARS = 200

_PREFIXES = {f"{{{AC_NAMESPACE}}}": "ac:", f"{{{RI_NAMESPACE}}}": "ri:", f"{{{AT_NAMESPACE}}}": "at:"}
_ROOT_OPEN = f'<root xmlns:ac="{AC_NAMESPACE}" xmlns:ri="{RI_NAMESPACE}" xmlns:at="{AT_NAMESPACE}">'
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_ENTITY = re.compile(r"&(?:([A-Za-z][A-Za-z0-9]{0,31});|(#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};)|)")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)
_SELF_CLOSING = re.compile(r"<([A-Za-z][\w:.-]*)(\s[^<>]*?)?/>")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"})
_SURROGATE_ESCAPES = re.compile(r"(?:\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})|\\u[0-9a-fA-F]{4}")
_SPACES = re.compile(r"\s+")
_DOUBLE_SPACES = re.compile(" {2,}")
_MD_SPECIAL = re.compile(r"([\\`*\[\]])")
_LONE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")

BLOCK_TAGS = frozenset({
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre", "blockquote", "hr", "section",
    "article", "header", "footer", "main", "nav", "aside", "figure", "figcaption", "dl", "body", "html",
    "center", "form", "fieldset", "details", "summary", "address",
    "ac:layout", "ac:layout-section", "ac:layout-cell", "ac:task-list", "ac:adf-extension", "ac:rich-text-body",
})
SKIPPED_TAGS = frozenset({
    "script", "style", "head", "title", "template", "noscript", "svg", "colgroup", "col", "iframe", "object",
    "ac:placeholder", "ac:parameter", "ac:task-id", "ac:task-status", "ac:adf-attribute", "ac:adf-fallback",
})
PANELS = {"info": "Info", "note": "Note", "warning": "Warning", "tip": "Tip", "panel": "", "success": "Success",
          "error": "Error"}
CODE_MACROS = frozenset({"code", "noformat"})
SILENT_MACROS = frozenset({"toc", "anchor", "children", "pagetree"})  # navigation, no content of their own
EMOTICONS = {  # ac:name -> emoji, for emoticons written without ac:emoji-fallback (older pages)
    "smile": "🙂", "sad": "🙁", "cheeky": "😛", "laugh": "😀", "wink": "😉", "thumbs-up": "👍",
    "thumbs-down": "👎", "information": "ℹ️", "tick": "✅", "cross": "❌", "warning": "⚠️", "plus": "➕",
    "minus": "➖", "question": "❓", "light-on": "💡", "light-off": "💡", "yellow-star": "⭐", "red-star": "⭐",
    "green-star": "⭐", "blue-star": "⭐", "heart": "❤️", "broken-heart": "💔",
}


@dataclass(frozen=True)
class Block:
    """One block of a converted body, in both renderings.

    `heading` is 1-6 for a heading, 0 otherwise. `head_lines` counts the leading lines of
    (markdown, text) to repeat in every piece when a long block is split (a table's header)."""

    markdown: str
    text: str
    heading: int = 0
    head_lines: tuple[int, int] = (0, 0)


@dataclass
class Converted:
    blocks: list[Block]
    warnings: list[str] = field(default_factory=list)

    @property
    def markdown(self) -> str:
        return "\n\n".join(b.markdown for b in self.blocks)

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks)


@dataclass(frozen=True)
class Names:
    """What mentions and content links refer to: account id -> display name, content id -> title."""

    users: Mapping[str, str] = field(default_factory=dict)
    content: Mapping[str, str] = field(default_factory=dict)


class _Pair:
    """Markdown and plain text built side by side."""

    __slots__ = ("md", "text")

    def __init__(self, md: str = "", text: str | None = None) -> None:
        self.md = md
        self.text = md if text is None else text

    def __add__(self, other: "_Pair") -> "_Pair":
        return _Pair(self.md + other.md, self.text + other.text)

    def strip(self) -> "_Pair":
        return _Pair(self.md.strip(), self.text.strip())


# -- parsing ------------------------------------------------------------------------------------

def _entity_as_number(match: re.Match[str]) -> str:
    name, numeric = match.group(1), match.group(2)
    if numeric:
        return match.group(0)
    if name is None:
        return "&amp;"  # a bare ampersand
    if name in _XML_ENTITIES:
        return match.group(0)
    value = html.entities.html5.get(name + ";")
    if value is None:
        return f"&amp;{name};"  # unknown: kept as the text it is
    return "".join(f"&#{ord(c)};" for c in value)


def _clean(storage: str, warnings: list[str]) -> str:
    if len(storage) > MAX_INPUT_CHARS:
        warnings.append(f"body cut at {MAX_INPUT_CHARS:,} of {len(storage):,} characters")
        storage = storage[:MAX_INPUT_CHARS]
    storage = storage.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    return _CONTROL.sub("", storage)


def _xml_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True, remove_pis=True, strip_cdata=True,
                           collect_ids=False)


def _html_parser() -> etree.HTMLParser:
    return etree.HTMLParser(no_network=True, remove_comments=True, remove_pis=True, default_doctype=False,
                            huge_tree=False, recover=True)


def _self_closing_as_pair(match: re.Match[str]) -> str:
    tag, attributes = match.group(1), match.group(2) or ""
    if tag.lower() in _VOID:
        return match.group(0)
    return f"<{tag}{attributes}></{tag}>"


def _cdata_as_text(match: re.Match[str]) -> str:
    return match.group(1).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse_storage(storage: str, warnings: list[str]) -> etree._Element | None:
    """The body as an element tree under one root; None for an empty body."""
    storage = _clean(storage, warnings)
    if not storage.strip():
        return None
    xml = _ROOT_OPEN + _ENTITY.sub(_entity_as_number, storage) + "</root>"
    try:
        return etree.fromstring(xml.encode("utf-8"), _xml_parser())
    except etree.XMLSyntaxError as exc:
        warnings.append(f"markup is not well-formed ({exc.msg}); read leniently")
    return parse_html(_SELF_CLOSING.sub(_self_closing_as_pair, _CDATA.sub(_cdata_as_text, storage)))


def parse_html(markup: str) -> etree._Element | None:
    """An HTML document or fragment (lenient) as an element tree; its <body>, or None when empty."""
    if not markup.strip():
        return None
    root = etree.fromstring(f"<html><body>{markup}</body></html>", _html_parser())
    if root is None:
        return None
    body = root.find("body")
    return body if body is not None else root


# -- the walk -----------------------------------------------------------------------------------

def _tag(el: etree._Element) -> str:
    tag = el.tag
    if tag[0] == "{":
        for uri, prefix in _PREFIXES.items():
            if tag.startswith(uri):
                return prefix + tag[len(uri):]
        return tag.rsplit("}", 1)[1]
    return tag.lower()


def _attr(el: etree._Element, name: str) -> str | None:
    """An attribute by its prefixed name ("ac:name"), parsed as XML (namespaced) or as HTML (literal)."""
    prefix, _, local = name.partition(":")
    if local:
        uri = {"ac": AC_NAMESPACE, "ri": RI_NAMESPACE}.get(prefix)
        value = el.get(f"{{{uri}}}{local}") if uri else None
        return value if value is not None else el.get(name)
    return el.get(name)


def _elements(el: etree._Element) -> Iterable[etree._Element]:
    return (c for c in el if isinstance(c.tag, str))


def _child(el: etree._Element, tag: str) -> etree._Element | None:
    return next((c for c in _elements(el) if _tag(c) == tag), None)


def _flat_text(el: etree._Element) -> str:
    return _SPACES.sub(" ", " ".join(el.itertext())).strip()


def _escape_md(text: str) -> str:
    return _LONE_UNDERSCORE.sub(r"\\_", _MD_SPECIAL.sub(r"\\\1", text))


def _wrap(inner: _Pair, mark: str) -> _Pair:
    """`**x**` around the text, with its outer spaces left outside the marks."""
    core = inner.md.strip()
    if not core:
        return inner
    lead = " " if inner.md[:1].isspace() else ""
    trail = " " if inner.md[-1:].isspace() else ""
    return _Pair(f"{lead}{mark}{core}{mark}{trail}", inner.text)


def _decode_escapes(value: str) -> str:
    """ac:emoji-fallback as some pages store it: "\\uD83D\\uDDD3" (literal escapes) -> the emoji."""
    def one(match: re.Match[str]) -> str:
        raw = match.group(0)
        units = [int(raw[i + 2:i + 6], 16) for i in range(0, len(raw), 6)]
        data = b"".join(u.to_bytes(2, "big") for u in units)
        return data.decode("utf-16-be", "replace")

    return _SURROGATE_ESCAPES.sub(one, value)


def _indent(text: str, first: str, rest: str) -> str:
    lines = text.split("\n")
    return "\n".join([first + lines[0]] + [(rest + line) if line else line for line in lines[1:]])


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def _fence(code: str, language: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", code)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{language}\n{code.rstrip()}\n{fence}"


class _Renderer:
    def __init__(self, names: Names) -> None:
        self.names = names
        self.cell_depth = 0  # > 0 while rendering a table cell

    # -- blocks ------------------------------------------------------------------------------
    def blocks(self, el: etree._Element, depth: int = 0) -> list[Block]:
        """The children of a container element as blocks; inline runs become paragraphs."""
        out: list[Block] = []
        run = _Pair()

        def flush() -> None:
            nonlocal run
            paragraph = _tidy(run)
            if paragraph.text or paragraph.md:
                out.append(Block(paragraph.md, paragraph.text))
            run = _Pair()

        if el.text:
            run += self.text(el.text)
        for child in el:
            if isinstance(child.tag, str):
                if self.is_block(child):
                    flush()
                    out.extend(self.block(child, depth + 1))
                else:
                    run += self.inline(child, depth + 1)
            if child.tail:
                run += self.text(child.tail)
        flush()
        return out

    def is_block(self, el: etree._Element) -> bool:
        tag = _tag(el)
        if tag in BLOCK_TAGS:
            return True
        if tag == "ac:structured-macro":
            name = (_attr(el, "ac:name") or "").lower()
            return (name in CODE_MACROS or name in PANELS or name in SILENT_MACROS
                    or _child(el, "ac:rich-text-body") is not None or _child(el, "ac:plain-text-body") is not None)
        return False

    def block(self, el: etree._Element, depth: int) -> list[Block]:
        if depth > MAX_DEPTH:
            flat = _flat_text(el)
            return [Block(_escape_md(flat), flat)] if flat else []
        tag = _tag(el)
        if tag in SKIPPED_TAGS:
            return []
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            content = _tidy(self.children_inline(el, depth))
            if not content.text:
                return []
            level = int(tag[1])
            md, text = content.md.replace("\\\n", " "), content.text.replace("\n", " ")
            if md.startswith("**") and md.endswith("**") and md.count("**") == 2:
                md = md[2:-2]  # bold adds nothing to a heading
            return [Block(f"{'#' * level} {md}", text, heading=level)]
        if tag in ("ul", "ol"):
            return self.list_block(el, depth, ordered=tag == "ol")
        if tag == "ac:task-list":
            return self.task_list(el, depth)
        if tag == "table":
            return self.table(el, depth)
        if tag == "pre":
            code = "".join(el.itertext()).strip("\n")
            return [Block(_fence(code), code)] if code.strip() else []
        if tag == "blockquote":
            inner = self.blocks(el, depth)
            return [_quoted(inner, "")] if inner else []
        if tag == "hr":
            return [Block("---", "")]
        if tag == "ac:structured-macro":
            return self.macro(el, depth)
        if tag == "ac:adf-extension":
            return self.adf(el, depth)
        return self.blocks(el, depth)  # p, div, layouts, rich-text bodies, unknown containers

    def list_block(self, el: etree._Element, depth: int, *, ordered: bool) -> list[Block]:
        md_items, text_items = [], []
        start = el.get("start") or ""
        number = int(start) if ordered and start.isdigit() else 1
        for item in _elements(el):
            if _tag(item) != "li":
                continue
            inner = self.blocks(item, depth + 1)
            md = "\n".join(b.markdown for b in inner) or ""
            text = "\n".join(b.text for b in inner) or ""
            marker = f"{number}. " if ordered else "- "
            number += 1
            if text.strip():
                md_items.append(_indent(md, marker, " " * len(marker)))
                text_items.append(_indent(text, marker, " " * len(marker)))
        if not md_items:
            return []
        return [Block("\n".join(md_items), "\n".join(text_items))]

    def task_list(self, el: etree._Element, depth: int) -> list[Block]:
        md_items, text_items = [], []
        for task in _elements(el):
            if _tag(task) != "ac:task":
                continue
            done = (_child(task, "ac:task-status") is not None
                    and _flat_text(_child(task, "ac:task-status")) == "complete")
            body = _child(task, "ac:task-body")
            inner = self.blocks(body, depth + 1) if body is not None else []
            md = "\n".join(b.markdown for b in inner)
            text = "\n".join(b.text for b in inner)
            if not text.strip():
                continue
            box = "[x] " if done else "[ ] "
            md_items.append(_indent(md, "- " + box, "  "))
            text_items.append(_indent(text, box, "    "))
        if not md_items:
            return []
        return [Block("\n".join(md_items), "\n".join(text_items))]

    def table(self, el: etree._Element, depth: int) -> list[Block]:
        rows: list[list[_Pair]] = []
        for row in self.table_rows(el):
            cells = []
            for cell in _elements(row):
                if _tag(cell) not in ("td", "th"):
                    continue
                cells.append(self.cell(cell, depth + 1))
                span = cell.get("colspan") or "1"
                cells.extend(_Pair() for _ in range(min(int(span) if span.isdigit() else 1, 50) - 1))
            if any(c.text for c in cells):
                rows.append(cells)
        if not rows:
            return []
        if self.cell_depth:  # a table inside a cell: one line, rows separated by semicolons
            md = "; ".join(", ".join(c.md for c in r if c.md) for r in rows)
            text = "; ".join(", ".join(c.text for c in r if c.text) for r in rows)
            return [Block(md, text)]
        width = max(len(r) for r in rows)
        rows = [r + [_Pair()] * (width - len(r)) for r in rows]
        md_lines = ["| " + " | ".join(c.md for c in rows[0]) + " |", "|" + " --- |" * width]
        md_lines += ["| " + " | ".join(c.md for c in r) + " |" for r in rows[1:]]
        text_lines = [" | ".join(c.text for c in r) for r in rows]
        return [Block("\n".join(md_lines), "\n".join(text_lines), head_lines=(2, 1) if len(rows) > 1 else (0, 0))]

    def table_rows(self, table: etree._Element) -> Iterable[etree._Element]:
        for child in _elements(table):
            tag = _tag(child)
            if tag == "tr":
                yield child
            elif tag in ("thead", "tbody", "tfoot"):
                yield from (r for r in _elements(child) if _tag(r) == "tr")

    def cell(self, cell: etree._Element, depth: int) -> _Pair:
        parts_md, parts_text = [], []
        for block in self.cell_blocks(cell, depth):
            parts_md.append(block.markdown.replace("\n", "<br>"))
            parts_text.append(block.text.replace("\n", " "))
        md = "<br>".join(p for p in parts_md if p).replace("|", "\\|")
        return _Pair(md, " ".join(p for p in parts_text if p))

    def cell_blocks(self, cell: etree._Element, depth: int) -> list[Block]:
        """A cell's blocks: headings as plain lines, and tables nested in it on one line."""
        self.cell_depth += 1
        try:
            inner = self.blocks(cell, depth)
        finally:
            self.cell_depth -= 1
        return [Block(b.markdown.lstrip("#").strip(), b.text) if b.heading else b for b in inner]

    # -- macros ------------------------------------------------------------------------------
    def macro(self, el: etree._Element, depth: int) -> list[Block]:
        name = (_attr(el, "ac:name") or "").lower()
        params = self.parameters(el)
        if name in SILENT_MACROS:
            return []
        if name in CODE_MACROS:
            body = _child(el, "ac:plain-text-body")
            code = "".join(body.itertext()) if body is not None else ""
            if not code.strip():
                return []
            title = params.get("title", "")
            md = _fence(code.strip("\n"), params.get("language", "") if name == "code" else "")
            text = code.strip("\n")
            if title:
                md, text = f"**{_escape_md(title)}**\n{md}", f"{title}\n{text}"
            return [Block(md, text)]
        rich = _child(el, "ac:rich-text-body")
        if name in PANELS:
            inner = self.blocks(rich, depth + 1) if rich is not None else []
            label = ": ".join(p for p in (PANELS[name], params.get("title", "")) if p)
            return [_quoted(inner, label)] if inner or label else []
        if rich is not None:  # expand, excerpt, section, column, and unknown macros with a body
            inner = self.blocks(rich, depth + 1)
            title = params.get("title", "")
            if title:
                inner.insert(0, Block(f"**{_escape_md(title)}**", title))
            return inner
        plain = _child(el, "ac:plain-text-body")
        if plain is not None:
            content = "".join(plain.itertext()).strip("\n")
            return [Block(_fence(content), content)] if content.strip() else []
        described = self.described_macro(name, params)
        return [Block(described.md, described.text)]

    def parameters(self, el: etree._Element) -> dict[str, str]:
        params = {}
        for child in _elements(el):
            if _tag(child) == "ac:parameter":
                key = _attr(child, "ac:name") or ""
                params[key] = _flat_text(child)[:MAX_PARAMETER_CHARS]
        return params

    def described_macro(self, name: str, params: Mapping[str, str]) -> _Pair:
        """A macro without a body, kept as readable text: "[drawio: diagramName=x, revision=3]"."""
        shown = ", ".join(f"{k}={v}" if k else v for k, v in params.items() if v)
        label = f"{name}: {shown}" if shown else name
        return _Pair(f"\\[{_escape_md(label)}\\]", f"[{label}]")

    def adf(self, el: etree._Element, depth: int) -> list[Block]:
        """ac:adf-extension: decision lists and other editor nodes; their fallback when unknown."""
        node = _child(el, "ac:adf-node")
        blocks = self.adf_node(node, depth + 1) if node is not None else []
        if not blocks:
            fallback = _child(el, "ac:adf-fallback")
            if fallback is not None:
                blocks = self.blocks(fallback, depth + 1)
        return blocks

    def adf_node(self, node: etree._Element, depth: int) -> list[Block]:
        kind = node.get("type") or ""
        if kind == "decision-list":
            md_items, text_items = [], []
            for item in _elements(node):
                if _tag(item) != "ac:adf-node":
                    continue
                content = _child(item, "ac:adf-content")
                text = _tidy(self.children_inline(content, depth + 1)) if content is not None else _Pair()
                if text.text:
                    md_items.append(f"- Decision: {text.md}")
                    text_items.append(f"Decision: {text.text}")
            return [Block("\n".join(md_items), "\n".join(text_items))] if md_items else []
        out: list[Block] = []
        for child in _elements(node):
            tag = _tag(child)
            if tag == "ac:adf-content":
                out.extend(self.blocks(child, depth + 1))
            elif tag == "ac:adf-node":
                out.extend(self.adf_node(child, depth + 1))
        return out

    # -- inline ------------------------------------------------------------------------------
    def text(self, raw: str) -> _Pair:
        flat = _SPACES.sub(" ", raw)
        return _Pair(_escape_md(flat), flat)

    def children_inline(self, el: etree._Element, depth: int) -> _Pair:
        out = self.text(el.text) if el.text else _Pair()
        for child in el:
            if isinstance(child.tag, str):
                out += self.inline(child, depth + 1)
            if child.tail:
                out += self.text(child.tail)
        return out

    def inline(self, el: etree._Element, depth: int) -> _Pair:
        if depth > MAX_DEPTH:
            flat = _flat_text(el)
            return _Pair(_escape_md(flat), flat)
        tag = _tag(el)
        if tag in SKIPPED_TAGS:
            return _Pair()
        handler = _INLINE.get(tag)
        if handler is not None:
            return handler(self, el, depth)
        if tag in BLOCK_TAGS or self.is_block(el):  # a block where only inline content fits
            inner = self.block(el, depth)
            return _Pair(" ".join(b.markdown for b in inner), " ".join(b.text for b in inner))
        return self.children_inline(el, depth)

    def _strong(self, el: etree._Element, depth: int) -> _Pair:
        return _wrap(self.children_inline(el, depth), "**")

    def _em(self, el: etree._Element, depth: int) -> _Pair:
        return _wrap(self.children_inline(el, depth), "*")

    def _strike(self, el: etree._Element, depth: int) -> _Pair:
        return _wrap(self.children_inline(el, depth), "~~")

    def _code(self, el: etree._Element, depth: int) -> _Pair:
        code = _SPACES.sub(" ", "".join(el.itertext()))
        if not code.strip():
            return _Pair(code)
        ticks = "``" if "`" in code else "`"
        return _Pair(f"{ticks}{code.strip()}{ticks}", code.strip())

    def _br(self, el: etree._Element, depth: int) -> _Pair:
        return _Pair("\\\n", "\n")

    def _anchor(self, el: etree._Element, depth: int) -> _Pair:
        inner = self.children_inline(el, depth)
        href = (el.get("href") or "").strip()
        label = inner.md.strip()
        if not href or href.startswith("#") or href.lower().startswith("javascript:"):
            return inner
        target = href.replace(" ", "%20").replace(")", "%29").replace("(", "%28")
        if not label:
            return _Pair(f"<{target}>", href)
        return _Pair(f"[{label}]({target})", inner.text)

    def _image(self, el: etree._Element, depth: int) -> _Pair:
        alt = el.get("alt") or ""
        src = el.get("src") or ""
        if not src:
            return _Pair(_escape_md(alt), alt)
        return _Pair(f"![{_escape_md(alt)}]({src.replace(' ', '%20')})", alt)

    def _time(self, el: etree._Element, depth: int) -> _Pair:
        value = el.get("datetime") or ""
        inner = self.children_inline(el, depth)
        return inner if inner.text.strip() else _Pair(value)

    def _macro_inline(self, el: etree._Element, depth: int) -> _Pair:
        if self.is_block(el):
            inner = self.macro(el, depth)
            return _Pair(" ".join(b.markdown for b in inner), " ".join(b.text for b in inner))
        name = (_attr(el, "ac:name") or "").lower()
        params = self.parameters(el)
        if name == "status":
            title = params.get("title") or params.get("colour") or ""
            return _Pair(f"\\[{_escape_md(title)}\\]", f"[{title}]") if title else _Pair()
        return self.described_macro(name, params)

    def _link(self, el: etree._Element, depth: int) -> _Pair:
        """ac:link to a page, blog post, attachment, user, space or anchor: its body or the title."""
        body = _child(el, "ac:link-body")
        label = _tidy(self.children_inline(body, depth)) if body is not None else _Pair()
        if not label.text:
            plain = _child(el, "ac:plain-text-link-body")
            if plain is not None:
                label = self.text("".join(plain.itertext())).strip()
        target = next((c for c in _elements(el) if _tag(c).startswith("ri:")), None)
        if target is not None and _tag(target) == "ri:user":
            name = label.text or self.user_name(target)
            return _Pair(f"@{_escape_md(name)}", f"@{name}")
        if label.text:
            return label
        title = self.target_title(target) if target is not None else ""
        title = title or _attr(el, "ac:anchor") or ""
        return _Pair(_escape_md(title), title)

    def user_name(self, user: etree._Element) -> str:
        # ri:userkey holds an accountId on Cloud (REAL.md §8), like ri:account-id
        account = _attr(user, "ri:account-id") or _attr(user, "ri:userkey") or ""
        return self.names.users.get(account) or "unknown user"

    def target_title(self, target: etree._Element) -> str:
        tag = _tag(target)
        if tag in ("ri:page", "ri:blog-post"):
            return _attr(target, "ri:content-title") or ""
        if tag == "ri:attachment":
            return _attr(target, "ri:filename") or ""
        if tag == "ri:content-entity":
            return self.names.content.get(_attr(target, "ri:content-id") or "", "")
        if tag == "ri:space":
            return _attr(target, "ri:space-key") or ""
        if tag == "ri:url":
            return _attr(target, "ri:value") or ""
        if tag == "ri:user":
            return self.user_name(target)
        return ""

    def _ac_image(self, el: etree._Element, depth: int) -> _Pair:
        """An image: the attachment's file name (or the URL), with its alt text where there is one."""
        alt = _attr(el, "ac:alt") or ""
        target = next((c for c in _elements(el) if _tag(c).startswith("ri:")), None)
        if target is None:
            return _Pair(_escape_md(alt), alt)
        if _tag(target) == "ri:url":
            url = _attr(target, "ri:value") or ""
            return _Pair(f"![{_escape_md(alt)}]({url.replace(' ', '%20')})", alt)
        name = self.target_title(target)
        return _Pair(f"![{_escape_md(alt or name)}]({name.replace(' ', '%20')})", name)

    def _emoticon(self, el: etree._Element, depth: int) -> _Pair:
        fallback = _decode_escapes(_attr(el, "ac:emoji-fallback") or "")
        name = _attr(el, "ac:name") or ""
        emoji = fallback or EMOTICONS.get(name) or _attr(el, "ac:emoji-shortname") or (f"({name})" if name else "")
        return _Pair(emoji)

    def _user(self, el: etree._Element, depth: int) -> _Pair:
        name = self.user_name(el)
        return _Pair(f"@{_escape_md(name)}", f"@{name}")

    def _resource(self, el: etree._Element, depth: int) -> _Pair:
        title = self.target_title(el)
        return _Pair(_escape_md(title), title)


_INLINE: dict[str, Callable[[_Renderer, etree._Element, int], _Pair]] = {
    "strong": _Renderer._strong, "b": _Renderer._strong, "em": _Renderer._em, "i": _Renderer._em,
    "s": _Renderer._strike, "del": _Renderer._strike, "strike": _Renderer._strike,
    "code": _Renderer._code, "kbd": _Renderer._code, "tt": _Renderer._code, "br": _Renderer._br,
    "a": _Renderer._anchor, "img": _Renderer._image, "time": _Renderer._time,
    "ac:structured-macro": _Renderer._macro_inline, "ac:link": _Renderer._link, "ac:image": _Renderer._ac_image,
    "ac:emoticon": _Renderer._emoticon, "ri:user": _Renderer._user, "ri:page": _Renderer._resource,
    "ri:blog-post": _Renderer._resource, "ri:attachment": _Renderer._resource,
}


def _tidy_one(value: str) -> str:
    if "\n" not in value and "  " not in value:  # the common case, cheaply
        return value.strip().removesuffix("\\").rstrip()
    lines = (_DOUBLE_SPACES.sub(" ", line).strip() for line in value.split("\n"))
    return "\n".join(line for line in lines if line and line != "\\").removesuffix("\\").rstrip()


def _tidy(pair: _Pair) -> _Pair:
    """Single spaces, no spaces at line ends, no empty lines (inline runs are one paragraph)."""
    return _Pair(_tidy_one(pair.md), _tidy_one(pair.text))


def _quoted(inner: list[Block], label: str) -> Block:
    """A panel or quote: one block, a label line, then the body as a Markdown block quote."""
    md = "\n\n".join(b.markdown for b in inner)
    text = "\n".join(b.text for b in inner)
    if label:
        md = f"**{_escape_md(label)}**" + (f"\n\n{md}" if md else "")
        text = f"{label}: {text}" if text else label
    return Block(_quote(md), text)


def convert(storage: str | None, names: Names | None = None) -> Converted:
    """A storage-format body as blocks of Markdown and plain text; never raises on bad markup."""
    warnings: list[str] = []
    root = parse_storage(storage or "", warnings)
    if root is None:
        return Converted([], warnings)
    return Converted(_Renderer(names or Names()).blocks(root), warnings)


def convert_html(markup: str, names: Names | None = None) -> Converted:
    """An HTML document (an attachment) the same way, read with the lenient HTML parser."""
    warnings: list[str] = []
    root = parse_html(_clean(markup, warnings))
    if root is None:
        return Converted([], warnings)
    return Converted(_Renderer(names or Names()).blocks(root), warnings)
