"""Attachment bytes: real txt, csv, pdf, docx and png files, built when they are downloaded.

Generated attachments keep no bytes (`Content.data` is None), since at scale 100,000 they would
not fit in memory. `attachment_bytes` rebuilds a file from (seed, id, version number, media type)
with exactly `file_size` bytes; bytes uploaded through the admin API (`data`) win.

Padding keeps every file valid: PNG gets a `tEXt` chunk before IEND, PDF a comment block before
its xref table, DOCX (a real zip) a zip comment or a stored padding part, txt and csv more text.
The text files, PDFs and DOCX files hold readable English (and the planted facts whose
`fact_file_id` is the attachment's `file_id`) for the indexer to extract.
"""

from __future__ import annotations

import functools
import hashlib
import io
import random
import struct
import zipfile
import zlib
from typing import Callable

import numpy

from .bodies import escape
from .words import (ATTACHMENT_FACTS, DOC_KINDS, NON_LATIN_PARAGRAPHS, TEAMS, THINGS, make_paragraph_texts,
                    make_sentences, planted_facts)
from .model import Content

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MEDIA_TYPES = {"txt": "text/plain", "csv": "text/csv", "pdf": "application/pdf", "docx": DOCX,
               "png": "image/png"}
# The smallest file of each kind that still holds its structure, its text and a planted fact.
MIN_SIZES = {"txt": 1024, "csv": 1024, "pdf": 4096, "docx": 4096, "png": 2048}

_PNG_SIZES = [(1920, 1080), (1440, 900), (1280, 720), (1024, 768), (800, 600), (640, 480),
              (512, 512), (400, 300), (320, 240), (256, 256), (128, 128), (64, 64), (32, 32)]
# Printable ASCII for filler made from random bytes (bytes.translate is fast at megabytes).
_PRINTABLE = bytes(0x41 + (b % 26) + (32 if b & 0x40 else 0) if b % 9 else 0x20 for b in range(256))


def png_dimensions(file_size: int) -> tuple[int, int]:
    """The pixel size of a generated PNG of `file_size` bytes (bodies cite it in ac:image).

    A flat gradient compresses about 1000:1, so up to 40 pixels per byte always leaves room."""
    for width, height in _PNG_SIZES:
        if width * height <= file_size * 40:
            return width, height
    return 16, 16


def fact_file_id(seed: int, index: int) -> str:
    """The file id (a UUID) of the attachment that carries planted fact `index`."""
    h = hashlib.sha256(b"planted-fact-file/%d/%d" % (seed, index)).hexdigest()
    return "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])


@functools.lru_cache(maxsize=8)
def _facts_by_file_id(seed: int) -> dict[str, str]:
    facts = planted_facts(seed)
    return {fact_file_id(seed, i): facts[i][1] for i in range(ATTACHMENT_FACTS)}


@functools.lru_cache(maxsize=8)
def _paragraphs(seed: int) -> list[str]:
    rng = random.Random("file-text/%d" % seed)
    return make_paragraph_texts(rng, make_sentences(rng, 600), 300)


def attachment_bytes(item: Content, seed: int) -> bytes:
    """The file of attachment `item`: its uploaded `data`, or a generated file of exactly
    `item.file_size` bytes."""
    return file_maker(item, seed)()


