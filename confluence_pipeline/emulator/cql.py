"""CQL for the emulator: a parser and evaluator of the subset that a sync (and a person) uses.

`parse_cql(text)` checks the whole query once and returns a `CqlQuery`. `query.bind(ws, tz=...,
now=..., user=...)` resolves what depends on the site and the caller (space keys, label names,
dates in the caller's time zone, `currentUser()`) and returns a predicate over `Content`; the
search handler binds once and filters many items, visiting only the types in `query.types`.

Fields: type, space (= space.key), space.id, space.type, id (= content), ancestor, parent,
container, title, text, label, creator, created, lastmodified. Operators: = != < <= > >= ~ !~
in, not in; and/or/not in any case, parentheses, `order by <field> [asc|desc], ...`.

Choices made where Confluence leaves room (tests pin each one):
- A date literal ("yyyy-MM-dd HH:mm", "yyyy/MM/dd HH:mm", "yyyy-MM-dd", "yyyy/MM/dd") is read
  in the caller's time zone and denotes a span: its minute, or its whole local day. `=` means
  "inside the span"; `<`, `<=`, `>`, `>=` compare instants with the span's start, so
  `lastmodified > "2024-05-01 13:00"` includes 13:00:30. A nonexistent local time (DST gap)
  moves forward by the gap, an ambiguous one takes the earlier instant, as Java does.
- Date functions compute an instant in the caller's zone from `now`; `=` on them means the
  minute that instant falls in. Weeks start on Sunday (Atlassian's en-US default).
  `startOfX("inc")` shifts the period's start; `endOfX("inc")` shifts the next period's start
  and ends one microsecond before it, so `endOfMonth("-1M")` is the last instant of last month.
- `ancestor` matches pages and folders below the given page or folder. `parent` is a page's
  or folder's parent, and a comment's or attachment's container.
- `~` matches whole words, case-insensitively, all words of the value (`*` and `?` are
  wildcards inside a word); a value wrapped in escaped quotes is a phrase. No stemming.
  `text` searches the title, the body's text (markup stripped) and an attachment's comment.
- Negation is logical (`label != x` is "has no label x"), and a query may not start with a
  negative clause (Confluence rejects it).
- Without `order by`, results come newest first (lastmodified desc); ties always break on
  ascending numeric id, so paging is deterministic.

Status is not a CQL field here: which statuses and spaces a search sees (current content by
default, archived spaces on request) is the caller's job.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

from .model import CONTENT_TYPES, Content, Workspace

Predicate = Callable[[Content], bool]

# Types CQL knows; the emulator holds only CONTENT_TYPES, so the others match nothing.
_KNOWN_TYPES = frozenset(CONTENT_TYPES) | {"whiteboard", "database", "embed"}
_TREE_TYPES = ("page", "folder")
_RESERVED = frozenset({"and", "or", "not", "in", "order", "by"})
_NEGATIVE_OPS = frozenset({"!=", "!~", "not in"})
_MEMBERSHIP = frozenset({"=", "!=", "in", "not in"})
_CONTAINS = frozenset({"~", "!~"})
_COMPARISON = frozenset({"=", "!=", "<", "<=", ">", ">="})
_DATE_FUNCTIONS = {
    "now": ("now", None),
    **{f"{edge}of{period}": (edge, period)
       for edge in ("start", "end") for period in ("day", "week", "month", "year")},
}
_DATE_FUNCTION_NAMES = "now(), startOfDay(), endOfDay(), startOfWeek(), endOfWeek(), " \
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
class _Token:
    kind: str  # op | ( | ) | , | string | word | end
    text: str
    pos: int


def _tokenize(cql: str) -> list[_Token]:
    tokens: list[_Token] = []
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
            tokens.append(_Token("string", _ESCAPE.sub(r"\1", m.group(kind)), pos))
        elif kind == "punct":
            tokens.append(_Token(m.group(kind), m.group(kind), pos))
        else:
            tokens.append(_Token(kind, m.group(kind), pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(cql)))
    return tokens


# --------------------------------------------------------------------------------------------
# The parsed query


@dataclass(frozen=True, slots=True)
class _Increment:
    months: int = 0
    days: int = 0
    minutes: int = 0


@dataclass(frozen=True, slots=True)
class _DateLiteral:
    local: datetime  # naive, in the caller's zone
    whole_day: bool


@dataclass(frozen=True, slots=True)
class _DateFunction:
    edge: str  # now | start | end
    period: str | None  # day | week | month | year (None for now())
    increment: _Increment


class _CurrentUser:
    """The value of `currentUser()`."""


_CURRENT_USER = _CurrentUser()


@dataclass(frozen=True, slots=True)
class _Clause:
    field: str  # canonical name
    op: str
    values: tuple  # converted per field at parse time


@dataclass(frozen=True, slots=True)
class _Not:
    child: _Node


@dataclass(frozen=True, slots=True)
class _And:
    children: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Or:
    children: tuple[_Node, ...]


_Node = _Clause | _Not | _And | _Or


@dataclass(frozen=True, slots=True)
class _Field:
    name: str  # canonical
    ops: frozenset[str]


_FIELDS: dict[str, _Field] = {
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
    "title": _Field("title", _MEMBERSHIP | _CONTAINS),
    "text": _Field("text", _CONTAINS),
    "created": _Field("created", _COMPARISON),
    "lastmodified": _Field("lastmodified", _COMPARISON),
}
_ORDER_FIELDS = {"created": "created", "lastmodified": "lastmodified", "title": "title", "id": "id",
                 "content": "id", "type": "type", "space": "space", "space.key": "space"}
_DEFAULT_ORDER = (("lastmodified", True),)


class CqlQuery:
    """A parsed query. `types` is the set of content types it can match (None: any type)."""

    def __init__(self, cql: str, where: _Node, order: tuple[tuple[str, bool], ...]) -> None:
        self.cql = cql
        self._where = where
        self.order = order  # (field, descending) pairs; empty: the default order
        self.types: frozenset[str] | None = _types_of(where)
        self.numeric_ids: frozenset[int] | None = _ids_of(where)  # the only ids it can match (None: any)

    def bind(self, ws: Workspace, *, tz: ZoneInfo, now: datetime, user: str | None = None) -> Predicate:
        """A predicate for this query as `user` (an account id; None: anonymous) runs it in `tz`."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware (for example datetime.now(timezone.utc))")
        return _bind(self._where, _Env(self.cql, ws, tz, now, user))

    def matches(self, ws: Workspace, item: Content, *, tz: ZoneInfo, now: datetime,
                user: str | None = None) -> bool:
        """One item; binds on every call, so to filter many items call `bind` once instead."""
        return self.bind(ws, tz=tz, now=now, user=user)(item)

    def sort(self, ws: Workspace, items: Iterable[Content]) -> list[Content]:
        """`items` in the query's order (ORDER BY, or lastmodified desc); ties by ascending id."""
        ordered = sorted(items, key=lambda c: c.numeric_id)
        for field, descending in reversed(self.order or _DEFAULT_ORDER):
            key = _SORT_KEYS[field]
            ordered.sort(key=lambda c: key(ws, c), reverse=descending)  # stable, also in reverse
        return ordered


