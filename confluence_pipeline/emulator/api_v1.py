"""The v1 operations (/wiki/rest/api/...) the connector still needs: CQL search, the batched
restriction read (content search with restriction expansions), content restrictions, groups,
users, the audit log and attachment download; plus 410 Gone for the removed content reads.

Choices where Cloud publishes nothing (the tests pin each one):
- Search `limit` (default 25) is capped silently at 250, at 50 when `expand` asks for a body and
  at 25 for body.export_view/styled_view, as Cloud's unpublished "fixed system limits" do. Only
  the cursor in `_links.next` moves through results; the deprecated `start` is ignored. No
  `_links.prev` is given. A cursor resumes after the last item it returned, so results added or
  removed elsewhere between pages shift nothing; an item edited under `ORDER BY lastmodified`
  can move across the cursor, as on Cloud.
- Search sees content whose status is `current` (`cqlcontext={"contentStatuses":[...]}` may
  choose `archived` too; trashed and draft content never), whose container (for comments and
  attachments) passes the same test, in current spaces (`includeArchivedSpaces`,
  `excludeCurrentSpaces` on /search), and only what the caller may view (`Workspace.can_view`).
  `archivedResultCount` counts the matches left out because their space is archived.
- Offset listings: `limit` below 1 is a 400. Group listings (groups, picker, members, memberof)
  answer 400 above 200; restrictions cap silently at 200 (default 100), the audit log at 1000,
  user search at 1000 per page and 10,000 in all.
- The audit log answers a caller without the Confluence Administrator permission with a 403 and
  an empty body: airbyte#33737 saw that 403 carry no message its client could read.
- Attachment download answers 302 to /wiki/download/attachments/{containerId}/{filename}
  with a signed token that expires after 10 minutes; that path serves the bytes for the token
  alone and answers 401 without it, as Cloud's servlet path does for API tokens since
  CHANGE-2735 (pchuri/confluence-cli#198, atlassian-python-api#1640). On Cloud the redirect goes
  to a signed api.media.atlassian.com URL; the emulator keeps it on its own host.
- `accessType` on GET /group is validated but does not filter: the emulator keeps no per-group
  access types. `expand` on user operations is accepted and ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Sequence
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from werkzeug.datastructures import MultiDict

from .cql import CqlError, CqlQuery, parse_cql
from .files import attachment_bytes
from .http import (BadRequest, Ctx, Gone, NotFound, Reply, Unauthorized, decode_cursor, encode_cursor,
                   epoch_ms)
from .model import CONTENT_TYPES, AuditRecord, Content, Group, User, Workspace
from .routes import route
from .serialize_v1 import (CONTEXT, OPERATIONS, Expand, V1Json, audit_json, confcloud_77618_body,
                           parse_expand, restrictions_hash)
from .serialize_v2 import download_link, version_at

SEARCH_DEFAULT_LIMIT = 25
SEARCH_MAX_LIMIT = 250
SEARCH_BODY_MAX_LIMIT = 50
SEARCH_RENDERED_BODY_MAX_LIMIT = 25
SEARCHABLE_STATUSES = frozenset({"current", "archived"})
EXCERPT_MODES = ("highlight", "indexed", "none", "highlight_unescaped", "indexed_unescaped")
RESTRICTION_DEFAULT_LIMIT = 100
RESTRICTION_MAX_LIMIT = 200
RESTRICTION_DEFAULT_EXPAND = ("restrictions.user", "restrictions.group")
GROUP_LIMIT = 200  # default and maximum of every group listing
USER_SEARCH_MAX_LIMIT = 1000
USER_SEARCH_MAX_RESULTS = 10_000
BULK_USERS_MAX = 100
AUDIT_LIMIT = 1000  # default and silent maximum
# Java ChronoUnit durations (MONTHS and YEARS are the estimated ones), in nanoseconds.
_YEAR_NS = 31_556_952 * 10**9
AUDIT_UNIT_NS = {"NANOS": 1, "MICROS": 10**3, "MILLIS": 10**6, "SECONDS": 10**9, "MINUTES": 60 * 10**9,
                 "HOURS": 3600 * 10**9, "HALF_DAYS": 43_200 * 10**9, "DAYS": 86_400 * 10**9,
                 "WEEKS": 604_800 * 10**9, "MONTHS": _YEAR_NS // 12, "YEARS": _YEAR_NS,
                 "DECADES": 10 * _YEAR_NS, "CENTURIES": 100 * _YEAR_NS}
GONE_MESSAGE = "This deprecated endpoint has been removed."
DOWNLOAD_TOKEN_TTL_S = 600

# --------------------------------------------------------------------------------------------
# Shared pieces


def _viewer(ctx: Ctx) -> str | None:
    return ctx.user.account_id if ctx.user is not None else None


def _serializer(ctx: Ctx) -> V1Json:
    return V1Json(ctx.ws, ctx.site_base, _viewer(ctx))


def _api_path(ctx: Ctx) -> str:
    """The request path as v1 links write it, without the /wiki context: /rest/api/search."""
    return ctx.path.removeprefix(CONTEXT)


def _self_url(ctx: Ctx) -> str:
    return f"{ctx.site_base}{_api_path(ctx)}"


def _links(ctx: Ctx, next_url: str | None = None, **extra: str) -> dict[str, str]:
    links = {"base": ctx.site_base, "context": CONTEXT}
    if next_url is not None:
        links["next"] = next_url
    links.update(extra)
    return links


def _pairs(ctx: Ctx, leave_out: Sequence[str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in ctx.params.items(multi=True) if k not in leave_out]


def _required(ctx: Ctx, name: str) -> str:
    value = ctx.raw(name)
    if not value:
        raise BadRequest(f"The query parameter '{name}' is required")
    return value


# --------------------------------------------------------------------------------------------
# Offset listings (start/limit/size, `_links.next` while more remain)


def _limit(ctx: Ctx, default: int, maximum: int, *, strict: bool) -> int:
    """`limit`, at least 1; above `maximum` a 400 when `strict`, else capped silently."""
    if strict:
        return ctx.int_param("limit", default, minimum=1, maximum=maximum)
    return min(ctx.int_param("limit", default, minimum=1), maximum)


def _offset_page(ctx: Ctx, items: Sequence[Any], *, default_limit: int, max_limit: int, strict: bool,
                 total: bool = False) -> tuple[list[Any], dict[str, Any]]:
    """One page of `items` and the envelope fields that follow `results`."""
    start = ctx.int_param("start", 0, minimum=0)
    limit = _limit(ctx, default_limit, max_limit, strict=strict)
    page = list(items[start:start + limit])
    envelope: dict[str, Any] = {"start": start, "limit": limit, "size": len(page)}
    if total:
        envelope["totalSize"] = len(items)
    next_url = None
    if start + limit < len(items):
        query = urlencode([("next", "true"), *_pairs(ctx, ("next", "start", "limit")),
                           ("limit", limit), ("start", start + limit)])
        next_url = f"{_api_path(ctx)}?{query}"
    envelope["_links"] = _links(ctx, next_url, self=_self_url(ctx))
    return page, envelope


# --------------------------------------------------------------------------------------------
# CQL search: matching (cached per workspace generation), cursors


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
    viewer = _viewer(ctx)
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
    bound = dataclasses.replace(ctx, params=MultiDict(_pairs(ctx, ("next", "prev", "start"))))
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
                           *_pairs(ctx, _NOT_BOUND_TO_CURSOR)])
        next_url = f"{_api_path(ctx)}?{query}"
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
    js = _serializer(ctx)
    results = [js.search_result(item, content_expand, excerpt_mode) for item in items]
    body = {
        "results": results, "start": start, "limit": limit, "size": len(results),
        "totalSize": len(matches.ids), "cqlQuery": text,
        "searchDuration": int((time.perf_counter() - began) * 1000),
        "archivedResultCount": matches.archived,
        "_links": _links(ctx, next_url, self=f"{_self_url(ctx)}?{urlencode({'cql': text})}"),
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
    js = _serializer(ctx)
    results = [js.content(item, expand) for item in items]
    body = {"results": results, "start": start, "limit": limit, "size": len(results),
            "_links": _links(ctx, next_url, self=f"{_self_url(ctx)}?{urlencode({'cql': text})}")}
    return Reply(body, points=len(results) + 2 * js.principals)


# --------------------------------------------------------------------------------------------
# Content restrictions


def _visible_content(ctx: Ctx, content_id: str) -> Content:
    item = ctx.ws.get(content_id)
    if item is None and content_id.isdigit():
        item = ctx.ws.get(f"att{content_id}")
    if item is None or item.status not in SEARCHABLE_STATUSES or not ctx.ws.can_view(_viewer(ctx), item):
        raise NotFound(f"No content found with id: ContentId{{id={content_id}}}")
    return item


def _operation(operation_key: str) -> str:
    if operation_key not in OPERATIONS:
        raise BadRequest(f"Invalid operation '{operation_key}': content restrictions are 'read' or 'update'")
    return operation_key


def _restriction_json(ctx: Ctx, js: V1Json, item: Content, op: str, *, start: int,
                      limit: int) -> dict[str, Any]:
    expand = ctx.list_param("expand") or list(RESTRICTION_DEFAULT_EXPAND)
    return js.restriction(item, op, start=start, limit=limit, with_content="content" in expand,
                          users="restrictions.user" in expand or f"{op}.restrictions.user" in expand,
                          groups="restrictions.group" in expand or f"{op}.restrictions.group" in expand)


def _restriction_window(ctx: Ctx) -> tuple[int, int]:
    return (ctx.int_param("start", 0, minimum=0),
            _limit(ctx, RESTRICTION_DEFAULT_LIMIT, RESTRICTION_MAX_LIMIT, strict=False))


@route("v1", "GET", "/wiki/rest/api/content/<id>/restriction", "getRestrictions")
def get_restrictions(ctx: Ctx, id: str) -> Reply:
    item = _visible_content(ctx, id)
    start, limit = _restriction_window(ctx)
    js = _serializer(ctx)
    results = [_restriction_json(ctx, js, item, op, start=start, limit=limit) for op in OPERATIONS]
    body = {"results": results, "start": start, "limit": limit, "size": len(results),
            "restrictionsHash": restrictions_hash(item), "_links": _links(ctx, self=_self_url(ctx))}
    return Reply(body, points=2 * js.principals)


@route("v1", "GET", "/wiki/rest/api/content/<id>/restriction/byOperation", "getRestrictionsByOperation")
def get_restrictions_by_operation(ctx: Ctx, id: str) -> Reply:
    """Each operation's principals, the first 200 of each kind (as inside expanded content)."""
    item = _visible_content(ctx, id)
    js = _serializer(ctx)
    body: dict[str, Any] = {op: _restriction_json(ctx, js, item, op, start=0, limit=RESTRICTION_MAX_LIMIT)
                            for op in OPERATIONS}
    body["_links"] = _links(ctx, self=_self_url(ctx))
    return Reply(body, points=2 * js.principals)