def file_maker(item: Content, seed: int) -> Callable[[], bytes]:
    """What `attachment_bytes` returns, as a function of what `item` holds now: the server reads
    the item under the workspace lock and makes the bytes (milliseconds for a large file) outside
    it, so downloads do not queue behind one another."""
    if item.data is not None:
        data = item.data
        return lambda: data
    kind = next((k for k, m in MEDIA_TYPES.items() if m == item.media_type), None)
    if kind is None or item.file_size is None:
        raise ValueError("attachment %s has no data and no generator for media type %r with size %r; "
                         "upload its bytes through the admin API"
                         % (item.id, item.media_type, item.file_size))
    size = item.file_size
    if size < MIN_SIZES[kind]:
        raise ValueError("attachment %s: a generated %s file needs at least %d bytes, not %d"
                         % (item.id, kind, MIN_SIZES[kind], size))
    rng_seed = "%d/%s/%d/%s" % (seed, item.id, item.version.number, item.media_type)
    file_id = item.file_id or ""

    def make() -> bytes:
        rng = random.Random(rng_seed)
        if kind == "png":
            return _png(rng, size, *png_dimensions(size))
        fact = _facts_by_file_id(seed).get(file_id)
        title = "%s %s" % (rng.choice(THINGS).capitalize(), rng.choice(DOC_KINDS))
        return _BUILDERS[kind](rng, size, title, fact, _paragraphs(seed))

    return make


def _filler(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n).translate(_PRINTABLE)


def _lines(rng: random.Random, paragraphs: list[str], budget: int, width: int = 95) -> list[str]:
    """Paragraphs wrapped to `width` characters, about `budget` characters in all."""
    wrapped = _wrapped(tuple(paragraphs), width)
    out: list[str] = []
    used = 0
    while used < budget:
        lines, length = wrapped[rng.randrange(len(paragraphs))]
        out += lines
        used += length
    return out


@functools.lru_cache(maxsize=8)
def _wrapped(paragraphs: tuple[str, ...], width: int) -> list[tuple[list[str], int]]:
    """Each paragraph as its wrapped lines (then an empty one) and their length: wrapping is most
    of a PDF's making, and files draw the same few hundred paragraphs."""
    out = []
    for paragraph in paragraphs:
        lines: list[str] = []
        line = ""
        for word in paragraph.split():
            if len(line) + len(word) + 1 > width:
                lines.append(line)
                line = word
            else:
                line = "%s %s" % (line, word) if line else word
        lines += [line, ""]
        out.append((lines, sum(map(len, lines))))
    return out


# --------------------------------------------------------------------------------------------
# Text and CSV


def _txt(rng: random.Random, size: int, title: str, fact: str | None, paragraphs: list[str]) -> bytes:
    head = [title, "=" * len(title), ""]
    if fact:
        head += [fact, ""]
    if rng.random() < 0.2:
        head += [rng.choice(NON_LATIN_PARAGRAPHS), ""]
    chunks = [("\n".join(head) + "\n").encode()]
    total = len(chunks[0])
    while total < size:
        chunk = (rng.choice(paragraphs) + "\n\n").encode()
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)[: size - 1] + b"\n"  # the cut falls in ASCII filler, past the head


