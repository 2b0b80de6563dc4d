"""Text to index terms, the same way for chunks and for queries.

Words are runs of letters and digits (so "Quorion-412" gives "quorion" and "412"), folded to
lower case with accents on Latin, Greek and Cyrillic letters removed ("Müller" matches
"muller"), English words reduced to their Snowball stem ("deployments" matches "deploy"), and a
short list of English stop words dropped. Chinese and Japanese write no spaces between words,
so their runs become overlapping character pairs (bigrams), as CJK analyzers do; a query in
those scripts matches wherever its pairs occur.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from typing import Iterator

import snowballstemmer

_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"([{_CJK}]+)|([^\W_]+)")  # a CJK run | a word
_HAS_CJK = re.compile(rf"[{_CJK}]")
_WORD = re.compile(r"[^\W_]+")
_COMBINING = re.compile("[\u0300-\u036f]")  # accents only: Japanese voicing marks are letters, kept
_ASCII_WORD = re.compile(r"[a-z]+")
_ASCII_TOKEN = re.compile(r"[a-z0-9]+")  # a word of lower-cased ASCII text
MAX_TERM_CHARS = 64
STOP_WORDS = frozenset("""
a an and are as at be but by for from has have if in into is it its of on or so such that the their then
there these they this to was were will with we you our your""".split())

_stemmer = snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=200_000)
def normalize(word: str) -> str | None:
    """The index term of one word, or None for a stop word."""
    folded = unicodedata.normalize("NFKC", word).casefold()
    folded = unicodedata.normalize("NFC", _COMBINING.sub("", unicodedata.normalize("NFD", folded)))
    if folded in STOP_WORDS:
        return None
    if _ASCII_WORD.fullmatch(folded):
        folded = _stemmer.stemWord(folded)
    return folded[:MAX_TERM_CHARS]


def terms_with_spans(text: str) -> Iterator[tuple[str, int, int]]:
    """(term, start, end) for every term of `text`, positions in `text` itself."""
    for match in _TOKEN.finditer(text):
        if match.group(1):  # a CJK run: its character pairs
            start = match.start()
            run = match.group(1)
            if len(run) == 1:
                yield run, start, start + 1
            for i in range(len(run) - 1):
                yield run[i:i + 2], start + i, start + i + 2
            continue
        term = normalize(match.group(0))
        if term:
            yield term, match.start(), match.end()


def terms(text: str) -> list[str]:
    """The terms of `terms_with_spans`, without the positions."""
    out: list[str] = []
    for run, word in _TOKEN.findall(text):
        if word:
            term = normalize(word)
            if term:
                out.append(term)
        elif len(run) == 1:
            out.append(run)
        else:
            out.extend(run[i:i + 2] for i in range(len(run) - 1))
    return out


def term_counts(text: str) -> dict[str, int]:
    """How often each term of `terms` occurs in `text`: what indexing needs, and where a large
    site's indexing spends most of its time. Without CJK runs, the words are counted first and
    each distinct word normalized once; ASCII text is lower-cased first (for ASCII, the same
    folding as `normalize`'s), so "Deploy" and "deploy" are one word to normalize."""
    if text.isascii():
        words = Counter(_ASCII_TOKEN.findall(text.lower()))
    elif _HAS_CJK.search(text):
        return dict(Counter(terms(text)))
    else:
        words = Counter(_WORD.findall(text))
    counts: dict[str, int] = {}
    for word, n in words.items():
        term = normalize(word)
        if term:
            counts[term] = counts.get(term, 0) + n
    return counts
