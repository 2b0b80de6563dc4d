"""CQL search (/search, /content/search): matching cached per workspace generation, cursors."""

from __future__ import annotations

from typing import Any
import dataclasses
import json
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from werkzeug.datastructures import MultiDict

from ..cql import CqlError, CqlQuery, parse_cql
from ..http import BadRequest, Ctx, Reply, decode_cursor, encode_cursor
from ..model import CONTENT_TYPES, Content
from ..workspace import Workspace
from ..routes import route
from ..serialize_v1 import Expand, parse_expand
from .common import (SEARCH_DEFAULT_LIMIT, SEARCHABLE_STATUSES, api_path, caller_id, links_json, pairs,
                     self_url, serializer)

SEARCH_MAX_LIMIT = 250
SEARCH_BODY_MAX_LIMIT = 50
SEARCH_RENDERED_BODY_MAX_LIMIT = 25
EXCERPT_MODES = ("highlight", "indexed", "none", "highlight_unescaped", "indexed_unescaped")


@dataclass(frozen=True)
class _Scope:
    statuses: frozenset[str]
    include_archived_spaces: bool
    exclude_current_spaces: bool


@dataclass
class _Matches:
    ids: list[str]  # in the query's order
    archived: int  # matches left out because their space is archived
    index: dict[str, int]  # id -> position in ids


_MATCH_CACHE: weakref.WeakKeyDictionary[Workspace, OrderedDict[tuple, _Matches]] = weakref.WeakKeyDictionary()
_MATCH_CACHE_SIZE = 16
_match_cache_lock = threading.Lock()


def confcloud_77618_body(content_id: str) -> dict[str, Any]:
    """The 404 Confluence Cloud answers to a content search that expands
    `ancestors.restrictions...` when an ancestor of a result is trashed or a draft
    (CONFCLOUD-77618; the body Onyx matches on, errors-observed-collection.json)."""
    translation = f"No content with id <ContentId{{id={content_id}}}> can be found"
    return {"statusCode": 404,
            "data": {"authorized": False, "valid": False, "successful": False,
                     "errors": [{"message": {"translation": translation}}]}}


def _parse_query(ctx: Ctx) -> tuple[str, CqlQuery]:
    text = ctx.raw("cql") or ""
    if not text.strip():
        raise BadRequest(f"Could not parse cql : {text}")
    try:
        return text, parse_cql(text)
    except CqlError as err:
        raise BadRequest(str(err)) from None


def _search_scope(ctx: Ctx, *, space_flags: bool) -> _Scope:
    statuses = frozenset({"current"})
    raw = ctx.raw("cqlcontext")
    if raw:
        try:
            context = json.loads(raw)
        except ValueError:
            context = None
        wanted = context.get("contentStatuses", []) if isinstance(context, dict) else None
        if not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted):
            raise BadRequest("cqlcontext must be a JSON object such as "
                             '{"contentStatuses":["current","archived"]}')
        if wanted:
            statuses = frozenset(wanted) & SEARCHABLE_STATUSES
    return _Scope(statuses,
                  space_flags and ctx.bool_param("includeArchivedSpaces"),
                  space_flags and ctx.bool_param("excludeCurrentSpaces"))


def _matches(ctx: Ctx, text: str, query: CqlQuery, scope: _Scope) -> _Matches:
    """Every match of the query as the caller sees it now, in order. Cached, so that paging
    through a result set costs one evaluation; any change to the site (its generation), a new
    minute (relative dates) or another caller makes a new entry."""
    viewer = caller_id(ctx)
    tz = ZoneInfo(ctx.user.time_zone if ctx.user is not None else "UTC")
    now = ctx.ws.clock.now()
    key = (ctx.ws.generation, text, scope, viewer, tz.key, now.replace(second=0, microsecond=0))
    with _match_cache_lock:
        entries = _MATCH_CACHE.setdefault(ctx.ws, OrderedDict())
        hit = entries.get(key)
        if hit is not None:
            entries.move_to_end(key)
            return hit
    found = _find(ctx.ws, query, scope, viewer, tz, now)
    with _match_cache_lock:
        entries[key] = found
        while len(entries) > _MATCH_CACHE_SIZE:
            entries.popitem(last=False)
    return found


def _find(ws: Workspace, query: CqlQuery, scope: _Scope, viewer: str | None, tz: ZoneInfo,
          now: datetime) -> _Matches:
    predicate = query.bind(ws, tz=tz, now=now, user=viewer)
    found: list[Content] = []
    archived = 0
    named: list[Content] | None = None  # `id in (...)`: look those up instead of scanning the site
    if query.numeric_ids is not None:
        named = [c for n in sorted(query.numeric_ids) for c in (ws.content.get(str(n)), ws.content.get(f"att{n}"))
                 if c is not None]
    for type_ in CONTENT_TYPES:
        if query.types is not None and type_ not in query.types:
            continue
        for item in ws.iter_type(type_) if named is None else (c for c in named if c.type == type_):
            if item.status not in scope.statuses:
                continue
            if item.container_id is not None:
                container = ws.container_of(item)
                if container is None or container.status not in scope.statuses:
                    continue
            space = ws.spaces.get(item.space_id)
            if space is None:
                continue
            in_archived_space = space.status == "archived"
            if not in_archived_space and scope.exclude_current_spaces:
                continue
            if not predicate(item) or not ws.can_view(viewer, item):
                continue
            if in_archived_space and not scope.include_archived_spaces:
                archived += 1
            else:
                found.append(item)
    ids = [item.id for item in query.sort(ws, found)]
    return _Matches(ids, archived, {cid: i for i, cid in enumerate(ids)})


