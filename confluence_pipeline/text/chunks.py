"""Chunks that follow headings: each heading starts a chunk, and a section longer than
`max_chars` continues in further chunks under the same headings.

A block too long for one chunk (a long table, a big code sample) is split between lines, and a
table's header lines are repeated at the top of every piece, so each chunk reads on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from .blocks import Block

MAX_CHARS = 3000  # of plain text per chunk: a few paragraphs, enough context for a snippet or an answer


@dataclass(frozen=True)
class Chunk:
    index: int
    headings: tuple[str, ...]  # the headings this chunk sits under, outermost first
    markdown: str
    text: str


def chunk_blocks(blocks: list[Block], max_chars: int = MAX_CHARS) -> list[Chunk]:
    """Blocks grouped into chunks that start at headings and hold at most about `max_chars`."""
    chunks: list[Chunk] = []
    path: list[tuple[int, str]] = []  # (level, heading text) of the open sections
    md_parts: list[str] = []
    text_parts: list[str] = []
    size = 0
    only_headings = True

    def flush() -> None:
        nonlocal md_parts, text_parts, size, only_headings
        if any(part.strip() for part in text_parts):
            chunks.append(Chunk(len(chunks), tuple(title for _, title in path), "\n\n".join(md_parts),
                                "\n\n".join(text_parts)))
        md_parts, text_parts, size, only_headings = [], [], 0, True

    for block in blocks:
        if block.heading:
            if not only_headings:  # a heading right under a heading stays with it
                flush()
            while path and path[-1][0] >= block.heading:
                path.pop()
            path.append((block.heading, block.text))
            md_parts.append(block.markdown)
            text_parts.append(block.text)
            size += len(block.text)
            continue
        for piece in _pieces(block, max_chars):
            if size and size + len(piece.text) > max_chars:
                flush()
            md_parts.append(piece.markdown)
            text_parts.append(piece.text)
            size += len(piece.text)
            only_headings = False
    flush()
    return chunks


def _pieces(block: Block, max_chars: int) -> list[Block]:
    """A block cut between lines into pieces of at most about `max_chars` of text."""
    if len(block.text) <= max_chars:
        return [block]
    md_head_n, text_head_n = block.head_lines
    md_lines, text_lines = block.markdown.split("\n"), block.text.split("\n")
    if len(md_lines) - md_head_n != len(text_lines) - text_head_n:
        # the renderings do not line up line by line (a list of multi-line items): cut the text only
        return [Block(text, text) for text in _cut_text(block.text, max_chars)]
    md_head, md_body = md_lines[:md_head_n], md_lines[md_head_n:]
    text_head, text_body = text_lines[:text_head_n], text_lines[text_head_n:]
    head_size = sum(len(line) + 1 for line in text_head)
    pieces: list[Block] = []
    start, size = 0, head_size
    for i, line in enumerate(text_body):
        if i > start and size + len(line) + 1 > max_chars:
            pieces.append(_piece(md_head, md_body[start:i], text_head, text_body[start:i]))
            start, size = i, head_size
        size += len(line) + 1
    pieces.append(_piece(md_head, md_body[start:], text_head, text_body[start:]))
    out: list[Block] = []
    for piece in pieces:  # a single line longer than a chunk (a huge paragraph) is cut by words
        if len(piece.text) > max_chars * 2:
            out.extend(Block(text, text) for text in _cut_text(piece.text, max_chars))
        else:
            out.append(piece)
    return out


def _piece(md_head: list[str], md_body: list[str], text_head: list[str], text_body: list[str]) -> Block:
    return Block("\n".join(md_head + md_body), "\n".join(text_head + text_body))


def _cut_text(text: str, max_chars: int) -> list[str]:
    """Plain text cut at whitespace into pieces of at most `max_chars` (or at max_chars inside a
    word longer than that)."""
    out = []
    while len(text) > max_chars:
        cut = max(text.rfind(" ", max_chars // 2, max_chars), text.rfind("\n", max_chars // 2, max_chars))
        cut = max_chars if cut < 0 else cut
        out.append(text[:cut].strip())
        text = text[cut:].strip()
    if text:
        out.append(text)
    return out