@route("v1", "GET", "/wiki/rest/api/content/<id>/restriction/byOperation/<operationKey>",
       "getRestrictionsForOperation")
def get_restrictions_for_operation(ctx: Ctx, id: str, operationKey: str) -> Reply:
    op = _operation(operationKey)
    item = _visible_content(ctx, id)
    start, limit = _restriction_window(ctx)
    js = _serializer(ctx)
    body = _restriction_json(ctx, js, item, op, start=start, limit=limit)
    return Reply(body, points=2 * js.principals)


@route("v1", "GET", "/wiki/rest/api/content/<id>/restriction/byOperation/<operationKey>/byGroupId/<groupId>",
       "getIndividualGroupRestrictionStatusByGroupId")
def get_group_restriction_status(ctx: Ctx, id: str, operationKey: str, groupId: str) -> Reply:
    """200 when the group is named in the restriction, 404 otherwise; no body."""
    op = _operation(operationKey)
    item = _visible_content(ctx, id)
    rule = item.restrictions.get(op)
    if rule is None or groupId not in rule.group_ids:
        raise NotFound(f"Group {groupId} is not in the {op} restriction of content {item.id}")
    return Reply(None)


@route("v1", "GET", "/wiki/rest/api/content/<id>/restriction/byOperation/<operationKey>/user",
       "getContentRestrictionStatusForUser")