def parse_cql(text: str) -> CqlQuery:
    """Parse and check a whole query; raises CqlError naming what is wrong."""
    return _Parser(text).parse()


_RawValue = _Token | tuple[str, str | None]  # a literal, or a function call as (name, argument)


class _Parser:
    def __init__(self, cql: str) -> None:
        self.cql = cql
        self.tokens = _tokenize(cql)
        self.i = 0
        self.before_first_clause = True

    # -- token helpers -------------------------------------------------------------------
    def error(self, detail: str) -> CqlError:
        return CqlError(self.cql, detail)

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.lower() in words

    def expect(self, kind: str, what: str) -> _Token:
        token = self.take()
        if token.kind != kind:
            raise self.error(f"expected {what} at position {token.pos}, found {_describe(token)}")
        return token

    # -- grammar: or_expr := and_expr (OR and_expr)*; and_expr := unary (AND unary)* -----------
    def parse(self) -> CqlQuery:
        if self.peek().kind == "end" or self.at_word("order"):
            raise self.error("the query has no clause; start with one such as type = page")
        where = self.parse_or()
        order: tuple[tuple[str, bool], ...] = ()
        if self.at_word("order"):
            order = self.parse_order()
        token = self.peek()
        if token.kind != "end":
            raise self.error(f"unexpected {_describe(token)} at position {token.pos}; "
                             "join clauses with and / or")
        return CqlQuery(self.cql, where, order)

    def parse_or(self) -> _Node:
        children = [self.parse_and()]
        while self.at_word("or"):
            self.take()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else _Or(tuple(children))

    def parse_and(self) -> _Node:
        children = [self.parse_unary()]
        while self.at_word("and"):
            self.take()
            children.append(self.parse_unary())
        return children[0] if len(children) == 1 else _And(tuple(children))

    def parse_unary(self) -> _Node:
        if self.at_word("not"):
            if self.before_first_clause:
                raise self.error(_NEGATIVE_FIRST)
            self.take()
            return _Not(self.parse_unary())
        if self.peek().kind == "(":
            self.take()
            node = self.parse_or()
            self.expect(")", "')' to close the '('")
            return node
        return self.parse_clause()

    def parse_clause(self) -> _Clause:
        token = self.take()
        if token.kind != "word" or token.text.lower() in _RESERVED:
            raise self.error(f"expected a field at position {token.pos}, found {_describe(token)}")
        spec = _FIELDS.get(token.text.lower())
        if spec is None:
            raise self.error(f"unknown field {token.text!r}; supported fields are {', '.join(_FIELDS)}")
        op = self.parse_operator()
        if op not in spec.ops:
            raise self.error(f"the field {token.text!r} does not support the operator {op!r}; "
                             f"use one of {', '.join(sorted(spec.ops))}")
        if op in _NEGATIVE_OPS and self.before_first_clause:
            raise self.error(_NEGATIVE_FIRST)
        self.before_first_clause = False
        if op in ("in", "not in"):
            raw = self.parse_list()
        else:
            raw = [self.parse_value()]
        values = tuple(self.convert(spec.name, op, token.text, value) for value in raw)
        if spec.name in ("title", "text") and op in _CONTAINS:
            values = (_contains_patterns(values[0]),)
        return _Clause(spec.name, op, values)

    def parse_operator(self) -> str:
        token = self.take()
        if token.kind == "op":
            return token.text
        if token.kind == "word" and token.text.lower() == "in":
            return "in"
        if token.kind == "word" and token.text.lower() == "not" and self.at_word("in"):
            self.take()
            return "not in"
        raise self.error(f"expected an operator (= != < <= > >= ~ !~ in, not in) at position "
                         f"{token.pos}, found {_describe(token)}")

    def parse_list(self) -> list[_RawValue]:
        self.expect("(", "'(' to start the list of values")
        values = [self.parse_value()]
        while self.peek().kind == ",":
            self.take()
            values.append(self.parse_value())
        self.expect(")", "')' to close the list of values")
        return values

    def parse_value(self) -> _RawValue:
        token = self.take()
        if token.kind == "string":
            return token
        if token.kind != "word":
            raise self.error(f"expected a value at position {token.pos}, found {_describe(token)}")
        if self.peek().kind == "(":
            self.take()
            argument = None
            if self.peek().kind in ("string", "word"):
                argument = self.take().text
            self.expect(")", f"')' to close {token.text}(")
            return token.text, argument
        if token.text.lower() in _RESERVED:
            raise self.error(f"{token.text!r} at position {token.pos} is a reserved word; "
                             "quote it to use it as a value")
        return token

    def convert(self, field: str, op: str, field_text: str, value: _RawValue) -> object:
        """A value checked and converted for `field`; functions only where Confluence allows them."""
        if isinstance(value, tuple):
            name, argument = value
            return self.convert_function(field, op, field_text, name, argument)
        text = value.text
        if field == "type":
            if text.lower() not in _KNOWN_TYPES:
                raise self.error(f"{text!r} is not a content type; "
                                 f"use one of {', '.join(sorted(_KNOWN_TYPES))}")
            return text.lower()
        if field in ("id", "ancestor", "parent", "container", "space.id"):
            digits = text[3:] if field == "id" and text.startswith("att") else text
            if not digits.isdigit():
                raise self.error(f"{text!r} is not a content id; {field_text} takes numeric ids")
            return int(digits)
        if field in ("created", "lastmodified"):
            return self.parse_date(text)
        if field in ("title", "text") and op in _CONTAINS and not _WORD.search(text):
            raise self.error(f"{text!r} has no word to search for")
        return text

    def convert_function(self, field: str, op: str, field_text: str, name: str,
                         argument: str | None) -> object:
        lowered = name.lower()
        if field == "creator" and lowered == "currentuser":
            if argument is not None or op not in ("=", "!="):
                raise self.error("currentUser() takes no argument and works with = and != only")
            return _CURRENT_USER
        if field in ("created", "lastmodified") and lowered in _DATE_FUNCTIONS:
            edge, period = _DATE_FUNCTIONS[lowered]
            return _DateFunction(edge, period, self.parse_increment(name, argument))
        if field in ("created", "lastmodified"):
            raise self.error(f"unknown function {name}() for {field_text}; use one of {_DATE_FUNCTION_NAMES}")
        if field == "creator":
            raise self.error(f"unknown function {name}() for {field_text}; use currentUser()")
        raise self.error(f"the field {field_text!r} takes no function; give a value instead of {name}()")

    def parse_date(self, text: str) -> _DateLiteral:
        m = _DATE.fullmatch(text.strip())
        if m is None:
            raise self.error(f"{text!r} is not a date; use \"yyyy-MM-dd HH:mm\", \"yyyy/MM/dd HH:mm\", "
                             "\"yyyy-MM-dd\" or \"yyyy/MM/dd\" (minutes, no seconds, no offset; "
                             "read in your time zone)")
        year, month, day, hour, minute = (int(g) if g else 0 for g in m.group("y", "mo", "d", "h", "mi"))
        try:
            local = datetime(year, month, day, hour, minute)
        except ValueError as exc:
            raise self.error(f"{text!r} is not a date: {exc}") from None
        return _DateLiteral(local, whole_day=m.group("h") is None)

    def parse_increment(self, name: str, argument: str | None) -> _Increment:
        if argument is None or not argument.strip():
            return _Increment()
        parts = _INCREMENT_PART.findall(argument)
        if not parts or _INCREMENT_PART.sub("", argument).strip():
            raise self.error(f"{name}({argument!r}) has a bad increment; use (+/-)nn(y|M|w|d|h|m), "
                             "for example \"-4w\"")
        months = days = minutes = 0
        for sign, number, unit in parts:
            n = -int(number) if sign == "-" else int(number)
            if unit in "yM":
                months += n * (12 if unit == "y" else 1)
            elif unit in "wd":
                days += n * (7 if unit == "w" else 1)
            else:
                minutes += n * (60 if unit == "h" else 1)
        return _Increment(months, days, minutes)

    def parse_order(self) -> tuple[tuple[str, bool], ...]:
        self.take()
        if not self.at_word("by"):
            raise self.error("'order' must be followed by 'by'")
        self.take()
        keys = [self.parse_order_key()]
        while self.peek().kind == ",":
            self.take()
            keys.append(self.parse_order_key())
        return tuple(keys)

    def parse_order_key(self) -> tuple[str, bool]:
        token = self.take()
        field = _ORDER_FIELDS.get(token.text.lower()) if token.kind == "word" else None
        if field is None:
            raise self.error(f"cannot order by {_describe(token)}; use one of {', '.join(_ORDER_FIELDS)}")
        descending = False
        if self.at_word("asc", "desc"):
            descending = self.take().text.lower() == "desc"
        return field, descending


