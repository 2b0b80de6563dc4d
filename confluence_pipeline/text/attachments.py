"""The text of attachment files: pdf, docx, xlsx, pptx, csv, txt, md and html.

    with Extractor() as extractor:                                # extractor.py
        result = extractor.extract(path, media_type, filename)   # never raises
        result.status   # "ok" | "empty" | "skipped";  result.reason says why, or what was cut

This module decides the file kind and applies the size cap; `formats.py` holds one reader per kind.

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

import json
from dataclasses import dataclass, field
from pathlib import Path

from .blocks import Block
from .formats import EXTRACTORS, Budget, Limits, Skip


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


EXTRACTION_VERSION = "1"  # raise when what extraction makes of a file changes: stored results are made again


@dataclass
class Extracted:
    blocks: list[Block] = field(default_factory=list)
    status: str = "ok"  # ok | empty | skipped
    reason: str = ""  # why it was skipped, or what was cut short

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks)

    def to_json(self) -> str:
        """One line of JSON: what the extracting child replies, and what the attachments table keeps."""
        return json.dumps({"status": self.status, "reason": self.reason,
                           "blocks": [[b.markdown, b.text, b.heading, *b.head_lines] for b in self.blocks]})

    @classmethod
    def from_json(cls, line: str) -> "Extracted":
        data = json.loads(line)
        blocks = [Block(md, text, heading, (md_head, text_head))
                  for md, text, heading, md_head, text_head in data["blocks"]]
        return cls(blocks, data["status"], data["reason"])


def file_kind(media_type: str | None, filename: str | None) -> str | None:
    """pdf, docx, xlsx, pptx, csv, txt, md or html, from the media type or else the file name."""
    kind = MEDIA_KINDS.get((media_type or "").split(";")[0].strip().lower())
    if kind is None and filename and "." in filename:
        kind = EXTENSION_KINDS.get(filename.rsplit(".", 1)[1].lower())
    return kind


def _too_big(size: int, limits: Limits) -> Extracted:
    return Extracted(status="skipped", reason=f"file of {size:,} bytes is over the {limits.max_bytes:,}-byte cap")


def extract(data: bytes, media_type: str | None, filename: str | None, limits: Limits = Limits()) -> Extracted:
    """The text of one file, in this process (no hard time cap: see `Extractor`); never raises."""
    kind = file_kind(media_type, filename)
    if kind is None:
        return Extracted(status="skipped", reason=f"unsupported file type ({media_type or 'unknown'})")
    if len(data) > limits.max_bytes:
        return _too_big(len(data), limits)
    budget = Budget(limits)
    try:
        blocks = EXTRACTORS[kind](data, budget)
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

