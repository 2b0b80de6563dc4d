"""Attachment text: every supported format, and every way a file can fail (encrypted, corrupt,
unsupported, too big, a zip bomb, too slow) ending in a recorded reason, never an exception."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import openpyxl
import pptx
import pypdf
import pytest

from confluence_pipeline.emulator import files
from confluence_pipeline.emulator.words import planted_facts
from confluence_pipeline.emulator.generate import generate_workspace
from confluence_pipeline.text.attachments import DOCX, PPTX, XLSX, Limits, extract, file_kind
from confluence_pipeline.text.extractor import Extractor
from confluence_pipeline.text.chunks import chunk_blocks

SEED = 13


@pytest.fixture(scope="module")
def extractor():
    with Extractor() as running:
        yield running


@pytest.fixture(scope="module")
def fact_files():
    """(kind, bytes, planted sentence) for the emulator's attachments that carry a planted fact."""
    ws = generate_workspace(SEED, 60)
    sentences = dict(planted_facts(SEED))
    out = {}
    for query, content_id in ws.planted_facts:
        item = ws.get(content_id)
        if item.type == "attachment":
            kind = file_kind(item.media_type, item.title)
            out.setdefault(kind, (item.media_type, item.title, files.attachment_bytes(item, SEED), sentences[query]))
    return out


@pytest.mark.parametrize("kind", ["txt", "csv", "pdf", "docx"])
def test_the_emulators_files_give_their_planted_facts(fact_files, extractor, tmp_path, kind):
    media_type, title, data, sentence = fact_files[kind]
    path = tmp_path / "file"
    path.write_bytes(data)
    result = extractor.extract(path, media_type, title)  # through the child process
    assert result.status == "ok" and result.reason == ""
    assert sentence in " ".join(result.text.split())


def pdf_bytes(lines: list[str], *, user_password: str | None = None, owner_password: str | None = None) -> bytes:
    writer = pypdf.PdfWriter()
    page = writer.add_blank_page(612, 792)
    font = pypdf.generic.DictionaryObject({
        pypdf.generic.NameObject("/F1"): pypdf.generic.DictionaryObject({
            pypdf.generic.NameObject("/Type"): pypdf.generic.NameObject("/Font"),
            pypdf.generic.NameObject("/Subtype"): pypdf.generic.NameObject("/Type1"),
            pypdf.generic.NameObject("/BaseFont"): pypdf.generic.NameObject("/Helvetica")})})
    page[pypdf.generic.NameObject("/Resources")] = pypdf.generic.DictionaryObject(
        {pypdf.generic.NameObject("/Font"): font})
    shown = " ".join(f"({line}) Tj T*" for line in lines)
    stream = pypdf.generic.DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 14 TL 50 740 Td {shown} ET".encode())
    page[pypdf.generic.NameObject("/Contents")] = writer._add_object(stream)
    if user_password is not None:
        writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_pdf_text_and_an_owner_password_only_pdf():
    assert extract(pdf_bytes(["Hello PDF", "Second line"]), "application/pdf", "a.pdf").text == "Hello PDF\nSecond line"
    opened = extract(pdf_bytes(["Owner locked"], user_password="", owner_password="owner"), "application/pdf", "b.pdf")
    assert opened.status == "ok" and opened.text == "Owner locked"