def get_user_restriction_status(ctx: Ctx, id: str, operationKey: str) -> Reply:
    """200 when the user is named in the restriction directly (not through a group), else 404."""
    op = _operation(operationKey)
    account_id = ctx.raw("accountId")
    if not account_id:
        raise BadRequest("The query parameter 'accountId' is required "
                         "('key' and 'username' are no longer supported)")
    item = _visible_content(ctx, id)
    rule = item.restrictions.get(op)
    if rule is None or account_id not in rule.user_ids:
        raise NotFound(f"User {account_id} is not in the {op} restriction of content {item.id}")
    return Reply(None)


# --------------------------------------------------------------------------------------------
# Groups


def _by_name(groups: Sequence[Group]) -> list[Group]:
    return sorted(groups, key=lambda g: (g.name.lower(), g.name))


def _by_display_name(users: Sequence[User]) -> list[User]:
    return sorted(users, key=lambda u: (u.display_name.lower(), u.account_id))


def _group_list(ctx: Ctx, groups: list[Group], *, total: bool = False) -> Reply:
    page, envelope = _offset_page(ctx, groups, default_limit=GROUP_LIMIT, max_limit=GROUP_LIMIT, strict=True,
                                  total=total)
    js = _serializer(ctx)
    return Reply({"results": [js.group(g) for g in page], **envelope}, points=2 * len(page))