_NEGATIVE_FIRST = ("a negative clause (!=, !~, not in, not) cannot come first; "
                   "start with a positive clause such as type = page")
_DATE = re.compile(r"(?P<y>\d{4})(?P<sep>[-/])(?P<mo>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
                   r"(?: +(?P<h>\d{1,2}):(?P<mi>\d{2}))?")
_INCREMENT_PART = re.compile(r"\s*([+-]?)(\d+)([yMwdhm])")
_WORD = re.compile(r"[\w*?]+")


def _describe(token: _Token) -> str:
    return "the end of the query" if token.kind == "end" else repr(token.text)


def _contains_patterns(value: str) -> tuple[re.Pattern[str], ...]:
    """Regexes that must all match: one per word, or one for a quoted phrase."""
    words = [re.escape(w).replace(r"\*", r"\w*").replace(r"\?", r"\w") for w in _WORD.findall(value)]
    stripped = value.strip()
    if len(stripped) > 1 and stripped[0] == stripped[-1] == '"':
        words = [r"\W+".join(words)]
    return tuple(re.compile(rf"(?<!\w){w}(?!\w)", re.IGNORECASE) for w in words)


def _only(node: _Node, clause_allows: Callable[[_Clause], frozenset | None]) -> frozenset | None:
    """The only values (types, ids) a query can match, from what each clause allows (None: any)."""
    if isinstance(node, _Clause):
        return clause_allows(node)
    if isinstance(node, _And):
        known = [v for v in (_only(child, clause_allows) for child in node.children) if v is not None]
        return frozenset.intersection(*known) if known else None
    if isinstance(node, _Or):
        parts = [_only(child, clause_allows) for child in node.children]
        return None if any(p is None for p in parts) else frozenset.union(*parts)
    return None


