"""A parsed query: its tree, its order, and the types and ids it can match."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable
from zoneinfo import ZoneInfo

from ..model import Content
from ..workspace import Workspace
from .evaluate import SORT_KEYS, Env, bind_node
from .syntax import Node, Predicate, ids_of, types_of

_DEFAULT_ORDER = (("lastmodified", True),)


class CqlQuery:
    """A parsed query. `types` is the set of content types it can match (None: any type)."""

    def __init__(self, cql: str, where: Node, order: tuple[tuple[str, bool], ...]) -> None:
        self.cql = cql
        self._where = where
        self.order = order  # (field, descending) pairs; empty: the default order
        self.types: frozenset[str] | None = types_of(where)
        self.numeric_ids: frozenset[int] | None = ids_of(where)  # the only ids it can match (None: any)

    def bind(self, ws: Workspace, *, tz: ZoneInfo, now: datetime, user: str | None = None) -> Predicate:
        """A predicate for this query as `user` (an account id; None: anonymous) runs it in `tz`."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware (for example datetime.now(timezone.utc))")
        return bind_node(self._where, Env(self.cql, ws, tz, now, user))

    def matches(self, ws: Workspace, item: Content, *, tz: ZoneInfo, now: datetime,
                user: str | None = None) -> bool:
        """One item; binds on every call, so to filter many items call `bind` once instead."""
        return self.bind(ws, tz=tz, now=now, user=user)(item)

    def sort(self, ws: Workspace, items: Iterable[Content]) -> list[Content]:
        """`items` in the query's order (ORDER BY, or lastmodified desc); ties by ascending id."""
        ordered = sorted(items, key=lambda c: c.numeric_id)
        for field, descending in reversed(self.order or _DEFAULT_ORDER):
            key = SORT_KEYS[field]
            ordered.sort(key=lambda c: key(ws, c), reverse=descending)  # stable, also in reverse
        return ordered
