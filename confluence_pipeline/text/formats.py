"""The readers of each file format (pdf, docx, xlsx, pptx, csv, txt, md, html), each turning bytes
into blocks within a `Budget` of characters and time, and raising `Skip` with the reason when a
file cannot be read."""

from __future__ import annotations

import codecs
import csv
import io
import re
import time
import zipfile
from dataclasses import dataclass
from typing import Any, Callable

from .blocks import Block
from .storage import convert_html


_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted OOXML (and legacy .doc/.xls/.ppt) files
_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SETEXT_RULE = re.compile(r"^(=+|-+)\s*$")


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 50 * 1024 * 1024
    max_unpacked_bytes: int = 300 * 1024 * 1024
    max_chars: int = 2_000_000
    max_seconds: float = 30.0
    max_memory_bytes: int = 2 * 1024 * 1024 * 1024


class Skip(Exception):
    """A file that cannot be read; the message is the reason recorded."""


class Budget:
    """The deadline and the character cap of one extraction."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.max_seconds
        self.chars = 0
        self.cut = ""

    def full(self) -> bool:
        """True once the text or the time is used up (the reason is kept in `cut`)."""
        if self.chars >= self.limits.max_chars:
            self.cut = f"text cut at {self.limits.max_chars:,} characters"
        elif time.monotonic() > self.deadline:
            self.cut = f"stopped after {self.limits.max_seconds:g} s; text is partial"
        return bool(self.cut)

    def add(self, blocks: list[Block], block: Block) -> None:
        if block.text.strip():
            blocks.append(block)
            self.chars += len(block.text)


def _pdf(data: bytes, budget: Budget) -> list[Block]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")  # only an owner password: readable with the empty user password
        except (DependencyError, NotImplementedError) as exc:
            raise Skip(f"encrypted PDF that cannot be decrypted here ({exc})") from None
        if not opened:
            raise Skip("encrypted PDF (needs a password)")
    blocks: list[Block] = []
    try:
        for page in reader.pages:
            if budget.full():
                break
            text = _tidy_lines(page.extract_text() or "")
            budget.add(blocks, Block(text, text))
    except FileNotDecryptedError:
        raise Skip("encrypted PDF (needs a password)") from None
    return blocks


def _open_zip(data: bytes, budget: Budget, kind: str) -> None:
    """Refuse what is not an Office file, or would unpack past the cap, before a library reads it."""
    if data.startswith(_OLE_MAGIC):
        raise Skip(f"encrypted (password-protected) or legacy binary {kind} file")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise Skip(f"corrupt {kind} file (not a zip archive)") from None
    unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > budget.limits.max_unpacked_bytes:
        raise Skip(f"{kind} file would unpack to {unpacked:,} bytes, over the "
                   f"{budget.limits.max_unpacked_bytes:,}-byte cap")


def _docx(data: bytes, budget: Budget) -> list[Block]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    _open_zip(data, budget, "docx")
    document = docx.Document(io.BytesIO(data))
    blocks: list[Block] = []
    for part in document.iter_inner_content():
        if budget.full():
            break
        if isinstance(part, Paragraph):
            text = part.text.strip()
            style = (part.style.name if part.style is not None else "") or ""
            level = _heading_level(style)
            if level:
                budget.add(blocks, Block(f"{'#' * level} {text}", text, heading=level))
            elif style.startswith("List"):
                budget.add(blocks, Block(f"- {text}", f"- {text}"))
            else:
                budget.add(blocks, Block(text, text))
        elif isinstance(part, Table):
            rows = [[cell.text.strip() for cell in row.cells] for row in part.rows]
            budget.add(blocks, _table_block(rows))
    return blocks


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    if style.startswith("Heading "):
        number = style.removeprefix("Heading ").strip()
        return min(int(number), 6) if number.isdigit() else 0
    return 0


def _xlsx(data: bytes, budget: Budget) -> list[Block]:
    import openpyxl

    _open_zip(data, budget, "xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    blocks: list[Block] = []
    try:
        for sheet in workbook.worksheets:
            if budget.full():
                break
            budget.add(blocks, Block(f"## {sheet.title}", sheet.title, heading=2))
            rows: list[list[str]] = []
            for values in sheet.iter_rows(values_only=True):
                if len(rows) % 200 == 0 and budget.full():
                    break
                cells = ["" if v is None else str(v) for v in values]
                if any(cells):
                    rows.append(cells)
                    budget.chars += sum(len(c) for c in cells)
            if rows:
                blocks.append(_table_block(rows))
    finally:
        workbook.close()
    return blocks


def _pptx(data: bytes, budget: Budget) -> list[Block]:
    import pptx

    _open_zip(data, budget, "pptx")
    presentation = pptx.Presentation(io.BytesIO(data))
    blocks: list[Block] = []
    for number, slide in enumerate(presentation.slides, start=1):
        if budget.full():
            break
        title_shape = slide.shapes.title
        title = title_shape.text_frame.text.strip() if title_shape is not None and title_shape.has_text_frame else ""
        heading = f"Slide {number}: {title}" if title else f"Slide {number}"
        budget.add(blocks, Block(f"## {heading}", heading, heading=2))
        for shape in slide.shapes:
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            if shape.has_text_frame:
                text = _tidy_lines(shape.text_frame.text)
                budget.add(blocks, Block(text, text))
            elif getattr(shape, "has_table", False) and shape.has_table:
                rows = [[cell.text.strip() for cell in row.cells] for row in shape.table.rows]
                budget.add(blocks, _table_block(rows))
        if slide.has_notes_slide:
            notes = _tidy_lines(slide.notes_slide.notes_text_frame.text if slide.notes_slide.notes_text_frame else "")
            if notes:
                budget.add(blocks, Block(f"Notes: {notes}", f"Notes: {notes}"))
    return blocks


def _csv(data: bytes, budget: Budget) -> list[Block]:
    text = _decode(data)
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows: list[list[str]] = []
    try:
        for n, row in enumerate(csv.reader(io.StringIO(text), dialect)):
            if n % 200 == 0 and budget.full():
                break
            if any(cell.strip() for cell in row):
                rows.append([cell.strip() for cell in row])
                budget.chars += sum(len(c) for c in row)
    except csv.Error:  # not really CSV: index it as plain text
        return _txt(data, budget)
    return [_table_block(rows)] if rows else []


def _txt(data: bytes, budget: Budget) -> list[Block]:
    return _line_blocks(_decode(data), budget, markdown=False)


def _md(data: bytes, budget: Budget) -> list[Block]:
    return _line_blocks(_decode(data), budget, markdown=True)


def _html(data: bytes, budget: Budget) -> list[Block]:
    converted = convert_html(_decode(data))
    blocks: list[Block] = []
    for block in converted.blocks:
        if budget.full():
            break
        budget.add(blocks, block)
    return blocks


EXTRACTORS: dict[str, Callable[[bytes, Budget], list[Block]]] = {
    "pdf": _pdf, "docx": _docx, "xlsx": _xlsx, "pptx": _pptx, "csv": _csv, "txt": _txt, "md": _md, "html": _html,
}


# -- helpers ------------------------------------------------------------------------------------

def _decode(data: bytes) -> str:
    """Text by its byte-order mark, else UTF-8, else Windows-1252 (which decodes any byte)."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, "replace")
    if b"\x00" in data[:8192]:
        raise Skip("binary data in a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _tidy_lines(text: str) -> str:
    lines = (re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _table_block(rows: list[list[str]]) -> Block:
    """Rows as a Markdown table and as "a | b | c" lines; the header is repeated in every chunk."""
    rows = [r for r in rows if any(r)]
    if not rows:
        return Block("", "")
    width = max(len(r) for r in rows)
    rows = [[c.replace("\n", " ") for c in r] + [""] * (width - len(r)) for r in rows]
    md_lines = ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    md_lines.insert(1, "|" + " --- |" * width)
    text_lines = [" | ".join(r) for r in rows]
    return Block("\n".join(md_lines), "\n".join(text_lines), head_lines=(2, 1) if len(rows) > 1 else (0, 0))


def _line_blocks(text: str, budget: Budget, *, markdown: bool) -> list[Block]:
    """Plain text or Markdown as paragraphs and headings (ATX "# x" in Markdown; underlined
    "Title\\n=====" in both); fenced code stays whole."""
    blocks: list[Block] = []
    paragraph: list[str] = []
    in_fence = False

    def flush() -> None:
        if paragraph:
            body = "\n".join(paragraph).strip("\n")
            budget.add(blocks, Block(body, body))
            paragraph.clear()

    for line in text.splitlines():
        if budget.full():
            break
        if markdown and line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            paragraph.append(line)
            continue
        if in_fence:
            paragraph.append(line)
            continue
        atx = _ATX_HEADING.match(line) if markdown else None
        if atx:
            flush()
            level, title = len(atx.group(1)), atx.group(2)
            budget.add(blocks, Block(f"{'#' * level} {title}", title, heading=level))
        elif _SETEXT_RULE.match(line) and len(paragraph) == 1 and len(line.strip()) >= 3:
            title = paragraph.pop().strip()
            flush()
            level = 1 if line.strip()[0] == "=" else 2
            budget.add(blocks, Block(f"{'#' * level} {title}", title, heading=level))
        elif not line.strip():
            flush()
        else:
            paragraph.append(line.rstrip())
    flush()
    return blocks