def _search_limit(ctx: Ctx, content_expand: Expand) -> int:
    body = content_expand.get("body")
    if body is None:
        cap = SEARCH_MAX_LIMIT
    elif body.keys() & {"export_view", "styled_view"}:
        cap = SEARCH_RENDERED_BODY_MAX_LIMIT
    else:
        cap = SEARCH_BODY_MAX_LIMIT
    return min(ctx.int_param("limit", SEARCH_DEFAULT_LIMIT, minimum=1), cap)


_NOT_BOUND_TO_CURSOR = ("cursor", "next", "prev", "start", "limit")


def _search_page(ctx: Ctx, matches: _Matches, limit: int) -> tuple[list[Content], int, str | None]:
    """The page the request's cursor points at, its offset, and the next link (None at the end).

    The cursor is bound to the query's parameters; `next`, `prev` and `start`, which Cloud
    adds to its next links, are not part of that binding."""
    bound = dataclasses.replace(ctx, params=MultiDict(pairs(ctx, ("next", "prev", "start"))))
    position = decode_cursor(bound)
    start = 0
    if position is not None:
        offset, last_id = position.get("offset"), position.get("after")
        if not isinstance(offset, int) or offset < 0 or not isinstance(last_id, str):
            raise BadRequest("Invalid cursor")
        after = matches.index.get(last_id)
        start = after + 1 if after is not None else min(offset, len(matches.ids))
    ids = matches.ids[start:start + limit]
    items = [item for item in (ctx.ws.content.get(i) for i in ids) if item is not None]
    next_url = None
    end = start + len(ids)
    if ids and end < len(matches.ids):
        cursor = encode_cursor(bound, {"after": ids[-1], "offset": end})
        query = urlencode([("next", "true"), ("cursor", cursor), ("limit", limit), ("start", end),
                           *pairs(ctx, _NOT_BOUND_TO_CURSOR)])
        next_url = f"{api_path(ctx)}?{query}"
    return items, start, next_url


def _trashed_or_draft_ancestor(ws: Workspace, items: list[Content]) -> Content | None:
    for item in items:
        if item.type in ("page", "folder"):
            for ancestor in ws.ancestors(item):
                if ancestor.status in ("trashed", "draft"):
                    return ancestor
    return None


@route("v1", "GET", "/wiki/rest/api/search", "searchByCQL")
def search(ctx: Ctx) -> Reply:
    began = time.perf_counter()
    text, query = _parse_query(ctx)
    content_expand = parse_expand(ctx.list_param("expand")).get("content", {})
    limit = _search_limit(ctx, content_expand)
    excerpt_mode = ctx.enum_param("excerpt", EXCERPT_MODES, "highlight")
    matches = _matches(ctx, text, query, _search_scope(ctx, space_flags=True))
    items, start, next_url = _search_page(ctx, matches, limit)
    js = serializer(ctx)
    results = [js.search_result(item, content_expand, excerpt_mode) for item in items]
    body = {
        "results": results, "start": start, "limit": limit, "size": len(results),
        "totalSize": len(matches.ids), "cqlQuery": text,
        "searchDuration": int((time.perf_counter() - began) * 1000),
        "archivedResultCount": matches.archived,
        "_links": links_json(ctx, next_url, self=f"{self_url(ctx)}?{urlencode({'cql': text})}"),
    }
    return Reply(body, points=len(results) + 2 * js.principals)


@route("v1", "GET", "/wiki/rest/api/content/search", "searchContentByCQL")
def search_content(ctx: Ctx) -> Reply:
    """Content by CQL with v1 expansions: the connector's batched restriction read."""
    text, query = _parse_query(ctx)
    expand = parse_expand(ctx.list_param("expand"))
    limit = _search_limit(ctx, expand)
    matches = _matches(ctx, text, query, _search_scope(ctx, space_flags=False))
    items, start, next_url = _search_page(ctx, matches, limit)
    if "restrictions" in expand.get("ancestors", {}):
        broken = _trashed_or_draft_ancestor(ctx.ws, items)
        if broken is not None:
            return Reply(confcloud_77618_body(broken.id), status=404)
    js = serializer(ctx)
    results = [js.content(item, expand) for item in items]
    body = {"results": results, "start": start, "limit": limit, "size": len(results),
            "_links": links_json(ctx, next_url, self=f"{self_url(ctx)}?{urlencode({'cql': text})}")}
    return Reply(body, points=len(results) + 2 * js.principals)