def _types_of(node: _Node) -> frozenset[str] | None:
    def allows(clause: _Clause) -> frozenset[str] | None:
        if clause.field != "type":
            return None
        named, emulated = frozenset(clause.values), frozenset(CONTENT_TYPES)
        return emulated - named if clause.op in _NEGATIVE_OPS else named & emulated
    return _only(node, allows)


def _ids_of(node: _Node) -> frozenset[int] | None:
    return _only(node, lambda c: frozenset(c.values) if c.field == "id" and c.op not in _NEGATIVE_OPS else None)


# --------------------------------------------------------------------------------------------
# Binding: resolve values once, return closures


@dataclass(frozen=True, slots=True)
class _Env:
    cql: str
    ws: Workspace
    tz: ZoneInfo
    now: datetime
    user: str | None


def _bind(node: _Node, env: _Env) -> Predicate:
    if isinstance(node, _Clause):
        positive = _bind_clause(node, env)
        if node.op in _NEGATIVE_OPS:
            return lambda item: not positive(item)
        return positive
    if isinstance(node, _Not):
        inner = _bind(node.child, env)
        return lambda item: not inner(item)
    parts = tuple(_bind(child, env) for child in node.children)
    if isinstance(node, _And):
        return lambda item: all(p(item) for p in parts)
    return lambda item: any(p(item) for p in parts)


