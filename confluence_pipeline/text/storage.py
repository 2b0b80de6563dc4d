"""Confluence storage format (XHTML with `ac:` and `ri:` elements) as Markdown and plain text.

    converted = convert(body_storage, Names(users={account_id: display_name}))
    converted.markdown, converted.text, converted.blocks

Parsing (`xhtml.py`) is lxml's, safe against entities and deep trees. `Renderer` here turns
block elements (headings, lists, tables, macros, ADF extensions) into blocks; `inline.py` turns
inline content into Markdown and plain text side by side.

The result is a list of blocks (headings, paragraphs, lists, tables, code, panels) in both
renderings at once, so that chunks (`chunks.py`) can follow headings and still carry both.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from lxml import etree

from .blocks import Block, Converted, Names, Pair, escape_md, fence, indent, quoted, tidy
from .inline import InlineRenderer
from .xhtml import (BLOCK_TAGS, CODE_MACROS, MAX_DEPTH, MAX_PARAMETER_CHARS, PANELS, SILENT_MACROS,
                    SKIPPED_TAGS, attr_of, child_of, clean, elements_of, flat_text, parse_html, parse_storage,
                    tag_of)


class Renderer(InlineRenderer):
    def blocks(self, el: etree._Element, depth: int = 0) -> list[Block]:
        """The children of a container element as blocks; inline runs become paragraphs."""
        out: list[Block] = []
        run = Pair()

        def flush() -> None:
            nonlocal run
            paragraph = tidy(run)
            if paragraph.text or paragraph.md:
                out.append(Block(paragraph.md, paragraph.text))
            run = Pair()

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
        tag = tag_of(el)
        if tag in BLOCK_TAGS:
            return True
        if tag == "ac:structured-macro":
            name = (attr_of(el, "ac:name") or "").lower()
            return (name in CODE_MACROS or name in PANELS or name in SILENT_MACROS
                    or child_of(el, "ac:rich-text-body") is not None or child_of(el, "ac:plain-text-body") is not None)
        return False

    def block(self, el: etree._Element, depth: int) -> list[Block]:
        if depth > MAX_DEPTH:
            flat = flat_text(el)
            return [Block(escape_md(flat), flat)] if flat else []
        tag = tag_of(el)
        if tag in SKIPPED_TAGS:
            return []
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            content = tidy(self.children_inline(el, depth))
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
            return [Block(fence(code), code)] if code.strip() else []
        if tag == "blockquote":
            inner = self.blocks(el, depth)
            return [quoted(inner, "")] if inner else []
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
        for item in elements_of(el):
            if tag_of(item) != "li":
                continue
            inner = self.blocks(item, depth + 1)
            md = "\n".join(b.markdown for b in inner) or ""
            text = "\n".join(b.text for b in inner) or ""
            marker = f"{number}. " if ordered else "- "
            number += 1
            if text.strip():
                md_items.append(indent(md, marker, " " * len(marker)))
                text_items.append(indent(text, marker, " " * len(marker)))
        if not md_items:
            return []
        return [Block("\n".join(md_items), "\n".join(text_items))]

    def task_list(self, el: etree._Element, depth: int) -> list[Block]:
        md_items, text_items = [], []
        for task in elements_of(el):
            if tag_of(task) != "ac:task":
                continue
            done = (child_of(task, "ac:task-status") is not None
                    and flat_text(child_of(task, "ac:task-status")) == "complete")
            body = child_of(task, "ac:task-body")
            inner = self.blocks(body, depth + 1) if body is not None else []
            md = "\n".join(b.markdown for b in inner)
            text = "\n".join(b.text for b in inner)
            if not text.strip():
                continue
            box = "[x] " if done else "[ ] "
            md_items.append(indent(md, "- " + box, "  "))
            text_items.append(indent(text, box, "    "))
        if not md_items:
            return []
        return [Block("\n".join(md_items), "\n".join(text_items))]

    def table(self, el: etree._Element, depth: int) -> list[Block]:
        rows: list[list[Pair]] = []
        for row in self.table_rows(el):
            cells = []
            for cell in elements_of(row):
                if tag_of(cell) not in ("td", "th"):
                    continue
                cells.append(self.cell(cell, depth + 1))
                span = cell.get("colspan") or "1"
                cells.extend(Pair() for _ in range(min(int(span) if span.isdigit() else 1, 50) - 1))
            if any(c.text for c in cells):
                rows.append(cells)
        if not rows:
            return []
        if self.cell_depth:  # a table inside a cell: one line, rows separated by semicolons
            md = "; ".join(", ".join(c.md for c in r if c.md) for r in rows)
            text = "; ".join(", ".join(c.text for c in r if c.text) for r in rows)
            return [Block(md, text)]
        width = max(len(r) for r in rows)
        rows = [r + [Pair()] * (width - len(r)) for r in rows]
        md_lines = ["| " + " | ".join(c.md for c in rows[0]) + " |", "|" + " --- |" * width]
        md_lines += ["| " + " | ".join(c.md for c in r) + " |" for r in rows[1:]]
        text_lines = [" | ".join(c.text for c in r) for r in rows]
        return [Block("\n".join(md_lines), "\n".join(text_lines), head_lines=(2, 1) if len(rows) > 1 else (0, 0))]

    def table_rows(self, table: etree._Element) -> Iterable[etree._Element]:
        for child in elements_of(table):
            tag = tag_of(child)
            if tag == "tr":
                yield child
            elif tag in ("thead", "tbody", "tfoot"):
                yield from (r for r in elements_of(child) if tag_of(r) == "tr")

    def cell(self, cell: etree._Element, depth: int) -> Pair:
        parts_md, parts_text = [], []
        for block in self.cell_blocks(cell, depth):
            parts_md.append(block.markdown.replace("\n", "<br>"))
            parts_text.append(block.text.replace("\n", " "))
        md = "<br>".join(p for p in parts_md if p).replace("|", "\\|")
        return Pair(md, " ".join(p for p in parts_text if p))

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
        name = (attr_of(el, "ac:name") or "").lower()
        params = self.parameters(el)
        if name in SILENT_MACROS:
            return []
        if name in CODE_MACROS:
            body = child_of(el, "ac:plain-text-body")
            code = "".join(body.itertext()) if body is not None else ""
            if not code.strip():
                return []
            title = params.get("title", "")
            md = fence(code.strip("\n"), params.get("language", "") if name == "code" else "")
            text = code.strip("\n")
            if title:
                md, text = f"**{escape_md(title)}**\n{md}", f"{title}\n{text}"
            return [Block(md, text)]
        rich = child_of(el, "ac:rich-text-body")
        if name in PANELS:
            inner = self.blocks(rich, depth + 1) if rich is not None else []
            label = ": ".join(p for p in (PANELS[name], params.get("title", "")) if p)
            return [quoted(inner, label)] if inner or label else []
        if rich is not None:  # expand, excerpt, section, column, and unknown macros with a body
            inner = self.blocks(rich, depth + 1)
            title = params.get("title", "")
            if title:
                inner.insert(0, Block(f"**{escape_md(title)}**", title))
            return inner
        plain = child_of(el, "ac:plain-text-body")
        if plain is not None:
            content = "".join(plain.itertext()).strip("\n")
            return [Block(fence(content), content)] if content.strip() else []
        described = self.described_macro(name, params)
        return [Block(described.md, described.text)]

    def parameters(self, el: etree._Element) -> dict[str, str]:
        params = {}
        for child in elements_of(el):
            if tag_of(child) == "ac:parameter":
                key = attr_of(child, "ac:name") or ""
                params[key] = flat_text(child)[:MAX_PARAMETER_CHARS]
        return params

    def described_macro(self, name: str, params: Mapping[str, str]) -> Pair:
        """A macro without a body, kept as readable text: "[drawio: diagramName=x, revision=3]"."""
        shown = ", ".join(f"{k}={v}" if k else v for k, v in params.items() if v)
        label = f"{name}: {shown}" if shown else name
        return Pair(f"\\[{escape_md(label)}\\]", f"[{label}]")

    def adf(self, el: etree._Element, depth: int) -> list[Block]:
        """ac:adf-extension: decision lists and other editor nodes; their fallback when unknown."""
        node = child_of(el, "ac:adf-node")
        blocks = self.adf_node(node, depth + 1) if node is not None else []
        if not blocks:
            fallback = child_of(el, "ac:adf-fallback")
            if fallback is not None:
                blocks = self.blocks(fallback, depth + 1)
        return blocks

    def adf_node(self, node: etree._Element, depth: int) -> list[Block]:
        kind = node.get("type") or ""
        if kind == "decision-list":
            md_items, text_items = [], []
            for item in elements_of(node):
                if tag_of(item) != "ac:adf-node":
                    continue
                content = child_of(item, "ac:adf-content")
                text = tidy(self.children_inline(content, depth + 1)) if content is not None else Pair()
                if text.text:
                    md_items.append(f"- Decision: {text.md}")
                    text_items.append(f"Decision: {text.text}")
            return [Block("\n".join(md_items), "\n".join(text_items))] if md_items else []
        out: list[Block] = []
        for child in elements_of(node):
            tag = tag_of(child)
            if tag == "ac:adf-content":
                out.extend(self.blocks(child, depth + 1))
            elif tag == "ac:adf-node":
                out.extend(self.adf_node(child, depth + 1))
        return out


def convert(storage: str | None, names: Names | None = None) -> Converted:
    """A storage-format body as blocks of Markdown and plain text; never raises on bad markup."""
    warnings: list[str] = []
    root = parse_storage(storage or "", warnings)
    if root is None:
        return Converted([], warnings)
    return Converted(Renderer(names or Names()).blocks(root), warnings)


def convert_html(markup: str, names: Names | None = None) -> Converted:
    """An HTML document (an attachment) the same way, read with the lenient HTML parser."""
    warnings: list[str] = []
    root = parse_html(clean(markup, warnings))
    if root is None:
        return Converted([], warnings)
    return Converted(Renderer(names or Names()).blocks(root), warnings)
