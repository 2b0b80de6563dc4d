"""What every v2 listing shares: sort orders, sorted views and their cursors, and parameter parsing.

Listings are cursor pages over a `SortedView`: items in ascending sort-key order with their keys
beside them, so a cursor (the last item's key) resumes with one bisect; descending sorts walk the
same view backwards. Site-wide views are built once per workspace generation and kept in a small
LRU; per-space views come from a per-space index, so no request scans the whole site twice.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence
from weakref import WeakKeyDictionary

from werkzeug.datastructures import MultiDict

from .. import serialize_v2 as ser
from ..http import BadRequest, Ctx, NotFound, Reply, decode_cursor, encode_cursor, epoch_ms, v2_list
from ..model import Content, Version
from ..workspace import Workspace

BULK_BODY_FORMATS = ("storage", "atlas_doc_format")
SINGLE_BODY_FORMATS = ("storage", "atlas_doc_format", "view", "export_view", "anonymous_export_view",
                       "styled_view", "editor")
SPACE_TYPES = ("global", "collaboration", "knowledge_base", "personal", "system", "onboarding",
               "xflow_sample_space")
TREE_STATUSES = frozenset({"current", "archived"})  # what children and descendants show
PAGE_SORTS = ("id", "-id", "created-date", "-created-date", "modified-date", "-modified-date", "title",
              "-title")
BLOGPOST_SORTS = PAGE_SORTS[:6]
DATE_SORTS = PAGE_SORTS[2:6]  # comments and attachments
CHILD_SORTS = (*PAGE_SORTS, "child-position", "-child-position")
LABEL_SORTS = ("created-date", "-created-date", "id", "-id", "name", "-name")
SPACE_SORTS = ("id", "-id", "key", "-key", "name", "-name")
INVALID_CURSOR = "Invalid cursor: it was not issued by this listing; start again without 'cursor'"


@dataclass(frozen=True)
class Order:
    """How one sort field orders items: an ascending key and the key's element types (a cursor
    carries the key of the last item shown and is checked against them)."""

    signature: tuple[type, ...]
    key: Callable[[Any], tuple]


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool
    order: Order


def _created_at(item: Content) -> datetime:
    # An attachment's createdAt is its current version's time in real responses; sort by what is shown.
    return item.version.created_at if item.type == "attachment" else item.created_at


CONTENT_ORDERS = {
    "id": Order((int,), lambda c: (c.numeric_id,)),
    "created-date": Order((int, int), lambda c: (epoch_ms(_created_at(c)), c.numeric_id)),
    "modified-date": Order((int, int), lambda c: (epoch_ms(c.modified_at), c.numeric_id)),
    "title": Order((str, int), lambda c: (c.title.casefold(), c.numeric_id)),
    "child-position": Order((int, int), lambda c: (c.position, c.numeric_id)),
}
SPACE_ORDERS = {
    "id": Order((int,), lambda s: (int(s.id),)),
    "key": Order((str, int), lambda s: (s.key.casefold(), int(s.id))),
    "name": Order((str, int), lambda s: (s.name.casefold(), int(s.id))),
}
LABEL_ORDERS = {
    "id": Order((int,), lambda lb: (int(lb.id),)),
    "created-date": Order((int,), lambda lb: (int(lb.id),)),  # labels keep no date; ids grow with time
    "name": Order((str, int), lambda lb: (lb.name, int(lb.id))),
}
PROPERTY_ORDERS = {
    "id": Order((int,), lambda p: (int(p.id),)),
    "key": Order((str, int), lambda p: (p.key, int(p.id))),
}
VERSION_ORDERS = {"modified-date": Order((int, int), lambda v: (epoch_ms(v.created_at), v.number))}
PERMISSION_ORDER = Order((int,), lambda p: (int(p.id),))


def sort_param(ctx: Ctx, orders: Mapping[str, Order], allowed: Sequence[str], default: str) -> Sort:
    value = ctx.enum_param("sort", allowed, default)
    field = value.lstrip("-")
    return Sort(field, value.startswith("-"), orders[field])


class SortedView:
    """Items in ascending key order, with the keys beside them for bisecting."""

    def __init__(self, items: list[Any], keys: list[tuple]) -> None:
        self.items = items
        self.keys = keys

    @classmethod
    def of(cls, items: Iterable[Any], order: Order) -> SortedView:
        pairs = sorted(((order.key(i), i) for i in items), key=itemgetter(0))
        return cls([i for _, i in pairs], [k for k, _ in pairs])

    def after(self, key: tuple | None, descending: bool) -> Iterator[Any]:
        """The items that follow `key` (exclusive) in the listing's direction."""
        if descending:
            end = len(self.items) if key is None else bisect.bisect_left(self.keys, key)
            return (self.items[i] for i in range(end - 1, -1, -1))
        start = 0 if key is None else bisect.bisect_right(self.keys, key)
        return (self.items[i] for i in range(start, len(self.items)))


EMPTY_VIEW = SortedView([], [])