def _csv(rng: random.Random, size: int, title: str, fact: str | None, paragraphs: list[str]) -> bytes:
    rows = ["id,date,owner,region,item,amount,status,notes\n"]
    total = len(rows[0])
    n = 0
    regions = ("EMEA", "AMER", "APAC", "LATAM")
    statuses = ("open", "closed", "pending", "approved")
    while True:
        n += 1
        note = fact if (fact and n == 1) else (title if n == 2 else rng.choice(paragraphs)[:120])
        prefix = "%d,2024-%02d-%02d,%s,%s,%s,%d.%02d,%s," % (
            n, rng.randint(1, 12), rng.randint(1, 28), rng.choice(TEAMS), rng.choice(regions),
            rng.choice(THINGS), rng.randint(1, 99999), rng.randint(0, 99), rng.choice(statuses))
        row = '%s"%s"\n' % (prefix, note)
        if total + len(row) + 200 > size:
            break
        rows.append(row)
        total += len(row)
    # the last row's note takes up exactly the bytes that are left (fewer than a row + 200)
    room = size - total - len(prefix) - 3
    text = " ".join(paragraphs[:3])
    rows.append('%s"%s"\n' % (prefix, (text * (room // len(text) + 1))[:room]))
    return "".join(rows).encode()


# --------------------------------------------------------------------------------------------
# PDF


@functools.lru_cache(maxsize=16384)  # the lines of the few hundred paragraphs files draw on
def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _pdf(rng: random.Random, size: int, title: str, fact: str | None, paragraphs: list[str]) -> bytes:
    budget = max(600, min(size // 3, 60_000))
    while True:
        lines = [title, ""] + ([fact, ""] if fact else []) + _lines(rng, paragraphs, budget)
        data = _pdf_document(title, lines, size, rng)
        if data is not None:
            return data
        budget //= 2


def _pdf_document(title: str, lines: list[str], size: int, rng: random.Random) -> bytes | None:
    """A PDF 1.4 file of exactly `size` bytes, or None when the text does not fit."""
    pages = [lines[i:i + 52] for i in range(0, len(lines), 52)]
    first_page = 5
    kids = " ".join("%d 0 R" % (first_page + 2 * i) for i in range(len(pages)))
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(pages)),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        "<< /Title (%s) /Producer (Confluence emulator) >>" % _pdf_string(title),
    ]
    for i, page in enumerate(pages):
        shown = " ".join("(%s) Tj T*" % _pdf_string(line) for line in page)
        stream = "BT /F1 10 Tf 14 TL 50 770 Td %s ET" % shown
        contents = first_page + 2 * i + 1
        objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       "/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % contents)
        objects.append("<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body.encode("latin-1"))
    xref = b"xref\n0 %d\n0000000000 65535 f \n%s" % (
        len(objects) + 1, b"".join(b"%010d 00000 n \n" % o for o in offsets))

    def trailer(xref_at: int) -> bytes:
        return b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
            len(objects) + 1, xref_at)

    # the padding (a comment block) sits before the xref, so startxref depends on its length
    for digits in range(len(str(len(out))), len(str(size)) + 1):
        pad = size - len(out) - len(xref) - len(trailer(10 ** (digits - 1)))
        if pad >= 0 and len(str(len(out) + pad)) == digits:
            return bytes(out) + _pdf_padding(rng, pad) + xref + trailer(len(out) + pad)
    return None


def _pdf_padding(rng: random.Random, n: int) -> bytes:
    """Exactly n bytes of PDF comment lines ("%" + text + newline, 80 bytes each)."""
    full, rest = divmod(n, 80)
    text = _filler(rng, full * 78 + max(rest - 2, 0))
    lines = numpy.empty((full, 80), dtype=numpy.uint8)  # a line at a time is most of a large PDF's making
    lines[:, 0], lines[:, 79] = ord("%"), ord("\n")
    lines[:, 1:79] = numpy.frombuffer(text, dtype=numpy.uint8, count=full * 78).reshape(full, 78)
    out = lines.tobytes()
    if rest == 1:
        out += b"\n"
    elif rest > 1:
        out += b"%" + text[full * 78:] + b"\n"
    return out


# --------------------------------------------------------------------------------------------
# DOCX


_DOCX_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Default Extension="bin" ContentType="application/octet-stream"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    '<Override PartName="/docProps/core.xml" '
    'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    '</Types>')
_DOCX_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="word/document.xml"/>'
    '<Relationship Id="rId2" '
    'Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" '
    'Target="docProps/core.xml"/></Relationships>')
_DOCX_CORE = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>%s</dc:title>'
    '<dc:creator>Confluence emulator</dc:creator>'
    '</cp:coreProperties>')
_DOCX_PADDING_PART = "word/embeddings/padding.bin"


def _docx(rng: random.Random, size: int, title: str, fact: str | None, paragraphs: list[str]) -> bytes:
    texts = [title] + ([fact] if fact else [])
    used = 0
    budget = max(800, min(size // 2, 200_000))
    while used < budget:
        texts.append(rng.choice(paragraphs))
        used += len(texts[-1])
    runs = ['<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>%s</w:t></w:r></w:p>' % escape(title)]
    runs += ['<w:p><w:r><w:t xml:space="preserve">%s</w:t></w:r></w:p>' % escape(t) for t in texts[1:]]
    document = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
                '%s<w:sectPr/></w:body></w:document>' % "".join(runs))
    parts = [("[Content_Types].xml", _DOCX_TYPES), ("_rels/.rels", _DOCX_RELS),
             ("docProps/core.xml", _DOCX_CORE % escape(title)), ("word/document.xml", document)]
    stamp = (2020 + rng.randrange(5), rng.randint(1, 12), rng.randint(1, 28), rng.randrange(24),
             rng.randrange(60), 0)
    members = [(name, text.encode(), zipfile.ZIP_DEFLATED) for name, text in parts]
    base = _zip(members, stamp, b"")
    need = size - len(base)
    if need < 0:
        raise ValueError("a %d-byte docx cannot hold its text; raise MIN_SIZES['docx']" % size)
    if need <= 65535:
        return _zip(members, stamp, _filler(rng, need))
    overhead = 30 + 46 + 2 * len(_DOCX_PADDING_PART)  # local header + central directory entry
    members.append((_DOCX_PADDING_PART, rng.randbytes(need - overhead), zipfile.ZIP_STORED))
    return _zip(members, stamp, b"")


def _zip(members: list[tuple[str, bytes, int]], stamp: tuple[int, ...], comment: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, method in members:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = method
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
        archive.comment = comment
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# PNG


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))  # of kind + data, without joining them
    return b"".join((struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)))


def _png(rng: random.Random, size: int, width: int, height: int) -> bytes:
    """An 8-bit greyscale gradient: the first row rises by a constant step (filter Sub), every
    other row repeats the one above (filter Up), so the image data compresses to almost nothing."""
    start, step = rng.randrange(256), rng.randint(1, 3)
    head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    body = _chunk(b"IDAT", _png_image_data(bytes((1, start)) + bytes((step,)) * (width - 1), width, height))
    end = _chunk(b"IEND", b"")
    keyword = b"Comment\x00"
    pad = size - len(head) - len(body) - len(end) - 12 - len(keyword)
    if pad < 0:
        raise ValueError("a %dx%d PNG does not fit in %d bytes; see png_dimensions" % (width, height, size))
    return head + body + _chunk(b"tEXt", keyword + _filler(rng, pad)) + end


def _png_image_data(first_row: bytes, width: int, height: int) -> bytes:
    """The zlib stream of `first_row` and `height - 1` rows that repeat it (filter Up). The first
    row is compressed on its own and ends in a full flush, so the deflate blocks of the repeats,
    the same for every image of this size, follow it as they are (compressing them is 10 ms), and
    so does their checksum."""
    compressor = zlib.compressobj(9)
    head = compressor.compress(first_row) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeats, repeats_adler32, repeats_length = _png_repeats(width, height)
    checksum = _adler32_combine(zlib.adler32(first_row), repeats_adler32, repeats_length)
    return head + repeats + struct.pack(">I", checksum)


@functools.lru_cache(maxsize=len(_PNG_SIZES) + 1)
def _png_repeats(width: int, height: int) -> tuple[bytes, int, int]:
    """The repeated rows as raw deflate (no header, no checksum), their Adler-32 and length."""
    rows = (b"\x02" + bytes(width)) * (height - 1)
    compressor = zlib.compressobj(9, wbits=-15)
    return compressor.compress(rows) + compressor.flush(), zlib.adler32(rows), len(rows)


def _adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings one after the other, from theirs (zlib's adler32_combine,
    which Python's zlib does not offer)."""
    base = 65521
    rem = second_length % base
    low = (first & 0xFFFF) + (second & 0xFFFF) + base - 1
    high = rem * (first & 0xFFFF) + (first >> 16) + (second >> 16) + base - rem
    return (low % base) | ((high % base) << 16)


_BUILDERS = {"txt": _txt, "csv": _csv, "pdf": _pdf, "docx": _docx}
