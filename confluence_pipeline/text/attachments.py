"""The text of attachment files: pdf, docx, xlsx, pptx, csv, txt, md and html.

    with Extractor() as extractor:
        result = extractor.extract(path, media_type, filename)   # never raises
        result.status   # "ok" | "empty" | "skipped";  result.reason says why, or what was cut

Libraries: pypdf (PDF), python-docx, openpyxl and python-pptx (Office files, whose XML they read
without resolving entities; openpyxl through defusedxml), the csv module, and this package's
storage converter for HTML (lxml's HTML parser, no network, no DTD).

Caps, each ending in a recorded reason rather than an exception:
- bytes: a file over `max_bytes` is not opened; an Office file (a zip archive) that would unpack
  to more than `max_unpacked_bytes` is refused before a library reads it (zip bombs);
- text: extraction stops at `max_chars` characters ("text cut at ...");
- time: extractors check a deadline between pages, paragraphs, rows and slides, and
  `Extractor` runs them in a child process that is killed when a file overruns the deadline
  (a parser stuck inside one page), which also bounds its memory (`max_memory_bytes`) and keeps
  a crashing parser from taking the run down.
Encrypted PDFs and Office files, corrupt files and unsupported types are skipped with the reason.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import logging
import queue
import re
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .blocks import Block
from .storage import convert_html

log = logging.getLogger(__name__)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
MEDIA_KINDS = {
    "application/pdf": "pdf", DOCX: "docx", XLSX: "xlsx", "application/vnd.ms-excel.sheet.macroenabled.12": "xlsx",
    PPTX: "pptx", "text/csv": "csv", "text/tab-separated-values": "csv", "text/plain": "txt",
    "text/markdown": "md", "text/x-markdown": "md", "text/html": "html", "application/xhtml+xml": "html",
}
EXTENSION_KINDS = {"pdf": "pdf", "docx": "docx", "xlsx": "xlsx", "xlsm": "xlsx", "pptx": "pptx", "csv": "csv",
                   "tsv": "csv", "txt": "txt", "log": "txt", "text": "txt", "md": "md", "markdown": "md",
                   "html": "html", "htm": "html", "xhtml": "html"}
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


@dataclass
class Extracted:
    blocks: list[Block] = field(default_factory=list)
    status: str = "ok"  # ok | empty | skipped
    reason: str = ""  # why it was skipped, or what was cut short

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks)


class Skip(Exception):
    """A file that cannot be read; the message is the reason recorded."""


def file_kind(media_type: str | None, filename: str | None) -> str | None:
    """pdf, docx, xlsx, pptx, csv, txt, md or html, from the media type or else the file name."""
    kind = MEDIA_KINDS.get((media_type or "").split(";")[0].strip().lower())
    if kind is None and filename and "." in filename:
        kind = EXTENSION_KINDS.get(filename.rsplit(".", 1)[1].lower())
    return kind


class _Budget:
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


def _too_big(size: int, limits: Limits) -> Extracted:
    return Extracted(status="skipped", reason=f"file of {size:,} bytes is over the {limits.max_bytes:,}-byte cap")


def extract(data: bytes, media_type: str | None, filename: str | None, limits: Limits = Limits()) -> Extracted:
    """The text of one file, in this process (no hard time cap: see `Extractor`); never raises."""
    kind = file_kind(media_type, filename)
    if kind is None:
        return Extracted(status="skipped", reason=f"unsupported file type ({media_type or 'unknown'})")
    if len(data) > limits.max_bytes:
        return _too_big(len(data), limits)
    budget = _Budget(limits)
    try:
        blocks = _EXTRACTORS[kind](data, budget)
    except Skip as exc:
        return Extracted(status="skipped", reason=str(exc))
    except Exception as exc:  # a corrupt file can raise anything from inside a parser
        message = f"{type(exc).__name__}: {exc}"[:300]
        return Extracted(status="skipped", reason=f"unreadable {kind} file ({message})")
    if not blocks:
        return Extracted(status="empty", reason=budget.cut or f"no text in this {kind} file")
    return Extracted(blocks, "ok", budget.cut)


def extract_file(path: Path, media_type: str | None, filename: str | None, limits: Limits = Limits()) -> Extracted:
    if file_kind(media_type, filename) is None:
        return Extracted(status="skipped", reason=f"unsupported file type ({media_type or 'unknown'})")
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            return _too_big(size, limits)
        data = path.read_bytes()
    except OSError as exc:
        return Extracted(status="skipped", reason=f"file not readable ({exc.strerror or exc})")
    return extract(data, media_type, filename, limits)


# -- formats ------------------------------------------------------------------------------------

def _pdf(data: bytes, budget: _Budget) -> list[Block]:
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


def _open_zip(data: bytes, budget: _Budget, kind: str) -> None:
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


def _docx(data: bytes, budget: _Budget) -> list[Block]:
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


def _xlsx(data: bytes, budget: _Budget) -> list[Block]:
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


def _pptx(data: bytes, budget: _Budget) -> list[Block]:
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


def _csv(data: bytes, budget: _Budget) -> list[Block]:
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


def _txt(data: bytes, budget: _Budget) -> list[Block]:
    return _line_blocks(_decode(data), budget, markdown=False)


def _md(data: bytes, budget: _Budget) -> list[Block]:
    return _line_blocks(_decode(data), budget, markdown=True)


def _html(data: bytes, budget: _Budget) -> list[Block]:
    converted = convert_html(_decode(data))
    blocks: list[Block] = []
    for block in converted.blocks:
        if budget.full():
            break
        budget.add(blocks, block)
    return blocks


_EXTRACTORS: dict[str, Callable[[bytes, _Budget], list[Block]]] = {
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


def _line_blocks(text: str, budget: _Budget, *, markdown: bool) -> list[Block]:
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


# -- the child process ----------------------------------------------------------------------------

class Extractor:
    """Extraction in a child process, killed when a file overruns `limits.max_seconds`.

    The child is a fresh Python running `serve`, spoken to in JSON lines over its stdin and
    stdout (a plain subprocess: multiprocessing's spawn would re-run the caller's main module).
    One child serves a whole run and is restarted after a kill or a crash.
    """

    def __init__(self, limits: Limits = Limits(), *, grace_s: float = 5.0) -> None:
        self.limits = limits
        self.grace_s = grace_s  # past the cooperative deadline, before the child is killed
        self._process: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str] = queue.Queue()

    def __enter__(self) -> "Extractor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def extract(self, path: Path, media_type: str | None, filename: str | None) -> Extracted:
        if file_kind(media_type, filename) is None:
            return Extracted(status="skipped", reason=f"unsupported file type ({media_type or 'unknown'})")
        process = self._child()
        try:
            assert process.stdin is not None
            process.stdin.write(json.dumps({"path": str(path), "media_type": media_type, "filename": filename}) + "\n")
            process.stdin.flush()
            reply = self._replies.get(timeout=self.limits.max_seconds + self.grace_s)
        except queue.Empty:
            self._kill()
            return Extracted(status="skipped", reason=f"took longer than {self.limits.max_seconds:g} s")
        except OSError:
            reply = ""
        if not reply:  # the child died: end of its output
            self._kill()
            return Extracted(status="skipped", reason="the extracting process died on this file "
                                                      "(out of memory, or a crash inside a parser)")
        return _from_json(json.loads(reply))

    def _child(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._kill()
        limits = json.dumps(dataclasses.asdict(self.limits))
        process = subprocess.Popen([sys.executable, "-c", f"from {__name__} import serve; serve()", limits],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
                                   bufsize=1)
        self._replies = queue.Queue()
        threading.Thread(target=_read_lines, args=(process, self._replies), daemon=True).start()
        self._process = process
        return process

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
        self._process = None

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None and self._process.stdin is not None:
            try:
                self._process.stdin.close()  # end of requests: the child exits
                self._process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()


def _read_lines(process: subprocess.Popen[str], replies: queue.Queue[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        replies.put(line)
    replies.put("")  # end of output: the child is gone


def _to_json(result: Extracted) -> dict[str, Any]:
    return {"status": result.status, "reason": result.reason,
            "blocks": [[b.markdown, b.text, b.heading, *b.head_lines] for b in result.blocks]}


def _from_json(data: dict[str, Any]) -> Extracted:
    blocks = [Block(md, text, heading, (md_head, text_head))
              for md, text, heading, md_head, text_head in data["blocks"]]
    return Extracted(blocks, data["status"], data["reason"])


def serve() -> None:
    """The child: limits as JSON in argv[1]; one JSON request per line on stdin, one JSON result
    per line on stdout."""
    limits = Limits(**json.loads(sys.argv[1]))
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limits.max_memory_bytes, limits.max_memory_bytes))
    except (ImportError, ValueError, OSError):
        pass  # no address-space limit on this platform
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed-PDF chatter; the outcome is recorded
    replies, sys.stdout = sys.stdout, sys.stderr  # whatever a library prints cannot garble a reply
    for line in sys.stdin:
        request = json.loads(line)
        result = extract_file(Path(request["path"]), request["media_type"], request["filename"], limits)
        replies.write(json.dumps(_to_json(result)) + "\n")
        replies.flush()

