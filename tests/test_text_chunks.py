"""Chunks follow headings, stay under the size cap, and repeat a split table's header."""

from __future__ import annotations

from confluence_pipeline.text.chunks import chunk_blocks
from confluence_pipeline.text.storage import convert


def test_each_heading_starts_a_chunk_under_its_parents():
    converted = convert("<p>Intro</p><h1>Guide</h1><p>A</p><h2>Install</h2><p>B</p><h3>Linux</h3><p>C</p>"
                        "<h2>Use</h2><p>D</p><h1>FAQ</h1><p>E</p>")
    chunks = chunk_blocks(converted.blocks)
    assert [(c.headings, c.text) for c in chunks] == [
        ((), "Intro"),
        (("Guide",), "Guide\n\nA"),
        (("Guide", "Install"), "Install\n\nB"),
        (("Guide", "Install", "Linux"), "Linux\n\nC"),
        (("Guide", "Use"), "Use\n\nD"),
        (("FAQ",), "FAQ\n\nE"),
    ]
    assert chunks[2].markdown == "## Install\n\nB"
    assert [c.index for c in chunks] == list(range(6))


def test_a_heading_directly_under_a_heading_shares_its_chunk():
    chunks = chunk_blocks(convert("<h1>Overview</h1><h2>Goals</h2><p>Ship it.</p>").blocks)
    assert [(c.headings, c.text) for c in chunks] == [(("Overview", "Goals"), "Overview\n\nGoals\n\nShip it.")]


def test_long_sections_continue_in_more_chunks_under_the_same_heading():
    paragraphs = "".join(f"<p>{'word%d ' % i * 60}</p>" for i in range(20))
    chunks = chunk_blocks(convert(f"<h2>Long</h2>{paragraphs}").blocks, max_chars=1000)
    assert len(chunks) > 5
    assert all(c.headings == ("Long",) and len(c.text) <= 1000 for c in chunks)
    words = " ".join(c.text for c in chunks).split()
    assert words.count("word7") == 60  # nothing lost, nothing doubled


def test_a_split_table_repeats_its_header_in_every_piece():
    rows = "".join(f"<tr><td>{i}</td><td>{'item %d ' % i * 5}</td></tr>" for i in range(300))
    chunks = chunk_blocks(convert(f"<table><tr><th>No</th><th>Item</th></tr>{rows}</table>").blocks,
                          max_chars=2000)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.markdown.startswith("| No | Item |\n| --- | --- |\n| ")
        assert chunk.text.startswith("No | Item\n")
    body_rows = [line for c in chunks for line in c.text.split("\n")[1:]]
    assert [r.split(" | ")[0] for r in body_rows] == [str(i) for i in range(300)]


def test_a_single_huge_paragraph_is_cut_between_words():
    chunks = chunk_blocks(convert("<p>" + "lorem ipsum " * 2000 + "</p>").blocks, max_chars=3000)
    assert all(len(c.text) <= 3000 for c in chunks) and len(chunks) >= 8
    assert all(not c.text.startswith(" ") and "lorem ipsum" in c.text for c in chunks)


def test_nothing_to_chunk():
    assert chunk_blocks([]) == []
    assert chunk_blocks(convert("<h1>Only a heading</h1>").blocks)[0].text == "Only a heading"