@route("v1", "GET", "/wiki/rest/api/group", "getGroups")
def get_groups(ctx: Ctx) -> Reply:
    ctx.enum_param("accessType", ("user", "admin", "site-admin"))
    return _group_list(ctx, _by_name(list(ctx.ws.groups.values())))


@route("v1", "GET", "/wiki/rest/api/group/by-id", "getGroupByGroupId")
def get_group_by_id(ctx: Ctx) -> Reply:
    group_id = _required(ctx, "id")
    group = ctx.ws.groups.get(group_id)
    if group is None:
        raise NotFound(f"No group with id {group_id}")
    body = _serializer(ctx).group(group)
    body["_links"] = {**body["_links"], "base": ctx.site_base, "context": CONTEXT}
    return Reply(body, points=2)


@route("v1", "GET", "/wiki/rest/api/group/picker", "searchGroups")
def search_groups(ctx: Ctx) -> Reply:
    query = _required(ctx, "query").lower()
    found = [g for g in ctx.ws.groups.values() if query in g.name.lower()]
    return _group_list(ctx, _by_name(found), total=ctx.bool_param("shouldReturnTotalSize"))


@route("v1", "GET", "/wiki/rest/api/group/<groupId>/membersByGroupId", "getGroupMembersByGroupId")
def get_group_members(ctx: Ctx, groupId: str) -> Reply:
    if groupId not in ctx.ws.groups:
        raise NotFound(f"No group with id {groupId}")
    member_ids = ctx.ws.group_members.get(groupId, ())
    members = _by_display_name([ctx.ws.users[a] for a in member_ids if a in ctx.ws.users])
    page, envelope = _offset_page(ctx, members, default_limit=GROUP_LIMIT, max_limit=GROUP_LIMIT, strict=True,
                                  total=ctx.bool_param("shouldReturnTotalSize"))
    js = _serializer(ctx)
    return Reply({"results": [js.user(u.account_id) for u in page], **envelope}, points=2 * len(page))


@route("v1", "GET", "/wiki/rest/api/user/memberof", "getGroupMembershipsForUser")
def get_user_groups(ctx: Ctx) -> Reply:
    account_id = _required(ctx, "accountId")
    if account_id not in ctx.ws.users:
        raise NotFound(f"No user with accountId {account_id}")
    groups = [ctx.ws.groups[g] for g in ctx.ws.groups_of(account_id) if g in ctx.ws.groups]
    return _group_list(ctx, _by_name(groups))


# --------------------------------------------------------------------------------------------
# Users


def _single(ctx: Ctx, body: dict[str, Any]) -> dict[str, Any]:
    """A top-level v1 object adds `base` and `context` to its own `_links`."""
    return {**body, "_links": {**body["_links"], "base": ctx.site_base, "context": CONTEXT}}


@route("v1", "GET", "/wiki/rest/api/user", "getUser")
def get_user(ctx: Ctx) -> Reply:
    account_id = _required(ctx, "accountId")
    if account_id not in ctx.ws.users:
        raise NotFound(f"No user with accountId {account_id}")
    return Reply(_single(ctx, _serializer(ctx).user(account_id)), points=2)


