"""CQL's syntax: the error, tokens, the parsed tree and what a tree says about the types and ids it
can match."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from ..model import CONTENT_TYPES, Content

Predicate = Callable[[Content], bool]


# Types CQL knows; the emulator holds only CONTENT_TYPES, so the others match nothing.
KNOWN_TYPES = frozenset(CONTENT_TYPES) | {"whiteboard", "database", "embed"}
TREE_TYPES = ("page", "folder")
RESERVED = frozenset({"and", "or", "not", "in", "order", "by"})
NEGATIVE_OPS = frozenset({"!=", "!~", "not in"})
_MEMBERSHIP = frozenset({"=", "!=", "in", "not in"})
CONTAINS = frozenset({"~", "!~"})
_COMPARISON = frozenset({"=", "!=", "<", "<=", ">", ">="})
DATE_FUNCTIONS = {
    "now": ("now", None),
    **{f"{edge}of{period}": (edge, period)
       for edge in ("start", "end") for period in ("day", "week", "month", "year")},
}
DATE_FUNCTION_NAMES = "now(), startOfDay(), endOfDay(), startOfWeek(), endOfWeek(), " \
                       "startOfMonth(), endOfMonth(), startOfYear(), endOfYear()"


class CqlError(Exception):
    """A query Confluence would reject. `str()` is Confluence's message plus what is wrong."""

    def __init__(self, cql: str, detail: str) -> None:
        super().__init__(f"Could not parse cql : {cql} ({detail})")
        self.cql = cql
        self.detail = detail


# --------------------------------------------------------------------------------------------
# Tokens

_TOKEN = re.compile(r"""
        (?P<op>!=|!~|<=|>=|=|~|<|>)
      | (?P<punct>[(),])
      | "(?P<dq>(?:[^"\\]|\\.)*)"
      | '(?P<sq>(?:[^'\\]|\\.)*)'
      | (?P<word>[^\s()=,!~<>"']+)
    """, re.VERBOSE | re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # op | ( | ) | , | string | word | end
    text: str
    pos: int


def tokenize(cql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while True:
        while pos < len(cql) and cql[pos].isspace():
            pos += 1
        if pos == len(cql):
            break
        m = _TOKEN.match(cql, pos)
        if m is None:
            if cql[pos] in "\"'":
                raise CqlError(cql, f"unterminated quoted string at position {pos}")
            raise CqlError(cql, f"unexpected character {cql[pos]!r} at position {pos}")
        kind = m.lastgroup
        if kind in ("dq", "sq"):
            tokens.append(Token("string", _ESCAPE.sub(r"\1", m.group(kind)), pos))
        elif kind == "punct":
            tokens.append(Token(m.group(kind), m.group(kind), pos))
        else:
            tokens.append(Token(kind, m.group(kind), pos))
        pos = m.end()
    tokens.append(Token("end", "", len(cql)))
    return tokens


# --------------------------------------------------------------------------------------------
# The parsed query


@dataclass(frozen=True, slots=True)
class Increment:
    months: int = 0
    days: int = 0
    minutes: int = 0


@dataclass(frozen=True, slots=True)
class DateLiteral:
    local: datetime  # naive, in the caller's zone
    whole_day: bool


@dataclass(frozen=True, slots=True)
class DateFunction:
    edge: str  # now | start | end
    period: str | None  # day | week | month | year (None for now())
    increment: Increment


class _CurrentUser:
    """The value of `currentUser()`."""


CURRENT_USER = _CurrentUser()


@dataclass(frozen=True, slots=True)
class Clause:
    field: str  # canonical name
    op: str
    values: tuple  # converted per field at parse time


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


Node = Clause | Not | And | Or


@dataclass(frozen=True, slots=True)
class _Field:
    name: str  # canonical
    ops: frozenset[str]


FIELDS: dict[str, _Field] = {
    "type": _Field("type", _MEMBERSHIP),
    "space": _Field("space", _MEMBERSHIP),
    "space.key": _Field("space", _MEMBERSHIP),
    "space.id": _Field("space.id", _MEMBERSHIP),
    "space.type": _Field("space.type", _MEMBERSHIP),
    "id": _Field("id", _MEMBERSHIP),
    "content": _Field("id", _MEMBERSHIP),
    "ancestor": _Field("ancestor", _MEMBERSHIP),
    "parent": _Field("parent", _MEMBERSHIP),
    "container": _Field("container", _MEMBERSHIP),
    "label": _Field("label", _MEMBERSHIP),
    "creator": _Field("creator", _MEMBERSHIP),
    "title": _Field("title", _MEMBERSHIP | CONTAINS),
    "text": _Field("text", CONTAINS),
    "created": _Field("created", _COMPARISON),
    "lastmodified": _Field("lastmodified", _COMPARISON),
}


NEGATIVE_FIRST = ("a negative clause (!=, !~, not in, not) cannot come first; "
                   "start with a positive clause such as type = page")
DATE_LITERAL = re.compile(r"(?P<y>\d{4})(?P<sep>[-/])(?P<mo>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
                   r"(?: +(?P<h>\d{1,2}):(?P<mi>\d{2}))?")
INCREMENT_PART = re.compile(r"\s*([+-]?)(\d+)([yMwdhm])")
WORD = re.compile(r"[\w*?]+")


def describe(token: Token) -> str:
    return "the end of the query" if token.kind == "end" else repr(token.text)


def contains_patterns(value: str) -> tuple[re.Pattern[str], ...]:
    """Regexes that must all match: one per word, or one for a quoted phrase."""
    words = [re.escape(w).replace(r"\*", r"\w*").replace(r"\?", r"\w") for w in WORD.findall(value)]
    stripped = value.strip()
    if len(stripped) > 1 and stripped[0] == stripped[-1] == '"':
        words = [r"\W+".join(words)]
    return tuple(re.compile(rf"(?<!\w){w}(?!\w)", re.IGNORECASE) for w in words)


def _only(node: Node, clause_allows: Callable[[Clause], frozenset | None]) -> frozenset | None:
    """The only values (types, ids) a query can match, from what each clause allows (None: any)."""
    if isinstance(node, Clause):
        return clause_allows(node)
    if isinstance(node, And):
        known = [v for v in (_only(child, clause_allows) for child in node.children) if v is not None]
        return frozenset.intersection(*known) if known else None
    if isinstance(node, Or):
        parts = [_only(child, clause_allows) for child in node.children]
        return None if any(p is None for p in parts) else frozenset.union(*parts)
    return None


def types_of(node: Node) -> frozenset[str] | None:
    def allows(clause: Clause) -> frozenset[str] | None:
        if clause.field != "type":
            return None
        named, emulated = frozenset(clause.values), frozenset(CONTENT_TYPES)
        return emulated - named if clause.op in NEGATIVE_OPS else named & emulated
    return _only(node, allows)


def ids_of(node: Node) -> frozenset[int] | None:
    return _only(node, lambda c: frozenset(c.values) if c.field == "id" and c.op not in NEGATIVE_OPS
                 else None)


ORDER_FIELDS = {"created": "created", "lastmodified": "lastmodified", "title": "title", "id": "id",
                 "content": "id", "type": "type", "space": "space", "space.key": "space"}