def _bind_clause(clause: _Clause, env: _Env) -> Predicate:
    """The clause's positive form (= for !=, ~ for !~, in for not in)."""
    field, values, ws = clause.field, clause.values, env.ws
    if field in ("created", "lastmodified"):
        return _bind_date(clause, env)
    if clause.op in _CONTAINS:
        patterns = values[0]
        text_of = (lambda item: item.title) if field == "title" else _plain_text
        return lambda item: all(p.search(text_of(item)) for p in patterns)
    if field == "type":
        types = frozenset(values)
        return lambda item: item.type in types
    if field in ("space", "space.id", "space.type"):
        space_ids = _space_ids(field, values, ws)
        return lambda item: item.space_id in space_ids
    if field == "id":
        numbers = frozenset(values)
        return lambda item: item.numeric_id in numbers
    if field == "ancestor":
        below = _descendants(ws, (str(v) for v in values))
        return lambda item: item.id in below
    if field == "parent":
        parents = frozenset(str(v) for v in values)
        return lambda item: (item.parent_id if item.type in _TREE_TYPES else item.container_id) in parents
    if field == "container":
        containers = frozenset(str(v) for v in values)
        return lambda item: item.container_id in containers
    if field == "label":
        names = {v.lower() for v in values}
        label_ids = frozenset(label.id for label in ws.labels.values() if label.name.lower() in names)
        return lambda item: not label_ids.isdisjoint(item.label_ids)
    if field == "creator":
        if _CURRENT_USER in values and env.user is None:
            raise CqlError(env.cql, "currentUser() needs a signed-in user; anonymous requests cannot use it")
        authors = frozenset(env.user if v is _CURRENT_USER else v for v in values)
        return lambda item: item.author_id in authors
    titles = frozenset(values)  # title = / in: exact
    return lambda item: item.title in titles


def _space_ids(field: str, values: tuple, ws: Workspace) -> frozenset[str]:
    if field == "space.id":
        return frozenset(str(v) for v in values)
    wanted = {str(v).lower() for v in values}
    attribute = "key" if field == "space" else "type"
    return frozenset(s.id for s in ws.spaces.values() if getattr(s, attribute).lower() in wanted)