class GenerationCache:
    """Values derived from a workspace, valid for one generation of it, in a small LRU per workspace."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: WeakKeyDictionary[Workspace, OrderedDict[tuple, Any]] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, ws: Workspace, key: tuple, build: Callable[[], Any]) -> Any:
        full_key = (ws.generation, *key)
        with self._lock:
            entries = self._entries.setdefault(ws, OrderedDict())
            if full_key in entries:
                entries.move_to_end(full_key)
                return entries[full_key]
        value = build()
        with self._lock:
            entries[full_key] = value
            while len(entries) > self.size:
                entries.popitem(last=False)
        return value


# Sorted views and indexes (a site-wide view at scale 100,000 holds 100k items and keys); apart,
# so that walking many subtrees or many callers does not push the views out, flattened subtrees
# and each caller's visibility verdicts.
VIEWS = GenerationCache(48)
TREES = GenerationCache(64)


def by_space(ws: Workspace, type_: str) -> dict[str, list[Content]]:
    """Items of one type per space id, in id order."""
    def build() -> dict[str, list[Content]]:
        index: dict[str, list[Content]] = {}
        for item in ws.iter_type(type_):
            index.setdefault(item.space_id, []).append(item)
        return index
    return VIEWS.get(ws, ("by-space", type_), build)


def content_view(ws: Workspace, type_: str, sort_field: str, *, statuses: frozenset[str],
                 spaces: tuple[str, ...] | None = None,
                 match: tuple[tuple[str, Any], ...] = ()) -> SortedView:
    """The site-wide (or per-space) listing of one content type: status in `statuses`, every
    (attribute, value) of `match` equal, in `sort_field` order. Cached per generation."""
    def build() -> SortedView:
        if spaces is None:
            source: Iterable[Content] = ws.iter_type(type_)
        else:
            index = by_space(ws, type_)
            source = chain.from_iterable(index.get(s, ()) for s in spaces)
        items = [c for c in source if c.status in statuses and all(getattr(c, f) == v for f, v in match)]
        return SortedView.of(items, CONTENT_ORDERS[sort_field])
    key = ("view", type_, sort_field, tuple(sorted(statuses)), spaces, match)
    return VIEWS.get(ws, key, build)


def cursor_key(ctx: Ctx, sort: Sort) -> tuple | None:
    position = decode_cursor(ctx)
    if position is None:
        return None
    key = position.get("k")
    if (not isinstance(key, list) or len(key) != len(sort.order.signature)
            or not all(type(v) is t for v, t in zip(key, sort.order.signature))):
        raise BadRequest(INVALID_CURSOR)
    return tuple(key)


def list_reply(ctx: Ctx, view: SortedView, sort: Sort, serialize: Callable[[Any], dict], limit: int, *,
               keep: Callable[[Any], bool] | None = None, link_header: bool = True,
               points_per_item: int = 1) -> Reply:
    """One cursor page of `view`, skipping items `keep` rejects."""
    items = view.after(cursor_key(ctx, sort), sort.descending)
    if keep is not None:
        items = filter(keep, items)
    return v2_list(ctx, items, serialize, limit, lambda i: {"k": list(sort.order.key(i))},
                   link_header=link_header, points_per_item=points_per_item)


def include_cursor(ctx: Ctx, api_path: str, position: Mapping[str, Any]) -> str:
    """A cursor for `GET {api_path}?cursor=...` (no other parameters): what include blocks hand out."""
    listing = Ctx(ws=ctx.ws, user=ctx.user, method="GET", path=api_path, params=MultiDict(), api="v2",
                  site_base=ctx.site_base)
    return encode_cursor(listing, position)


def include(ctx: Ctx, items: Iterable[Any], order: Order, serialize: Callable[[Any], Any], api_path: str, *,
            descending: bool = False) -> dict[str, Any]:
    """An include-* block: the first 50 in the listing's default order, and a cursor for the rest."""
    ordered = sorted(items, key=order.key, reverse=descending)
    shown = ordered[:ser.INCLUDE_LIMIT]
    has_more = len(ordered) > len(shown)
    cursor = include_cursor(ctx, api_path, {"k": list(order.key(shown[-1]))}) if has_more else None
    return ser.include_block([serialize(i) for i in shown], api_path, has_more=has_more, cursor=cursor)


# --------------------------------------------------------------------------------------------
# Parameters and lookups


def numeric_path_id(value: str, what: str) -> str:
    if not value.isdigit():
        raise BadRequest(f"Invalid {what} id '{value}': the id must be a number")
    return value


def attachment_path_id(value: str) -> str:
    digits = value[3:] if value.startswith("att") else value
    if not digits.isdigit():
        raise BadRequest(f"Invalid attachment id '{value}': use 'att' followed by digits, "
                         "or the digits alone")
    return f"att{digits}"


def status_param(ctx: Ctx, allowed: Sequence[str], default: Iterable[str]) -> frozenset[str]:
    return frozenset(ctx.list_param("status", allowed=allowed) or default)


def text_param(ctx: Ctx, name: str) -> str | None:
    value = ctx.raw(name)
    return value if value else None


def single(ctx: Ctx, body: dict[str, Any], *, points: int = 1) -> Reply:
    """A single-object response: its own `_links` gain `base`."""
    body["_links"] = {**body.get("_links", {}), "base": ctx.site_base}
    return Reply(body, points=points)


def version_param(ctx: Ctx, item: Content) -> Version | None:
    number = ctx.int_param("version", minimum=1)
    if number is None:
        return None
    version = ser.version_at(item, number)
    if version is None:
        raise NotFound()
    return version
