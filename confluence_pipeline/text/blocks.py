"""Blocks of converted text in both renderings (Markdown and plain text), and the Markdown helpers
that build them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

_SURROGATE_ESCAPES = re.compile(r"(?:\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})|\\u[0-9a-fA-F]{4}")
DOUBLE_SPACES = re.compile(" {2,}")
_MD_SPECIAL = re.compile(r"([\\`*\[\]])")
_LONE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


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


class Pair:
    """Markdown and plain text built side by side."""

    __slots__ = ("md", "text")

    def __init__(self, md: str = "", text: str | None = None) -> None:
        self.md = md
        self.text = md if text is None else text

    def __add__(self, other: "Pair") -> "Pair":
        return Pair(self.md + other.md, self.text + other.text)

    def strip(self) -> "Pair":
        return Pair(self.md.strip(), self.text.strip())


def escape_md(text: str) -> str:
    return _LONE_UNDERSCORE.sub(r"\\_", _MD_SPECIAL.sub(r"\\\1", text))


def wrap(inner: Pair, mark: str) -> Pair:
    """`**x**` around the text, with its outer spaces left outside the marks."""
    core = inner.md.strip()
    if not core:
        return inner
    lead = " " if inner.md[:1].isspace() else ""
    trail = " " if inner.md[-1:].isspace() else ""
    return Pair(f"{lead}{mark}{core}{mark}{trail}", inner.text)


def decode_escapes(value: str) -> str:
    """ac:emoji-fallback as some pages store it: "\\uD83D\\uDDD3" (literal escapes) -> the emoji."""
    def one(match: re.Match[str]) -> str:
        raw = match.group(0)
        units = [int(raw[i + 2:i + 6], 16) for i in range(0, len(raw), 6)]
        data = b"".join(u.to_bytes(2, "big") for u in units)
        return data.decode("utf-16-be", "replace")

    return _SURROGATE_ESCAPES.sub(one, value)


def indent(text: str, first: str, rest: str) -> str:
    lines = text.split("\n")
    return "\n".join([first + lines[0]] + [(rest + line) if line else line for line in lines[1:]])


def quote_md(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def fence(code: str, language: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", code)), default=2)
    ticks = "`" * (longest + 1)
    return f"{ticks}{language}\n{code.rstrip()}\n{ticks}"


def _tidy_one(value: str) -> str:
    if "\n" not in value and "  " not in value:  # the common case, cheaply
        return value.strip().removesuffix("\\").rstrip()
    lines = (DOUBLE_SPACES.sub(" ", line).strip() for line in value.split("\n"))
    return "\n".join(line for line in lines if line and line != "\\").removesuffix("\\").rstrip()


def tidy(pair: Pair) -> Pair:
    """Single spaces, no spaces at line ends, no empty lines (inline runs are one paragraph)."""
    return Pair(_tidy_one(pair.md), _tidy_one(pair.text))


def quoted(inner: list[Block], label: str) -> Block:
    """A panel or quote: one block, a label line, then the body as a Markdown block quote."""
    md = "\n\n".join(b.markdown for b in inner)
    text = "\n".join(b.text for b in inner)
    if label:
        md = f"**{escape_md(label)}**" + (f"\n\n{md}" if md else "")
        text = f"{label}: {text}" if text else label
    return Block(quote_md(md), text)
