"""Build CQL for the connector: quoted values, dates in the user's time zone, composable clauses.

    and_(field_in("type", ["page", "blogpost"]), field_in("space", ["ENG", "HR"]),
         modified_since(watermark, tz, overlap=timedelta(hours=1))) + " " + order_by("lastmodified")
    -> type in ("page","blogpost") and space in ("ENG","HR") and lastmodified >= "2024-05-01 11:00"
       order by lastmodified asc

CQL dates have minute resolution, no offset, and are read in the calling user's profile time
zone, which no API returns (FACTS.md §8). So bounds are rounded outward to the minute and padded
by an overlap; the sync dedupes on id + version. Confluence rejects a query whose first clause is
negative, so `and_`/`or_` put a positive clause first and refuse a group with none.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Iterable
from zoneinfo import ZoneInfo

_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_.]*")
_ORDER_FIELDS = ("created", "lastmodified", "title", "id", "type", "space")
# tokens of a clause: quoted strings (kept whole), parentheses, and everything else
_PIECES = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[()]|[^\s()"']+""")
_NEGATIVE = re.compile(r"\s*(?:not\b|[\w.]+\s*(?:!=|!~|not\s+in\b))", re.IGNORECASE)
_DATE_FORMAT = "%Y-%m-%d %H:%M"


def quote(value: str) -> str:
    """A CQL string literal: double quotes, with `"` and `\\` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cql_date(ts: datetime, tz: ZoneInfo) -> str:
    """`ts` as "yyyy-MM-dd HH:mm" in `tz`, floored to the minute."""
    if ts.tzinfo is None:
        raise ValueError("cql_date needs a timezone-aware datetime; a naive one could be any instant")
    return ts.astimezone(tz).strftime(_DATE_FORMAT)


def field_in(field: str, values: Iterable[str]) -> str:
    """'field in ("a","b")'."""
    return f"{_checked(field)} in {_value_list(field, values)}"


def field_not_in(field: str, values: Iterable[str]) -> str:
    """'field not in ("a","b")': a negative clause, so it cannot lead a query."""
    return f"{_checked(field)} not in {_value_list(field, values)}"


def modified_since(ts: datetime, tz: ZoneInfo, *, overlap: timedelta) -> str:
    """'lastmodified >= "..."' at or before `ts - overlap`, whatever minute rounding does."""
    return f"lastmodified >= {quote(_local_minute(ts - _checked_overlap(overlap), tz, round_up=False))}"


def modified_before(ts: datetime, tz: ZoneInfo, *, overlap: timedelta) -> str:
    """'lastmodified < "..."' at or after `ts + overlap`, whatever minute rounding does."""
    return f"lastmodified < {quote(_local_minute(ts + _checked_overlap(overlap), tz, round_up=True))}"


def and_(*clauses: str | None) -> str:
    """The clauses joined by `and` (None and "" dropped), or-groups in parentheses."""
    kept = _leading_positive(clauses, "and_")
    if len(kept) == 1:
        return kept[0]
    return " and ".join(f"({c})" if _has_top_level_or(c) else c for c in kept)


def or_(*clauses: str | None) -> str:
    """The clauses joined by `or` (None and "" dropped). `and` binds tighter, so no parentheses."""
    return " or ".join(_leading_positive(clauses, "or_"))


def order_by(field: str, direction: str = "asc") -> str:
    """'order by field asc|desc'."""
    if field not in _ORDER_FIELDS:
        raise ValueError(f"cannot order by {field!r}; use one of {', '.join(_ORDER_FIELDS)}")
    if direction.lower() not in ("asc", "desc"):
        raise ValueError(f"order direction must be 'asc' or 'desc', not {direction!r}")
    return f"order by {field} {direction.lower()}"


def _checked(field: str) -> str:
    if not _FIELD.fullmatch(field):
        raise ValueError(f"{field!r} is not a CQL field name (letters, digits, '.' and '_')")
    return field


def _value_list(field: str, values: Iterable[str]) -> str:
    items = [quote(str(v)) for v in values]
    if not items:
        raise ValueError(f"no values for {field!r}: CQL has no empty list; leave the clause out instead")
    return "(" + ",".join(items) + ")"


def _checked_overlap(overlap: timedelta) -> timedelta:
    if overlap < timedelta(0):
        raise ValueError(f"overlap must not be negative (got {overlap}); it widens the window")
    return overlap


def _local_minute(ts: datetime, tz: ZoneInfo, *, round_up: bool) -> str:
    """`ts` as a local minute that, read back by Confluence, is not inside the window.

    Confluence reads an ambiguous local time (the repeated hour when DST ends) as the earlier
    instant: harmless for a lower bound, but an upper bound would move back an hour, so it is
    pushed forward until it reads back at or after `ts`.
    """
    if ts.tzinfo is None:
        raise ValueError("the timestamp must be timezone-aware; a naive one could be any instant")
    utc = ts.astimezone(timezone.utc)
    floor = utc.replace(second=0, microsecond=0)
    bound = floor + timedelta(minutes=1) if round_up and floor != utc else floor
    text = cql_date(bound, tz)
    if round_up:
        read_back = datetime.strptime(text, _DATE_FORMAT).replace(tzinfo=tz).astimezone(timezone.utc)
        if read_back < bound:
            text = cql_date(bound + (bound - read_back), tz)
    return text


def _leading_positive(clauses: tuple[str | None, ...], name: str) -> list[str]:
    kept = [c.strip() for c in clauses if c and c.strip()]
    if not kept:
        raise ValueError(f"{name}() got no clause; CQL needs at least one")
    first_positive = next((i for i, c in enumerate(kept) if not _is_negative(c)), None)
    if first_positive is None:
        raise ValueError(f"{name}() got only negative clauses; Confluence rejects a query that starts with "
                         "one: add a positive clause such as field_in('type', ['page', 'blogpost'])")
    return [kept[first_positive], *kept[:first_positive], *kept[first_positive + 1:]]


def _is_negative(clause: str) -> bool:
    """Whether the clause's first condition is negative (looking through opening parentheses)."""
    return bool(_NEGATIVE.match(clause.lstrip("( ")))


def _has_top_level_or(clause: str) -> bool:
    depth = 0
    for piece in _PIECES.findall(clause):
        if piece == "(":
            depth += 1
        elif piece == ")":
            depth -= 1
        elif depth == 0 and piece.lower() == "or":
            return True
    return False