def test_xlsx_sheets_become_headed_tables():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Budget"
    sheet.append(["Team", "Amount", None])
    sheet.append(["Payments", 1200, "approved"])
    workbook.create_sheet("Notes").append(["Ζητήματα", "日本語"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = extract(buffer.getvalue(), XLSX, "budget.xlsx")
    assert result.status == "ok"
    assert result.text == "Budget\n\nTeam | Amount | \nPayments | 1200 | approved\n\nNotes\n\nΖητήματα | 日本語"
    assert [b.heading for b in result.blocks] == [2, 0, 2, 0]


def test_pptx_slides_titles_text_tables_and_notes():
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Roadmap"
    slide.placeholders[1].text_frame.text = "Ship the billing service"
    table = slide.shapes.add_table(2, 2, 0, 0, 100, 100).table
    for r, row in enumerate([["Quarter", "Goal"], ["Q3", "Launch"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    slide.notes_slide.notes_text_frame.text = "Mention the freeze"
    buffer = io.BytesIO()
    deck.save(buffer)
    result = extract(buffer.getvalue(), PPTX, "deck.pptx")
    assert result.text == ("Slide 1: Roadmap\n\nShip the billing service\n\nQuarter | Goal\nQ3 | Launch\n\n"
                           "Notes: Mention the freeze")
    assert chunk_blocks(result.blocks)[0].headings == ("Slide 1: Roadmap",)


def test_markdown_html_csv_and_text_files():
    md = extract(b"# Title\n\nIntro text\n\n## Part\n\n```\n# not a heading\n```\n", "text/markdown", "r.md")
    assert [(b.heading, b.text) for b in md.blocks] == [(1, "Title"), (0, "Intro text"), (2, "Part"),
                                                       (0, "```\n# not a heading\n```")]
    html = extract(b"<html><head><script>alert(1)</script></head><body><h2>Doc</h2><p>Body &amp; soul</p></body>",
                   "text/html", "p.html")
    assert html.text == "Doc\n\nBody & soul"
    table = extract(b"name;city\nAnna;Berlin\nLi;\xe5\x8c\x97\xe4\xba\xac\n", "text/csv", "people.csv")
    assert table.text == "name | city\nAnna | Berlin\nLi | 北京"
    assert table.blocks[0].markdown.startswith("| name | city |\n| --- | --- |")
    setext = extract("Title\n=====\n\nCafé crème € price".encode("cp1252"), "text/plain", "notes.txt")
    assert [(b.heading, b.text) for b in setext.blocks] == [(1, "Title"), (0, "Café crème € price")]


def test_file_kind_falls_back_to_the_extension():
    assert file_kind("application/octet-stream", "Report.PDF") == "pdf"
    assert file_kind(None, "notes.markdown") == "md" and file_kind("image/png", "x.png") is None


# -- failures: a reason, never an exception ---------------------------------------------------------

def office_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("data,media_type,name,limits,status,reason", [
    (pdf_bytes(["secret"], user_password="pw", owner_password="pw"), "application/pdf", "s.pdf", Limits(),
     "skipped", "encrypted PDF (needs a password)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2048), DOCX, "locked.docx", Limits(),
     "skipped", "encrypted (password-protected) or legacy binary docx file"),
    (pdf_bytes(["x"])[:120], "application/pdf", "cut.pdf", Limits(), "skipped", "unreadable pdf file"),
    (b"PK\x03\x04 not really a zip", XLSX, "bad.xlsx", Limits(), "skipped", "corrupt xlsx file (not a zip archive)"),
    (office_zip({"[Content_Types].xml": b"<Types/>"}), PPTX, "empty.pptx", Limits(), "skipped", "unreadable pptx file"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "logo.png", Limits(), "skipped", "unsupported file type (image/png)"),
    (b"x" * 200, "text/plain", "big.txt", Limits(max_bytes=100), "skipped",
     "file of 200 bytes is over the 100-byte cap"),
    (office_zip({"word/document.xml": bytes(3_000_000)}), DOCX, "bomb.docx", Limits(max_unpacked_bytes=1_000_000),
     "skipped", "docx file would unpack to 3,000,000 bytes, over the 1,000,000-byte cap"),
    (b"\x00\x01\x02binary", "text/plain", "blob.txt", Limits(), "skipped", "binary data in a text file"),
    (b"   \n\n ", "text/plain", "blank.txt", Limits(), "empty", "no text in this txt file"),
])
def test_unreadable_files_are_skipped_with_the_reason(data, media_type, name, limits, status, reason):
    result = extract(data, media_type, name, limits)
    assert result.status == status and result.blocks == []
    assert result.reason.startswith(reason)


def test_text_past_the_character_cap_is_cut_and_says_so():
    result = extract(("paragraph of text\n\n" * 5000).encode(), "text/plain", "long.txt", Limits(max_chars=1000))
    assert result.status == "ok" and result.reason == "text cut at 1,000 characters"
    assert 1000 <= len(result.text) < 1500


def test_a_file_that_hangs_its_reader_is_killed_at_the_time_cap_and_the_next_file_still_reads(tmp_path):
    fifo = tmp_path / "never-written.txt"
    os.mkfifo(fifo)  # reading it blocks until a writer comes: a parser stuck for ever
    normal = tmp_path / "ok.txt"
    normal.write_text("Still readable")
    with Extractor(Limits(max_seconds=0.3), grace_s=0.2) as extractor:
        started = time.perf_counter()
        stuck = extractor.extract(fifo, "text/plain", "never-written.txt")
        assert stuck.status == "skipped" and stuck.reason == "took longer than 0.3 s"
        assert time.perf_counter() - started < 5
        assert extractor.extract(normal, "text/plain", "ok.txt").text == "Still readable"


def test_a_missing_file_is_skipped(extractor):
    result = extractor.extract(Path("/nonexistent/att123"), "application/pdf", "gone.pdf")
    assert result.status == "skipped" and result.reason.startswith("file not readable")