def _descendants(ws: Workspace, roots: Iterable[str]) -> frozenset[str]:
    below: set[str] = set()
    stack = list(roots)
    while stack:
        for child in ws.children(stack.pop()):
            if child.id not in below:
                below.add(child.id)
                stack.append(child.id)
    return frozenset(below)


_TAG = re.compile(r"<[^>]*>")


def _plain_text(item: Content) -> str:
    body = html.unescape(_TAG.sub(" ", item.body)) if item.body else ""
    return f"{item.title}\n{body}\n{item.attachment_comment}"


def _bind_date(clause: _Clause, env: _Env) -> Predicate:
    instant, start, end = _date_bounds(clause.values[0], env)
    created = clause.field == "created"

    def stamp(item: Content) -> datetime:
        return item.created_at if created else item.versions[-1].created_at

    op = clause.op
    if op in ("=", "!="):
        return lambda item: start <= stamp(item) < end
    if op == "<":
        return lambda item: stamp(item) < instant
    if op == "<=":
        return lambda item: stamp(item) <= instant
    if op == ">":
        return lambda item: stamp(item) > instant
    return lambda item: stamp(item) >= instant


def _date_bounds(value: _DateLiteral | _DateFunction, env: _Env) -> tuple[datetime, datetime, datetime]:
    """(the instant compared by < <= > >=, start and end of the span that = matches), in UTC."""
    if isinstance(value, _DateLiteral):
        start = _instant(value.local, env.tz)
        if value.whole_day:
            end = _instant(value.local + timedelta(days=1), env.tz)
        else:
            end = start + timedelta(minutes=1)
        return start, start, end
    instant = _evaluate(value, env)
    minute = instant.replace(second=0, microsecond=0)
    return instant, minute, minute + timedelta(minutes=1)


def _instant(local: datetime, tz: ZoneInfo) -> datetime:
    # fold=0: an ambiguous time is the earlier instant; a time in a gap moves forward by the gap
    return local.replace(tzinfo=tz).astimezone(timezone.utc)


def _evaluate(fn: _DateFunction, env: _Env) -> datetime:
    inc = fn.increment
    if fn.period is None:  # now()
        base = env.now.astimezone(timezone.utc)
        if inc.months or inc.days:
            local = env.now.astimezone(env.tz).replace(tzinfo=None)
            base = _instant(_add_calendar(local, inc), env.tz)
        return base + timedelta(minutes=inc.minutes)
    today = env.now.astimezone(env.tz).date()
    anchor = _period_start(today, fn.period)
    if fn.edge == "end":
        anchor = _period_start(anchor.date(), fn.period, following=True)
    shifted = _instant(_add_calendar(anchor, inc), env.tz) + timedelta(minutes=inc.minutes)
    return shifted - timedelta(microseconds=1) if fn.edge == "end" else shifted


def _period_start(day: date, period: str, *, following: bool = False) -> datetime:
    """Local midnight starting the period that holds `day` (or the period after it)."""
    if period == "day":
        start = day + timedelta(days=1 if following else 0)
    elif period == "week":  # weeks start on Sunday
        start = day - timedelta(days=(day.weekday() + 1) % 7) + timedelta(days=7 if following else 0)
    elif period == "month":
        start = _add_months(day.replace(day=1), 1 if following else 0)
    else:
        start = day.replace(month=1, day=1, year=day.year + (1 if following else 0))
    return datetime(start.year, start.month, start.day)


def _add_calendar(local: datetime, inc: _Increment) -> datetime:
    moved = _add_months(local.date(), inc.months) + timedelta(days=inc.days)
    return datetime.combine(moved, local.time())


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(day.day, (next_month - timedelta(days=1)).day))


# --------------------------------------------------------------------------------------------
# Ordering

_SORT_KEYS: dict[str, Callable[[Workspace, Content], object]] = {
    "created": lambda ws, c: c.created_at,
    "lastmodified": lambda ws, c: c.versions[-1].created_at,
    "title": lambda ws, c: c.title.casefold(),
    "id": lambda ws, c: c.numeric_id,
    "type": lambda ws, c: c.type,
    "space": lambda ws, c: ws.spaces[c.space_id].key.casefold() if c.space_id in ws.spaces else "",
}