@route("v1", "GET", "/wiki/rest/api/user/current", "getCurrentUser")
def get_current_user(ctx: Ctx) -> Reply:
    js = _serializer(ctx)
    body = js.user(ctx.user.account_id) if ctx.user is not None else js.anonymous_user()
    return Reply(_single(ctx, body), points=2)


@route("v1", "GET", "/wiki/rest/api/user/bulk", "getBulkUserLookup")
def get_users_bulk(ctx: Ctx) -> Reply:
    """At most 100 users: ids past the first 100 are dropped, unknown ids skipped."""
    ids = list(dict.fromkeys(ctx.list_param("accountId")))[:BULK_USERS_MAX]
    if not ids:
        raise BadRequest("The query parameter 'accountId' is required: a comma-separated list of account ids")
    js = _serializer(ctx)
    results = [js.user(a) for a in ids if a in ctx.ws.users]
    body = {"results": results, "start": 0, "limit": BULK_USERS_MAX, "size": len(results),
            "_links": _links(ctx, self=_self_url(ctx))}
    return Reply(body, points=2 * len(results))


_USER_CLAUSE = re.compile(
    r"""\s*(?P<field>[A-Za-z.]+)\s*(?P<op>!=|=|~|(?i:in)\b)\s*
        (?P<value>"[^"]*"|'[^']*'|\([^)]*\)|[^\s()"']+)\s*""", re.VERBOSE)
_AND = re.compile(r"(?i:and)\s+")
_LIST_ITEM = re.compile(r"""\s*("[^"]*"|'[^']*'|[^\s,"']+)\s*(,|$)""")


def _values(raw: str) -> list[str]:
    inner = raw[1:-1] if raw.startswith("(") else raw
    return [m.group(1).strip("\"'") for m in _LIST_ITEM.finditer(inner) if m.group(1)]


def _user_test(cql: str, field: str, op: str, values: list[str]) -> Callable[[User], bool]:
    wanted = {v.lower() for v in values}
    if field == "type" and op in ("=", "in") and wanted == {"user"}:
        return lambda user: True
    if field == "user.fullname" and op == "~":
        return lambda user: any(w in user.display_name.lower() for w in wanted)
    if field == "user.fullname" and op in ("=", "in"):
        return lambda user: user.display_name.lower() in wanted
    if field in ("user.accountid", "user") and op in ("=", "in"):
        return lambda user: (user.account_id.lower() in wanted
                             or (field == "user" and user.public_name.lower() in wanted))
    if field in ("user.accountid", "user") and op == "!=":
        return lambda user: user.account_id.lower() not in wanted
    raise BadRequest(f"Could not parse cql : {cql} (user search takes type = user, user, user.fullname "
                     f"and user.accountid joined by AND; '{field} {op}' is not supported)")


def _user_filter(cql: str) -> Callable[[User], bool]:
    """A user search query: clauses on type/user/user.fullname/user.accountid joined by AND."""
    tests: list[Callable[[User], bool]] = []
    pos = 0
    while True:
        clause = _USER_CLAUSE.match(cql, pos)
        if clause is None:
            raise BadRequest(f"Could not parse cql : {cql}")
        tests.append(_user_test(cql, clause["field"].lower(), clause["op"].lower(), _values(clause["value"])))
        pos = clause.end()
        if pos == len(cql):
            return lambda user: all(test(user) for test in tests)
        conjunction = _AND.match(cql, pos)
        if conjunction is None:
            raise BadRequest(f"Could not parse cql : {cql}")
        pos = conjunction.end()


@route("v1", "GET", "/wiki/rest/api/search/user", "searchUser")
def search_users(ctx: Ctx) -> Reply:
    began = time.perf_counter()
    cql = ctx.raw("cql") or ""
    keep = _user_filter(cql)
    found = _by_display_name([u for u in ctx.ws.users.values() if keep(u)])[:USER_SEARCH_MAX_RESULTS]
    page, envelope = _offset_page(ctx, found, default_limit=SEARCH_DEFAULT_LIMIT,
                                  max_limit=USER_SEARCH_MAX_LIMIT, strict=False, total=True)
    js = _serializer(ctx)
    now = ctx.ws.clock.now()
    links = envelope.pop("_links")
    body = {"results": [js.user_search_result(u, now) for u in page], **envelope, "cqlQuery": cql,
            "searchDuration": int((time.perf_counter() - began) * 1000), "_links": links}
    return Reply(body, points=2 * len(page))


