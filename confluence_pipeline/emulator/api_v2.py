"""The Confluence Cloud v2 operations the connector reads, plus page and footer-comment creation.

Handlers parse and validate parameters the way Confluence does, read the `Workspace`, and hand
entities to `serialize_v2`. The app around them authenticates, checks scopes, limits rates and
adds `Link: <base>; rel="base"` to any v2 response that sets no Link itself.

Listings are cursor pages over a `SortedView`: items in ascending sort-key order with their keys
beside them, so a cursor (the last item's key) resumes with one bisect; descending sorts walk the
same view backwards. Site-wide views are built once per workspace generation and kept in a small
LRU; per-space views come from a per-space index, so no request scans the whole site twice.

Where the spec leaves behaviour open, the emulator decides as follows:
- `GET /pages/{id}` answers 404 for a trashed or draft page unless `status` names its status
  (the default is current and archived); `GET /blogposts/{id}` likewise (default current).
  Comments, attachments and folders by id have no `status` parameter and answer in any status.
- `/footer-comments` and `/inline-comments` have no `status` parameter and list current comments.
- Default orders: id ascending, except versions (newest first) and direct children (position).
- Descendants come level by level (top-to-bottom, as the spec says), each parent's children in
  position order; trashed pages and what lies below them are left out.
- Ancestors list every ancestor, even one the caller cannot open (only id and type are shown);
  pages and folders the caller cannot see are left out of children and descendants.
- `favorited-by`/`not-favorited-by` on `/spaces` read the `my:favourite` space label (the
  workspace keeps no per-user stars). `subtype=live` matches nothing: the workspace has no live docs.
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

from . import mutations
from . import serialize_v2 as ser
from .http import (BadRequest, Ctx, NotFound, Reply, Unauthorized, decode_cursor, encode_cursor, epoch_ms,
                   v2_list)
from .model import Content, Label, Property, Space, SpacePermission, User, Version, Workspace
from .routes import route

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
MAX_USERS_BULK = 250


# --------------------------------------------------------------------------------------------
# Who may see what


class Viewer:
    """`Workspace.can_view` for one caller, memoized per workspace generation.

    The rule is the model's (space read, then every read restriction up the tree; comments and
    attachments follow their container); this class only avoids recomputing the caller's groups,
    each space's read permission and each ancestor's verdict for every item of a listing. Every
    change to content, restrictions, permissions or groups must bump `ws.generation`, which
    drops the memo (the model's `add_content`/`reindex`/`touch` and all of mutations.py do).
    """

    def __init__(self, ws: Workspace, user: User | None) -> None:
        self.ws = ws
        self.user = user
        self.account_id = user.account_id if user else None
        self.is_admin = bool(user and user.is_admin)
        account = self.account_id
        self.groups: set[str] = VISIBILITY.get(
            ws, ("groups", account), lambda: ws.groups_of(account) if account else set())
        self._space_ok: dict[str, bool] = VISIBILITY.get(ws, ("spaces", account), dict)
        self._node_ok: dict[str, bool] = VISIBILITY.get(ws, ("tree", account), dict)

    def can_read_space(self, space: Space) -> bool:
        verdict = self._space_ok.get(space.id)
        if verdict is None:
            verdict = self._space_ok[space.id] = self.ws.can_read_space(self.account_id, space)
        return verdict

    def can_view(self, item: Content) -> bool:
        if self.is_admin:
            return True
        space = self.ws.spaces.get(item.space_id)
        if space is None or not self.can_read_space(space):
            return False
        target = item
        if item.type in ("comment", "attachment"):
            target = self.ws.container_of(item)
            if target is None:
                return False
        if target.type not in ("page", "folder"):
            return self._own_restriction_allows(target)
        return self._tree_allows(target)

    def _tree_allows(self, node: Content) -> bool:
        verdict = self._node_ok.get(node.id)
        if verdict is None:
            parent = self.ws.content.get(node.parent_id) if node.parent_id else None
            verdict = self._own_restriction_allows(node) and (parent is None or self._tree_allows(parent))
            self._node_ok[node.id] = verdict
        return verdict

    def _own_restriction_allows(self, node: Content) -> bool:
        read = node.restrictions.get("read")
        if read is None or read.is_empty:
            return True
        if self.account_id and self.account_id in read.user_ids:
            return True
        return any(g in self.groups for g in read.group_ids)

    def holds(self, perm: SpacePermission) -> bool:
        """Whether a space permission applies to the caller (directly, by group or access class)."""
        if self.is_admin:
            return True
        if perm.principal_type == "access-class":
            if perm.principal_id == "ANONYMOUS_USERS":
                return True
            return (perm.principal_id == "ALL_LICENSED_USERS" and self.user is not None
                    and self.user.account_type == "atlassian")
        if perm.principal_type == "user":
            return perm.principal_id == self.account_id
        return perm.principal_type == "group" and perm.principal_id in self.groups


def operations_for(viewer: Viewer, space: Space, target_type: str) -> list[dict[str, str]]:
    """The operations the caller may perform, from the space permissions it holds: all of them
    for a space; for content, read, what targets the content's type, and what it may create."""
    held = [(p.key, p.target_type) for p in space.permissions if viewer.holds(p)]
    if target_type == "space":
        wanted = held
    else:
        wanted = [("read", target_type)]
        wanted += [(k, t) for k, t in held if t == target_type and k != "read"]
        wanted += [(k, t) for k, t in held if k == "create" and t != target_type]
    return [ser.operation_json(k, t) for k, t in dict.fromkeys(wanted)]


# --------------------------------------------------------------------------------------------
# Orders, sorted views and cursors


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
VISIBILITY = GenerationCache(64)


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


def visible_item(ctx: Ctx, viewer: Viewer, raw_id: str, type_: str, what: str,
                 statuses: Iterable[str] | None = None) -> Content:
    """The item, or 404 when it does not exist, has another type or status, or the caller cannot see it."""
    item = ctx.ws.get(numeric_path_id(raw_id, what), type_)
    if item is None or not viewer.can_view(item) or (statuses is not None and item.status not in statuses):
        raise NotFound()
    return item


def visible_space(ctx: Ctx, viewer: Viewer, raw_id: str) -> Space:
    space = ctx.ws.spaces.get(numeric_path_id(raw_id, "space"))
    if space is None or not viewer.can_read_space(space):
        raise NotFound()
    return space


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


# --------------------------------------------------------------------------------------------
# Spaces


@route("v2", "GET", "/spaces", "getSpaces")
def get_spaces(ctx: Ctx) -> Reply:
    limit = ctx.limit()
    keys = set(ctx.list_param("keys", max_items=250))
    space_type = ctx.enum_param("type", SPACE_TYPES)
    status = ctx.enum_param("status", ("current", "archived"))
    label_names = set(ctx.list_param("labels"))
    favorited_by = text_param(ctx, "favorited-by")
    not_favorited_by = text_param(ctx, "not-favorited-by")
    sort = sort_param(ctx, SPACE_ORDERS, SPACE_SORTS, "id")
    description_format = ctx.enum_param("description-format", ("plain", "view"))
    include_icon = ctx.bool_param("include-icon")
    viewer = Viewer(ctx.ws, ctx.user)
    wanted_ids = {str(int(i)) for i in ctx.list_param("ids", max_items=250, integers=True)}

    def labels_of(space: Space) -> list[Label]:
        return [ctx.ws.labels[i] for i in space.label_ids if i in ctx.ws.labels]

    def is_favourite(space: Space) -> bool:
        return any(lb.prefix == "my" and lb.name == "favourite" for lb in labels_of(space))

    def wanted(space: Space) -> bool:
        return ((not wanted_ids or space.id in wanted_ids)
                and (not keys or space.key in keys)
                and (space_type is None or space.type == space_type)
                and (status is None or space.status == status)
                and (not label_names or any(lb.name in label_names for lb in labels_of(space)))
                and (favorited_by is None or is_favourite(space))
                and (not_favorited_by is None or not is_favourite(space))
                and viewer.can_read_space(space))

    view = SortedView.of((s for s in ctx.ws.spaces.values() if wanted(s)), sort.order)
    return list_reply(ctx, view, sort, lambda s: ser.space_json(
        s, description_format=description_format, include_icon=include_icon, single=False), limit)


@route("v2", "GET", "/spaces/<id>", "getSpaceById")
def get_space_by_id(ctx: Ctx, id: str) -> Reply:
    description_format = ctx.enum_param("description-format", ("plain", "view"))
    include_icon = ctx.bool_param("include-icon")
    # include-role-assignments (EAP only) is validated but shows nothing: the workspace keeps no roles.
    flags = {name: ctx.bool_param(f"include-{name}") for name in
             ("operations", "properties", "permissions", "role-assignments", "labels")}
    viewer = Viewer(ctx.ws, ctx.user)
    space = visible_space(ctx, viewer, id)
    body = ser.space_json(space, description_format=description_format, include_icon=include_icon,
                          single=True)
    points = 1
    if flags["labels"]:
        labels = [ctx.ws.labels[i] for i in space.label_ids if i in ctx.ws.labels]
        body["labels"] = include(ctx, labels, LABEL_ORDERS["id"], ser.label_json,
                                 f"/spaces/{space.id}/labels")
    if flags["operations"]:
        body["operations"] = ser.include_block(operations_for(viewer, space, "space"),
                                               f"/spaces/{space.id}/operations")
    if flags["properties"]:
        body["properties"] = ser.include_block([], f"/spaces/{space.id}/properties")
    if flags["permissions"]:
        body["permissions"] = include(ctx, space.permissions, PERMISSION_ORDER, ser.permission_json,
                                      f"/spaces/{space.id}/permissions")
        points += 2 * len(body["permissions"]["results"])
    return single(ctx, body, points=points)


@route("v2", "GET", "/spaces/<id>/permissions", "getSpacePermissionsAssignments")
def get_space_permissions(ctx: Ctx, id: str) -> Reply:
    limit = ctx.limit()
    space = visible_space(ctx, Viewer(ctx.ws, ctx.user), id)
    sort = Sort("id", False, PERMISSION_ORDER)
    # The spec declares no Link header here: the next page is only in the body's _links.
    view = SortedView.of(space.permissions, PERMISSION_ORDER)
    return list_reply(ctx, view, sort, ser.permission_json, limit, link_header=False, points_per_item=2)


# --------------------------------------------------------------------------------------------
# Pages and blog posts


def _listing_view(ctx: Ctx, type_: str, sort: Sort, statuses: frozenset[str], *, ids: Sequence[str],
                  spaces: tuple[str, ...] | None, match: tuple[tuple[str, Any], ...]) -> SortedView:
    if not ids:
        return content_view(ctx.ws, type_, sort.field, statuses=statuses, spaces=spaces, match=match)
    found = (ctx.ws.get(i, type_) for i in dict.fromkeys(str(int(i)) for i in ids))
    return SortedView.of((c for c in found if c is not None and c.status in statuses
                          and (spaces is None or c.space_id in spaces)
                          and all(getattr(c, f) == v for f, v in match)), sort.order)


def _space_ids(ctx: Ctx) -> tuple[str, ...] | None:
    values = ctx.list_param("space-id", max_items=100, integers=True)
    return tuple(sorted({str(int(v)) for v in values})) or None


@route("v2", "GET", "/pages", "getPages")
def get_pages(ctx: Ctx) -> Reply:
    limit = ctx.limit()
    ids = ctx.list_param("id", max_items=250, integers=True)
    spaces = _space_ids(ctx)
    sort = sort_param(ctx, CONTENT_ORDERS, PAGE_SORTS, "id")
    statuses = status_param(ctx, ("current", "archived", "deleted", "trashed"), ("current", "archived"))
    title = text_param(ctx, "title")
    body_format = ctx.enum_param("body-format", BULK_BODY_FORMATS)
    subtype = ctx.enum_param("subtype", ("live", "page"))
    viewer = Viewer(ctx.ws, ctx.user)
    match = (("title", title),) if title is not None else ()
    if subtype == "live":
        view = EMPTY_VIEW
    else:
        view = _listing_view(ctx, "page", sort, statuses, ids=ids, spaces=spaces, match=match)
    return list_reply(ctx, view, sort, lambda c: ser.page_json(ctx.ws, c, body_format=body_format), limit,
                      keep=viewer.can_view)


@route("v2", "GET", "/spaces/<id>/pages", "getPagesInSpace")
def get_pages_in_space(ctx: Ctx, id: str) -> Reply:
    limit = ctx.limit()
    depth = ctx.enum_param("depth", ("all", "root"), "all")
    sort = sort_param(ctx, CONTENT_ORDERS, PAGE_SORTS, "id")
    statuses = status_param(ctx, ("current", "archived", "deleted", "trashed"), ("current", "archived"))
    title = text_param(ctx, "title")
    body_format = ctx.enum_param("body-format", BULK_BODY_FORMATS)
    viewer = Viewer(ctx.ws, ctx.user)
    space = visible_space(ctx, viewer, id)
    match: tuple[tuple[str, Any], ...] = (("title", title),) if title is not None else ()
    if depth == "root":
        match += (("parent_id", None),)
    view = content_view(ctx.ws, "page", sort.field, statuses=statuses, spaces=(space.id,), match=match)
    return list_reply(ctx, view, sort, lambda c: ser.page_json(ctx.ws, c, body_format=body_format), limit,
                      keep=viewer.can_view)


@route("v2", "GET", "/blogposts", "getBlogPosts")
def get_blogposts(ctx: Ctx) -> Reply:
    limit = ctx.limit()
    ids = ctx.list_param("id", max_items=250, integers=True)
    spaces = _space_ids(ctx)
    sort = sort_param(ctx, CONTENT_ORDERS, BLOGPOST_SORTS, "id")
    statuses = status_param(ctx, ("current", "deleted", "trashed"), ("current",))
    title = text_param(ctx, "title")
    body_format = ctx.enum_param("body-format", BULK_BODY_FORMATS)
    viewer = Viewer(ctx.ws, ctx.user)
    match = (("title", title),) if title is not None else ()
    view = _listing_view(ctx, "blogpost", sort, statuses, ids=ids, spaces=spaces, match=match)
    return list_reply(ctx, view, sort, lambda c: ser.blogpost_json(ctx.ws, c, body_format=body_format), limit,
                      keep=viewer.can_view)


@route("v2", "GET", "/spaces/<id>/blogposts", "getBlogPostsInSpace")
def get_blogposts_in_space(ctx: Ctx, id: str) -> Reply:
    limit = ctx.limit()
    sort = sort_param(ctx, CONTENT_ORDERS, BLOGPOST_SORTS, "id")
    statuses = status_param(ctx, ("current", "deleted", "trashed"), ("current",))
    title = text_param(ctx, "title")
    body_format = ctx.enum_param("body-format", BULK_BODY_FORMATS)
    viewer = Viewer(ctx.ws, ctx.user)
    space = visible_space(ctx, viewer, id)
    match = (("title", title),) if title is not None else ()
    view = content_view(ctx.ws, "blogpost", sort.field, statuses=statuses, spaces=(space.id,), match=match)
    return list_reply(ctx, view, sort, lambda c: ser.blogpost_json(ctx.ws, c, body_format=body_format), limit,
                      keep=viewer.can_view)


def properties_path(item: Content, api_path: str) -> str:
    # Comment properties live under /comments/{id}, not under /footer-comments or /inline-comments.
    return f"/comments/{item.id}/properties" if item.type == "comment" else f"{api_path}/properties"


def _collaborators(item: Content) -> list[dict[str, str]]:
    return [{"accountId": a} for a in dict.fromkeys(v.author_id for v in item.versions)]


def _content_includes(ctx: Ctx, viewer: Viewer, item: Content, body: dict[str, Any], api_path: str,
                      flags: Iterable[str], body_format: str | None) -> None:
    """Add the include-* blocks named in `flags` to `body` (in the order real responses show)."""
    wanted = set(flags)
    if "likes" in wanted:
        # Only the page recording shows `count`; other types keep the spec's meta.
        count = 0 if item.type == "page" else None
        body["likes"] = ser.include_block([], f"{api_path}/likes/users", count=count)
    if "labels" in wanted:
        labels = [ctx.ws.labels[i] for i in item.label_ids if i in ctx.ws.labels]
        body["labels"] = include(ctx, labels, LABEL_ORDERS["id"], ser.label_json, f"{api_path}/labels")
    if "operations" in wanted:
        space = ctx.ws.spaces[item.space_id]
        body["operations"] = ser.include_block(operations_for(viewer, space, item.type),
                                               f"{api_path}/operations")
    if "versions" in wanted:
        body["versions"] = include(ctx, item.versions, VERSION_ORDERS["modified-date"],
                                   lambda v: ser.include_version_json(item, v, body_format),
                                   f"{api_path}/versions", descending=True)
    if "properties" in wanted:
        body["properties"] = include(ctx, item.properties, PROPERTY_ORDERS["id"], ser.property_json,
                                     properties_path(item, api_path))
    if "collaborators" in wanted:
        body["collaborators"] = _collaborators(item)
    if "direct-children" in wanted:
        kids = [c for c in ctx.ws.children(item.id) if c.status in TREE_STATUSES and viewer.can_view(c)]
        body["directChildren"] = include(ctx, kids, CONTENT_ORDERS["child-position"], ser.child_json,
                                         f"{api_path}/direct-children")
    if "favorited-by-current-user-status" in wanted:
        body["isFavoritedByCurrentUser"] = False


PAGE_INCLUDES = ("labels", "properties", "operations", "likes", "versions", "collaborators",
                 "direct-children", "favorited-by-current-user-status", "webresources")


def _get_page_or_blogpost(ctx: Ctx, id: str, type_: str, default_statuses: tuple[str, ...],
                          allowed_statuses: tuple[str, ...]) -> Reply:
    body_format = ctx.enum_param("body-format", SINGLE_BODY_FORMATS)
    statuses = set(status_param(ctx, allowed_statuses, default_statuses))
    if ctx.bool_param("get-draft"):
        statuses.add("draft")
    include_version = ctx.bool_param("include-version", True)
    names = PAGE_INCLUDES if type_ == "page" else tuple(n for n in PAGE_INCLUDES if n != "direct-children")
    flags = [n for n in names if ctx.bool_param(f"include-{n}")]
    viewer = Viewer(ctx.ws, ctx.user)
    item = visible_item(ctx, viewer, id, type_, type_, statuses)
    version = version_param(ctx, item)
    render = ser.page_json if type_ == "page" else ser.blogpost_json
    body = render(ctx.ws, item, body_format=body_format, include_version=include_version, version=version)
    kind = "pages" if type_ == "page" else "blogposts"
    _content_includes(ctx, viewer, item, body, f"/{kind}/{item.id}", flags, body_format)
    return single(ctx, body)


@route("v2", "GET", "/pages/<id>", "getPageById")
def get_page_by_id(ctx: Ctx, id: str) -> Reply:
    return _get_page_or_blogpost(ctx, id, "page", ("current", "archived"),
                                 ("current", "archived", "trashed", "deleted", "historical", "draft"))


@route("v2", "GET", "/blogposts/<id>", "getBlogPostById")
def get_blogpost_by_id(ctx: Ctx, id: str) -> Reply:
    return _get_page_or_blogpost(ctx, id, "blogpost", ("current",),
                                 ("current", "trashed", "deleted", "historical", "draft"))


# -- labels, properties, versions of one item --------------------------------------------------


def _labels_reply(ctx: Ctx, item: Content) -> Reply:
    limit = ctx.limit()
    prefix = ctx.enum_param("prefix", ("my", "team", "global", "system"))
    sort = sort_param(ctx, LABEL_ORDERS, LABEL_SORTS, "id")
    labels = [ctx.ws.labels[i] for i in item.label_ids if i in ctx.ws.labels]
    labels = [lb for lb in labels if prefix is None or lb.prefix == prefix]
    return list_reply(ctx, SortedView.of(labels, sort.order), sort, ser.label_json, limit)


def _properties_reply(ctx: Ctx, item: Content) -> Reply:
    limit = ctx.limit()
    key = text_param(ctx, "key")
    sort = sort_param(ctx, PROPERTY_ORDERS, ("key", "-key"), "id")
    props: list[Property] = [p for p in item.properties if key is None or p.key == key]
    return list_reply(ctx, SortedView.of(props, sort.order), sort, ser.property_json, limit)


def _versions_reply(ctx: Ctx, item: Content) -> Reply:
    limit = ctx.limit()
    body_format = ctx.enum_param("body-format", BULK_BODY_FORMATS)
    sort = sort_param(ctx, VERSION_ORDERS, ("modified-date", "-modified-date"), "-modified-date")
    return list_reply(ctx, SortedView.of(item.versions, sort.order), sort,
                      lambda v: ser.version_item_json(item, v, body_format), limit)


def _item(ctx: Ctx, id: str, type_: str) -> Content:
    return visible_item(ctx, Viewer(ctx.ws, ctx.user), id, type_, type_)


@route("v2", "GET", "/pages/<id>/labels", "getPageLabels")
def get_page_labels(ctx: Ctx, id: str) -> Reply:
    return _labels_reply(ctx, _item(ctx, id, "page"))


@route("v2", "GET", "/blogposts/<id>/labels", "getBlogPostLabels")
def get_blogpost_labels(ctx: Ctx, id: str) -> Reply:
    return _labels_reply(ctx, _item(ctx, id, "blogpost"))


@route("v2", "GET", "/pages/<page_id>/properties", "getPageContentProperties")
def get_page_properties(ctx: Ctx, page_id: str) -> Reply:
    return _properties_reply(ctx, _item(ctx, page_id, "page"))


@route("v2", "GET", "/blogposts/<blogpost_id>/properties", "getBlogpostContentProperties")
def get_blogpost_properties(ctx: Ctx, blogpost_id: str) -> Reply:
    return _properties_reply(ctx, _item(ctx, blogpost_id, "blogpost"))


@route("v2", "GET", "/pages/<id>/versions", "getPageVersions")
def get_page_versions(ctx: Ctx, id: str) -> Reply:
    return _versions_reply(ctx, _item(ctx, id, "page"))


@route("v2", "GET", "/blogposts/<id>/versions", "getBlogPostVersions")
def get_blogpost_versions(ctx: Ctx, id: str) -> Reply:
    return _versions_reply(ctx, _item(ctx, id, "blogpost"))


@route("v2", "GET", "/labels", "getLabels")
def get_labels(ctx: Ctx) -> Reply:
    limit = ctx.limit()
    label_ids = {str(int(i)) for i in ctx.list_param("label-id", integers=True)}
    prefixes = set(ctx.list_param("prefix"))
    sort = sort_param(ctx, LABEL_ORDERS, LABEL_SORTS, "id")
    labels = [lb for lb in ctx.ws.labels.values()
              if (not label_ids or lb.id in label_ids) and (not prefixes or lb.prefix in prefixes)]
    return list_reply(ctx, SortedView.of(labels, sort.order), sort, ser.label_json, limit)


# --------------------------------------------------------------------------------------------
# The tree: ancestors, descendants, direct children


def _ancestors_reply(ctx: Ctx, id: str, type_: str, *, with_links: bool) -> Reply:
    limit = ctx.limit()
    item = _item(ctx, id, type_)
    # The nearest `limit` ancestors, top first: callers continue upwards from the first one.
    above = ctx.ws.ancestors(item)[-limit:]
    body: dict[str, Any] = {"results": [ser.ancestor_json(a) for a in above]}
    if with_links:
        body["_links"] = {"base": ctx.site_base}
    return Reply(body, points=len(above))


@route("v2", "GET", "/pages/<id>/ancestors", "getPageAncestors")
def get_page_ancestors(ctx: Ctx, id: str) -> Reply:
    return _ancestors_reply(ctx, id, "page", with_links=True)


@route("v2", "GET", "/folders/<id>/ancestors", "getFolderAncestors")
def get_folder_ancestors(ctx: Ctx, id: str) -> Reply:
    # The spec's response for folders declares `results` only (no `_links`); nothing real says otherwise.
    return _ancestors_reply(ctx, id, "folder", with_links=False)


@dataclass
class Descendants:
    """A subtree flattened level by level: (item, depth) pairs and each id's index."""

    rows: list[tuple[Content, int]]
    index: dict[str, int]


def descendants_of(ws: Workspace, root: Content, max_depth: int) -> Descendants:
    def build() -> Descendants:
        rows: list[tuple[Content, int]] = []
        level = [root]
        for depth in range(1, max_depth + 1):
            below = [c for parent in level for c in ws.children(parent.id) if c.status in TREE_STATUSES]
            rows.extend((c, depth) for c in below)
            level = below
        return Descendants(rows, {c.id: i for i, (c, _) in enumerate(rows)})
    return TREES.get(ws, (root.id, max_depth), build)


def _descendants_reply(ctx: Ctx, id: str, type_: str) -> Reply:
    limit = ctx.limit()
    max_depth = ctx.int_param("depth", 2, minimum=1, maximum=10)
    viewer = Viewer(ctx.ws, ctx.user)
    root = visible_item(ctx, viewer, id, type_, type_)
    tree = descendants_of(ctx.ws, root, max_depth)
    position = decode_cursor(ctx)
    start = 0
    if position is not None:
        last_id, last_index = position.get("id"), position.get("i")
        if not isinstance(last_id, str) or type(last_index) is not int:
            raise BadRequest(INVALID_CURSOR)
        # Resume after the last item shown; if the tree changed and it is gone, at its old place
        # (which the item after it has moved into).
        start = tree.index[last_id] + 1 if last_id in tree.index else last_index
    rows = (tree.rows[i] for i in range(start, len(tree.rows)))
    return v2_list(ctx, (r for r in rows if viewer.can_view(r[0])), lambda r: ser.descendant_json(*r), limit,
                   lambda r: {"id": r[0].id, "i": tree.index[r[0].id]})


@route("v2", "GET", "/pages/<id>/descendants", "getPageDescendants")
def get_page_descendants(ctx: Ctx, id: str) -> Reply:
    return _descendants_reply(ctx, id, "page")


@route("v2", "GET", "/folders/<id>/descendants", "getFolderDescendants")
def get_folder_descendants(ctx: Ctx, id: str) -> Reply:
    return _descendants_reply(ctx, id, "folder")


def _direct_children_reply(ctx: Ctx, id: str, type_: str) -> Reply:
    limit = ctx.limit()
    sort = sort_param(ctx, CONTENT_ORDERS, CHILD_SORTS, "child-position")
    viewer = Viewer(ctx.ws, ctx.user)
    parent = visible_item(ctx, viewer, id, type_, type_)
    kids = [c for c in ctx.ws.children(parent.id) if c.status in TREE_STATUSES]
    return list_reply(ctx, SortedView.of(kids, sort.order), sort, ser.child_json, limit, keep=viewer.can_view)


@route("v2", "GET", "/pages/<id>/direct-children", "getPageDirectChildren")
def get_page_direct_children(ctx: Ctx, id: str) -> Reply:
    return _direct_children_reply(ctx, id, "page")


@route("v2", "GET", "/folders/<id>/direct-children", "getFolderDirectChildren")
def get_folder_direct_children(ctx: Ctx, id: str) -> Reply:
    return _direct_children_reply(ctx, id, "folder")


@route("v2", "GET", "/folders/<id>", "getFolderById")
def get_folder_by_id(ctx: Ctx, id: str) -> Reply:
    flags = [n for n in ("collaborators", "direct-children", "operations", "properties")
             if ctx.bool_param(f"include-{n}")]
    viewer = Viewer(ctx.ws, ctx.user)
    item = visible_item(ctx, viewer, id, "folder", "folder")
    body = ser.folder_json(ctx.ws, item)
    _content_includes(ctx, viewer, item, body, f"/folders/{item.id}", flags, None)
    return single(ctx, body)


# --------------------------------------------------------------------------------------------
# Comments


COMMENT_SORTS = DATE_SORTS
RESOLUTION_STATUSES = ("resolved", "open", "dangling", "reopened")


def _global_comments(ctx: Ctx, kind: str) -> Reply:
    limit = ctx.limit()
    body_format = ctx.enum_param("body-format", BULK_BODY_FORMATS)
    sort = sort_param(ctx, CONTENT_ORDERS, COMMENT_SORTS, "id")
    viewer = Viewer(ctx.ws, ctx.user)
    view = content_view(ctx.ws, "comment", sort.field, statuses=frozenset({"current"}),
                        match=(("comment_kind", kind),))
    return list_reply(ctx, view, sort,
                      lambda c: ser.comment_json(ctx.ws, c, shape="global", body_format=body_format), limit,
                      keep=viewer.can_view)


@route("v2", "GET", "/footer-comments", "getFooterComments")
def get_footer_comments(ctx: Ctx) -> Reply:
    return _global_comments(ctx, "footer")


@route("v2", "GET", "/inline-comments", "getInlineComments")
def get_inline_comments(ctx: Ctx) -> Reply:
    return _global_comments(ctx, "inline")


def _container_comments(ctx: Ctx, id: str, container_type: str, kind: str,
                        allowed_statuses: Sequence[str]) -> Reply:
    """The root comments of one page or blog post (replies come from `.../children`)."""
    limit = ctx.limit()
    body_format = ctx.enum_param("body-format", BULK_BODY_FORMATS)
    statuses = status_param(ctx, allowed_statuses, ("current",))
    resolutions: set[str] = set()
    if kind == "inline":
        resolutions = set(ctx.list_param("resolution-status", allowed=RESOLUTION_STATUSES))
    sort = sort_param(ctx, CONTENT_ORDERS, COMMENT_SORTS, "id")
    container = _item(ctx, id, container_type)
    roots = [c for c in ctx.ws.comments_of(container.id)
             if c.comment_kind == kind and c.parent_comment_id is None and c.status in statuses
             and (not resolutions or (c.resolution_status or "open") in resolutions)]
    return list_reply(ctx, SortedView.of(roots, sort.order), sort,
                      lambda c: ser.comment_json(ctx.ws, c, shape="container", body_format=body_format),
                      limit)


PAGE_COMMENT_STATUSES = ("current", "archived", "trashed", "deleted", "historical", "draft")
BLOGPOST_COMMENT_STATUSES = ("current", "deleted", "trashed", "historical", "draft")


@route("v2", "GET", "/pages/<id>/footer-comments", "getPageFooterComments")
def get_page_footer_comments(ctx: Ctx, id: str) -> Reply:
    return _container_comments(ctx, id, "page", "footer", PAGE_COMMENT_STATUSES)


@route("v2", "GET", "/pages/<id>/inline-comments", "getPageInlineComments")
def get_page_inline_comments(ctx: Ctx, id: str) -> Reply:
    return _container_comments(ctx, id, "page", "inline", PAGE_COMMENT_STATUSES)


@route("v2", "GET", "/blogposts/<id>/footer-comments", "getBlogPostFooterComments")
def get_blogpost_footer_comments(ctx: Ctx, id: str) -> Reply:
    return _container_comments(ctx, id, "blogpost", "footer", BLOGPOST_COMMENT_STATUSES)


@route("v2", "GET", "/blogposts/<id>/inline-comments", "getBlogPostInlineComments")
def get_blogpost_inline_comments(ctx: Ctx, id: str) -> Reply:
    return _container_comments(ctx, id, "blogpost", "inline", BLOGPOST_COMMENT_STATUSES)


def _comment(ctx: Ctx, viewer: Viewer, id: str, kind: str) -> Content:
    item = visible_item(ctx, viewer, id, "comment", "comment")
    if item.comment_kind != kind:
        raise NotFound()
    return item


def _comment_children(ctx: Ctx, id: str, kind: str) -> Reply:
    limit = ctx.limit()
    body_format = ctx.enum_param("body-format", BULK_BODY_FORMATS)
    sort = sort_param(ctx, CONTENT_ORDERS, COMMENT_SORTS, "id")
    parent = _comment(ctx, Viewer(ctx.ws, ctx.user), id, kind)
    replies = [c for c in ctx.ws.comments_of(parent.id) if c.status == "current"]
    return list_reply(ctx, SortedView.of(replies, sort.order), sort,
                      lambda c: ser.comment_json(ctx.ws, c, shape="child", body_format=body_format), limit)


@route("v2", "GET", "/footer-comments/<id>/children", "getFooterCommentChildren")
def get_footer_comment_children(ctx: Ctx, id: str) -> Reply:
    return _comment_children(ctx, id, "footer")


@route("v2", "GET", "/inline-comments/<id>/children", "getInlineCommentChildren")
def get_inline_comment_children(ctx: Ctx, id: str) -> Reply:
    return _comment_children(ctx, id, "inline")


def _comment_by_id(ctx: Ctx, comment_id: str, kind: str) -> Reply:
    body_format = ctx.enum_param("body-format", SINGLE_BODY_FORMATS)
    include_version = ctx.bool_param("include-version", True)
    flags = [n for n in ("properties", "operations", "likes", "versions") if ctx.bool_param(f"include-{n}")]
    viewer = Viewer(ctx.ws, ctx.user)
    item = _comment(ctx, viewer, comment_id, kind)
    version = version_param(ctx, item)
    body = ser.comment_json(ctx.ws, item, shape="global", body_format=body_format)
    if version is not None:
        body["version"] = ser.version_json(version)
        if body_format is not None:
            body["body"] = ser.body_json(ser.body_at(item, version), body_format, content_id=item.id, ws=ctx.ws)
    if not include_version:
        del body["version"]
    api_path = f"/{kind}-comments/{item.id}"
    if "properties" in flags and kind == "inline":
        # Inline comments keep their marker keys in `properties`; the include adds the listing beside them.
        block = include(ctx, item.properties, PROPERTY_ORDERS["id"], ser.property_json,
                        properties_path(item, api_path))
        body["properties"] = {**block, **body["properties"]}
        flags.remove("properties")
    _content_includes(ctx, viewer, item, body, api_path, flags, body_format)
    return single(ctx, body)


@route("v2", "GET", "/footer-comments/<comment_id>", "getFooterCommentById")
def get_footer_comment_by_id(ctx: Ctx, comment_id: str) -> Reply:
    return _comment_by_id(ctx, comment_id, "footer")


@route("v2", "GET", "/inline-comments/<comment_id>", "getInlineCommentById")
def get_inline_comment_by_id(ctx: Ctx, comment_id: str) -> Reply:
    return _comment_by_id(ctx, comment_id, "inline")


# --------------------------------------------------------------------------------------------
# Attachments


ATTACHMENT_STATUSES = ("current", "archived", "trashed")


def _attachment_filters(ctx: Ctx) -> tuple[tuple[str, Any], ...]:
    match: tuple[tuple[str, Any], ...] = ()
    media_type = text_param(ctx, "mediaType")
    filename = text_param(ctx, "filename")
    if media_type is not None:
        match += (("media_type", media_type),)
    if filename is not None:
        match += (("title", filename),)
    return match


@route("v2", "GET", "/attachments", "getAttachments")
def get_attachments(ctx: Ctx) -> Reply:
    limit = ctx.limit(default=50)
    sort = sort_param(ctx, CONTENT_ORDERS, DATE_SORTS, "id")
    statuses = status_param(ctx, ATTACHMENT_STATUSES, ("current", "archived"))
    match = _attachment_filters(ctx)
    viewer = Viewer(ctx.ws, ctx.user)
    view = content_view(ctx.ws, "attachment", sort.field, statuses=statuses, match=match)
    return list_reply(ctx, view, sort, ser.attachment_json, limit, keep=viewer.can_view)


def _container_attachments(ctx: Ctx, id: str, container_type: str) -> Reply:
    limit = ctx.limit(default=50)
    sort = sort_param(ctx, CONTENT_ORDERS, DATE_SORTS, "id")
    statuses = status_param(ctx, ATTACHMENT_STATUSES, ("current", "archived"))
    match = _attachment_filters(ctx)
    container = _item(ctx, id, container_type)
    found = [a for a in ctx.ws.attachments_of(container.id)
             if a.status in statuses and all(getattr(a, f) == v for f, v in match)]
    return list_reply(ctx, SortedView.of(found, sort.order), sort, ser.attachment_json, limit)


@route("v2", "GET", "/pages/<id>/attachments", "getPageAttachments")
def get_page_attachments(ctx: Ctx, id: str) -> Reply:
    return _container_attachments(ctx, id, "page")


@route("v2", "GET", "/blogposts/<id>/attachments", "getBlogpostAttachments")
def get_blogpost_attachments(ctx: Ctx, id: str) -> Reply:
    return _container_attachments(ctx, id, "blogpost")


@route("v2", "GET", "/attachments/<id>", "getAttachmentById")
def get_attachment_by_id(ctx: Ctx, id: str) -> Reply:
    include_version = ctx.bool_param("include-version", True)
    flags = [n for n in ("labels", "properties", "operations", "versions", "collaborators")
             if ctx.bool_param(f"include-{n}")]
    viewer = Viewer(ctx.ws, ctx.user)
    item = ctx.ws.get(attachment_path_id(id), "attachment")
    if item is None or not viewer.can_view(item):
        raise NotFound()
    version = version_param(ctx, item)
    body = ser.attachment_json(item, version=version, include_version=include_version)
    _content_includes(ctx, viewer, item, body, f"/attachments/{item.id}", flags, None)
    return single(ctx, body)


# --------------------------------------------------------------------------------------------
# Users


@route("v2", "POST", "/users-bulk", "createBulkUserLookup")
def create_bulk_user_lookup(ctx: Ctx) -> Reply:
    account_ids = ctx.body.get("accountIds") if isinstance(ctx.body, dict) else None
    if not isinstance(account_ids, list) or not all(isinstance(a, str) for a in account_ids):
        raise BadRequest('The body must be {"accountIds": ["<accountId>", ...]}')
    if not 1 <= len(account_ids) <= MAX_USERS_BULK:
        raise BadRequest(f"'accountIds' must hold between 1 and {MAX_USERS_BULK} account ids; "
                         f"got {len(account_ids)}: split the lookup into batches")
    users = [ctx.ws.users[a] for a in dict.fromkeys(account_ids) if a in ctx.ws.users]
    return v2_list(ctx, users, ser.user_json, len(users) + 1, lambda u: {}, points_per_item=2)


# --------------------------------------------------------------------------------------------
# Writes the connector's tests use: create a page, create a footer comment


def _write_body(ctx: Ctx) -> dict[str, Any]:
    if not isinstance(ctx.body, dict):
        raise BadRequest("The request body must be a JSON object")
    return ctx.body


def _storage_value(body: dict[str, Any]) -> str:
    """The storage XHTML of a write body (`{representation, value}` or `{storage: {...}}`)."""
    value = body.get("body") or {}
    if isinstance(value, dict) and "storage" in value:
        value = value["storage"]
    if not isinstance(value, dict):
        raise BadRequest("'body' must be {\"representation\": \"storage\", \"value\": \"<p>...</p>\"}")
    if value.get("representation", "storage") != "storage":
        raise BadRequest("Only the 'storage' representation can be written to the emulator; "
                         "convert the body first")
    text = value.get("value", "")
    if not isinstance(text, str):
        raise BadRequest("'body.value' must be a string")
    return text


def _caller_id(ctx: Ctx) -> str:
    if ctx.user is None:
        raise Unauthorized("Anonymous callers cannot create content: authenticate first")
    return ctx.user.account_id


@route("v2", "POST", "/pages", "createPage")
def create_page(ctx: Ctx) -> Reply:
    """POST /pages answers 200 (not 201); without `parentId` the page goes under the homepage,
    with root-level=true to the space root."""
    root_level = ctx.bool_param("root-level")
    ctx.bool_param("embedded")
    ctx.bool_param("private")
    request = _write_body(ctx)
    author = _caller_id(ctx)
    viewer = Viewer(ctx.ws, ctx.user)
    space = ctx.ws.spaces.get(str(request.get("spaceId")))
    if space is None or not viewer.can_read_space(space):
        raise BadRequest(f"'spaceId' {request.get('spaceId')!r} does not name a space you can see")
    status = request.get("status", "current")
    if status not in ("current", "draft"):
        raise BadRequest("'status' must be 'current' or 'draft'")
    title = request.get("title") or ""
    if status == "current" and (not isinstance(title, str) or not title.strip()):
        raise BadRequest("'title' is required for a published page")
    parent_id = request.get("parentId")
    if parent_id is not None:
        if root_level:
            raise BadRequest("Give either 'parentId' or root-level=true, not both")
        parent = ctx.ws.get(str(parent_id))
        if (parent is None or parent.type not in ("page", "folder") or parent.space_id != space.id
                or not viewer.can_view(parent)):
            raise BadRequest(f"'parentId' {parent_id!r} is not a page or folder of space {space.id} "
                             "that you can see")
    item = mutations.create(ctx.ws, type="page", space_id=space.id, title=title, body=_storage_value(request),
                            parent_id=str(parent_id) if parent_id is not None else None, author_id=author,
                            status=status)
    if root_level and item.parent_id is not None:
        ctx.ws.reindex(item, _to_space_root)
    return single(ctx, ser.page_json(ctx.ws, item, body_format="storage"))


def _to_space_root(item: Content) -> None:
    item.parent_id = item.parent_type = None


@route("v2", "POST", "/footer-comments", "createFooterComment")
def create_footer_comment(ctx: Ctx) -> Reply:
    """POST /footer-comments answers 201 with a site-relative Location."""
    request = _write_body(ctx)
    author = _caller_id(ctx)
    viewer = Viewer(ctx.ws, ctx.user)
    targets = [k for k in ("pageId", "blogPostId", "parentCommentId") if request.get(k) is not None]
    if len(targets) != 1:
        raise BadRequest("Give exactly one of 'pageId', 'blogPostId' (a new comment) "
                         "or 'parentCommentId' (a reply)")
    field = targets[0]
    expected = {"pageId": "page", "blogPostId": "blogpost", "parentCommentId": "comment"}[field]
    target = ctx.ws.get(str(request[field]), expected)
    if target is None or not viewer.can_view(target) or (expected == "comment"
                                                         and target.comment_kind != "footer"):
        raise NotFound()
    storage = _storage_value(request)
    container = ctx.ws.container_of(target) if expected == "comment" else target
    if container is None:
        raise NotFound()
    item = mutations.create(ctx.ws, type="comment", title=f"Re: {container.title}", body=storage,
                            container_id=container.id, author_id=author, comment_kind="footer",
                            parent_comment_id=target.id if expected == "comment" else None)
    body = ser.comment_json(ctx.ws, item, shape="global", body_format="storage")
    del body["resolutionStatus"]  # the recorded 201 carries none; lists and GETs do
    reply = single(ctx, body)
    reply.status = 201
    reply.headers["Location"] = f"/wiki/api/v2/footer-comments/{item.id}"
    return reply
