"""Binding a parsed query to a site and a caller: resolve values once, return closures; and ordering."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

from ..model import Content
from ..workspace import Workspace
from .syntax import (CONTAINS, CURRENT_USER, NEGATIVE_OPS, TREE_TYPES, And, Clause, CqlError, DateFunction,
                     DateLiteral, Increment, Node, Not, Predicate)

# --------------------------------------------------------------------------------------------
# Binding: resolve values once, return closures


@dataclass(frozen=True, slots=True)
class Env:
    cql: str
    ws: Workspace
    tz: ZoneInfo
    now: datetime
    user: str | None


def bind_node(node: Node, env: Env) -> Predicate:
    if isinstance(node, Clause):
        positive = _bind_clause(node, env)
        if node.op in NEGATIVE_OPS:
            return lambda item: not positive(item)
        return positive
    if isinstance(node, Not):
        inner = bind_node(node.child, env)
        return lambda item: not inner(item)
    parts = tuple(bind_node(child, env) for child in node.children)
    if isinstance(node, And):
        return lambda item: all(p(item) for p in parts)
    return lambda item: any(p(item) for p in parts)


def _bind_clause(clause: Clause, env: Env) -> Predicate:
    """The clause's positive form (= for !=, ~ for !~, in for not in)."""
    field, values, ws = clause.field, clause.values, env.ws
    if field in ("created", "lastmodified"):
        return _bind_date(clause, env)
    if clause.op in CONTAINS:
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
        return lambda item: (item.parent_id if item.type in TREE_TYPES else item.container_id) in parents
    if field == "container":
        containers = frozenset(str(v) for v in values)
        return lambda item: item.container_id in containers
    if field == "label":
        names = {v.lower() for v in values}
        label_ids = frozenset(label.id for label in ws.labels.values() if label.name.lower() in names)
        return lambda item: not label_ids.isdisjoint(item.label_ids)
    if field == "creator":
        if CURRENT_USER in values and env.user is None:
            raise CqlError(env.cql, "currentUser() needs a signed-in user; anonymous requests cannot use it")
        authors = frozenset(env.user if v is CURRENT_USER else v for v in values)
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


def _bind_date(clause: Clause, env: Env) -> Predicate:
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


def _date_bounds(value: DateLiteral | DateFunction, env: Env) -> tuple[datetime, datetime, datetime]:
    """(the instant compared by < <= > >=, start and end of the span that = matches), in UTC."""
    if isinstance(value, DateLiteral):
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


def _evaluate(fn: DateFunction, env: Env) -> datetime:
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


def _add_calendar(local: datetime, inc: Increment) -> datetime:
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

SORT_KEYS: dict[str, Callable[[Workspace, Content], object]] = {
    "created": lambda ws, c: c.created_at,
    "lastmodified": lambda ws, c: c.versions[-1].created_at,
    "title": lambda ws, c: c.title.casefold(),
    "id": lambda ws, c: c.numeric_id,
    "type": lambda ws, c: c.type,
    "space": lambda ws, c: ws.spaces[c.space_id].key.casefold() if c.space_id in ws.spaces else "",
}