# --------------------------------------------------------------------------------------------
# Audit log (Confluence administrators only)


def _audit_text(ws: Workspace, record: AuditRecord) -> str:
    author = ws.users.get(record.author_id) if record.author_id else None
    parts = [record.summary, record.description, record.category, record.affected_object[0],
             author.display_name if author else "System"]
    parts += [name for name, _ in record.associated_objects]
    parts += [value for change in record.changed_values for value in change]
    return "\n".join(parts).lower()


def _audit_list(ctx: Ctx, since_ms: int | None, until_ms: int | None) -> Reply:
    if ctx.user is None or not ctx.user.is_admin:
        return Reply(None, status=403)
    needle = (ctx.raw("searchString") or "").lower()
    records = [r for r in ctx.ws.audit
               if (since_ms is None or epoch_ms(r.creation_date) >= since_ms)
               and (until_ms is None or epoch_ms(r.creation_date) <= until_ms)
               and (not needle or needle in _audit_text(ctx.ws, r))]
    records.sort(key=lambda r: r.creation_date, reverse=True)
    page, envelope = _offset_page(ctx, records, default_limit=AUDIT_LIMIT, max_limit=AUDIT_LIMIT,
                                  strict=False)
    return Reply({"results": [audit_json(ctx.ws, r) for r in page], **envelope})


def _epoch_ms_param(ctx: Ctx, name: str) -> int | None:
    value = ctx.raw(name)
    if not value:
        return None
    if not value.isdigit():
        raise BadRequest(f"Invalid value for parameter '{name}': '{value}' is not a time in "
                         "epoch milliseconds")
    return int(value)


@route("v1", "GET", "/wiki/rest/api/audit", "getAuditRecords")
def get_audit_records(ctx: Ctx) -> Reply:
    """Records newest first; `startDate` and `endDate` (epoch ms) both inclusive."""
    return _audit_list(ctx, _epoch_ms_param(ctx, "startDate"), _epoch_ms_param(ctx, "endDate"))


@route("v1", "GET", "/wiki/rest/api/audit/since", "getAuditRecordsForTimePeriod")
def get_audit_records_since(ctx: Ctx) -> Reply:
    """Records of the last `number` `units` (ChronoUnit names; months and years as Java estimates them)."""
    number = ctx.int_param("number", 3, minimum=0)
    units = ctx.enum_param("units", AUDIT_UNIT_NS, "MONTHS")
    now_ms = epoch_ms(ctx.ws.clock.now())
    return _audit_list(ctx, now_ms - number * AUDIT_UNIT_NS[units] // 10**6, now_ms)


# --------------------------------------------------------------------------------------------
# Attachment download


def _download_token(ws: Workspace, container_id: str, filename: str, version: int, expires_ms: int) -> str:
    """What the redirect signs, as Atlassian's media URLs carry a signed token: the file, its
    version and an expiry, so the bytes URL needs no other credential."""
    signed = f"{ws.seed}/{ws.site.cloud_id}/{container_id}/{filename}/{version}/{expires_ms}"
    return f"{expires_ms}.{hashlib.sha256(signed.encode()).hexdigest()[:32]}"


@route("v1", "GET", "/wiki/rest/api/content/<id>/child/attachment/<attachmentId>/download",
       "downloadAttatchment")
def download_attachment(ctx: Ctx, id: str, attachmentId: str) -> Reply:
    """302 to the file: /wiki/download/attachments/{containerId}/{filename}?version=N&...&token=..."""
    statuses = ctx.list_param("status") or ["current"]
    number = ctx.int_param("version", None, minimum=1)
    attachment_id = attachmentId if attachmentId.startswith("att") else f"att{attachmentId}"
    item = ctx.ws.get(attachment_id, "attachment")
    if (item is None or item.container_id != id or item.status not in statuses
            or not ctx.ws.can_view(_viewer(ctx), item)):
        raise NotFound(f"No attachment {attachmentId} with status {','.join(statuses)} on content {id}")
    version = item.version if number is None else version_at(item, number)
    if version is None:
        raise NotFound(f"Attachment {attachment_id} has no version {number}; "
                       f"its latest is {item.version.number}")
    expires_ms = epoch_ms(ctx.ws.clock.now()) + DOWNLOAD_TOKEN_TTL_S * 1000
    token = _download_token(ctx.ws, id, item.title, version.number, expires_ms)
    location = f"{CONTEXT}{download_link(item, version)}&token={token}"
    return Reply(None, status=302, headers={"Location": location})


@route("v1", "GET", "/wiki/download/attachments/<container_id>/<path:filename>", "downloadAttachmentBytes")
def download_attachment_bytes(ctx: Ctx, container_id: str, filename: str) -> Reply:
    """The file where the download redirect points (not a REST operation). Only the redirect's
    signed token opens it: since CHANGE-2735/CHANGE-3007 Cloud answers this servlet path with
    401 for API-token basic auth, so a client must go through the REST download."""
    token = ctx.raw("token") or ""
    version = ctx.int_param("version", None, minimum=1)
    expires, _, _ = token.partition(".")
    if (version is None or not expires.isdigit() or int(expires) < epoch_ms(ctx.ws.clock.now())
            or token != _download_token(ctx.ws, container_id, filename, version, int(expires))):
        raise Unauthorized("Attachment files are served only through GET /wiki/rest/api/content/{id}/child/"
                           "attachment/{attachmentId}/download, which redirects here with a signed token",
                           headers={"WWW-Authenticate": f'OAuth realm="{ctx.site_base}"'})
    named = [a for a in ctx.ws.attachments_of(container_id) if a.title == filename]
    item = next((a for a in named if a.status != "trashed"), named[0] if named else None)
    if item is None:
        raise NotFound(f"No attachment {filename!r} on content {container_id}")
    return Reply(attachment_bytes(item, ctx.ws.seed),
                 content_type=item.media_type or "application/octet-stream", points=1)


# --------------------------------------------------------------------------------------------
# The v1 content reads the current spec no longer lists (FACTS.md §11, errors-observed-collection
# .json). Through the OAuth gateway they answer 410 Gone; with basic auth on the site they are
# still served, with the deprecation Warning real Cloud sent on them (kovetskiy/mark#493).

CONTENT_DEFAULT_LIMIT = 25
CONTENT_MAX_LIMIT = 100  # Cloud's cap on /content with body expansions; silently applied
SPACE_DEFAULT_LIMIT = 25
SPACE_MAX_LIMIT = 250
CHILD_DEFAULT_LIMIT = 25
CHILD_MAX_LIMIT = 200
DEPRECATED_WARNING = '299 - "Deprecated API, will be removed on Mon, 2 Dec 2024 00:00:00 GMT"'
CONTENT_LIST_TYPES = ("page", "blogpost")
CONTENT_STATUSES = ("current", "trashed", "draft", "archived", "any")


def _deprecated_read(ctx: Ctx) -> None:
    if ctx.gateway:
        raise Gone(GONE_MESSAGE)


def _served(body: dict[str, Any], points: int) -> Reply:
    return Reply(body, points=points, headers={"Warning": DEPRECATED_WARNING})


def _statuses(ctx: Ctx) -> set[str]:
    statuses = set(ctx.list_param("status") or ["current"])
    unknown = statuses - set(CONTENT_STATUSES)
    if unknown:
        raise BadRequest(f"Invalid status '{sorted(unknown)[0]}': use one of {', '.join(CONTENT_STATUSES)}")
    return {"current", "trashed", "draft", "archived"} if "any" in statuses else statuses


def _content_list(ctx: Ctx, items: list[Content], *, default_limit: int, max_limit: int,
                  always_expand: Sequence[str] = ()) -> Reply:
    expand = parse_expand([*ctx.list_param("expand"), *always_expand])
    page, envelope = _offset_page(ctx, items, default_limit=default_limit, max_limit=max_limit, strict=False)
    js = _serializer(ctx)
    return _served({"results": [js.content(item, expand) for item in page], **envelope}, len(page))


@route("v1", "GET", "/wiki/rest/api/content", "getContent")
def get_content(ctx: Ctx) -> Reply:
    """Pages or blog posts of a space (`spaceKey`), by `title`, in id order."""
    _deprecated_read(ctx)
    type_ = ctx.enum_param("type", CONTENT_LIST_TYPES) or "page"
    statuses = _statuses(ctx)
    space_key, title = ctx.raw("spaceKey"), ctx.raw("title")
    space = ctx.ws.space_by_key(space_key) if space_key else None
    if space_key and space is None:
        items: list[Content] = []
    else:
        viewer = _viewer(ctx)
        items = [item for item in ctx.ws.iter_type(type_)
                 if item.status in statuses and (space is None or item.space_id == space.id)
                 and (title is None or item.title == title) and ctx.ws.can_view(viewer, item)]
    return _content_list(ctx, items, default_limit=CONTENT_DEFAULT_LIMIT, max_limit=CONTENT_MAX_LIMIT)


@route("v1", "GET", "/wiki/rest/api/content/<id>", "getContentById")
def get_content_by_id(ctx: Ctx, id: str) -> Reply:
    _deprecated_read(ctx)
    statuses = _statuses(ctx)
    item = ctx.ws.get(id)
    if item is None and id.isdigit():
        item = ctx.ws.get(f"att{id}")
    if item is None or item.status not in statuses or not ctx.ws.can_view(_viewer(ctx), item):
        raise NotFound(f"No content found with id: ContentId{{id={id}}}")
    return _served(_serializer(ctx).content(item, parse_expand(ctx.list_param("expand"))), 1)


@route("v1", "GET", "/wiki/rest/api/content/<id>/child/comment", "getContentComments")
def get_content_comments(ctx: Ctx, id: str) -> Reply:
    """Comments of a page or blog post: top-level ones, or every reply too with `depth=all`;
    `location` filters footer / inline / resolved."""
    _deprecated_read(ctx)
    container = _visible_content(ctx, id)
    depth = ctx.enum_param("depth", ("", "all", "root")) or ""
    locations = set(ctx.list_param("location"))
    comments, queue = [], list(ctx.ws.comments_of(container.id))
    while queue:
        comment = queue.pop(0)
        if comment.status == "current":
            comments.append(comment)
        if depth == "all":
            queue.extend(ctx.ws.comments_of(comment.id))
    if locations:
        comments = [c for c in comments if (c.comment_kind or "footer") in locations]
    comments.sort(key=lambda c: c.numeric_id)
    return _content_list(ctx, comments, default_limit=CHILD_DEFAULT_LIMIT, max_limit=CHILD_MAX_LIMIT)


@route("v1", "GET", "/wiki/rest/api/content/<id>/child/attachment", "getAttachments")
def get_attachments(ctx: Ctx, id: str) -> Reply:
    _deprecated_read(ctx)
    container = _visible_content(ctx, id)
    filename, media_type = ctx.raw("filename"), ctx.raw("mediaType")
    items = [a for a in ctx.ws.attachments_of(container.id) if a.status == "current"
             and (filename is None or a.title == filename) and (media_type is None or a.media_type == media_type)]
    items.sort(key=lambda a: a.numeric_id)
    # Attachment listings carry `metadata` (mediaType, comment) unasked: LangChain and LlamaIndex
    # read attachment["metadata"]["mediaType"] from them without an expand.
    return _content_list(ctx, items, default_limit=CHILD_DEFAULT_LIMIT, max_limit=CHILD_MAX_LIMIT,
                         always_expand=("metadata",))


@route("v1", "GET", "/wiki/rest/api/space", "getSpaces")
def get_spaces(ctx: Ctx) -> Reply:
    _deprecated_read(ctx)
    keys = set(ctx.list_param("spaceKey"))
    type_ = ctx.enum_param("type", ("global", "personal"))
    status = ctx.enum_param("status", ("current", "archived"))
    viewer = _viewer(ctx)
    spaces = sorted((sp for sp in ctx.ws.spaces.values()
                     if (not keys or sp.key in keys) and (type_ is None or sp.type == type_)
                     and (status is None or sp.status == status) and ctx.ws.can_read_space(viewer, sp)),
                    key=lambda sp: sp.key)
    page, envelope = _offset_page(ctx, spaces, default_limit=SPACE_DEFAULT_LIMIT, max_limit=SPACE_MAX_LIMIT,
                                  strict=False)
    js = _serializer(ctx)
    return _served({"results": [js.space(sp) for sp in page], **envelope}, len(page))
