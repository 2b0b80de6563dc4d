"""Groups and users: listings, members, memberships, lookups and user search."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any, Callable, Sequence

from ..http import BadRequest, Ctx, NotFound, Reply, iso
from ..model import Group, User
from ..routes import route
from ..serialize_v1 import CONTEXT, V1Json
from .common import SEARCH_DEFAULT_LIMIT, links_json, offset_page, required_param, self_url, serializer

GROUP_LIMIT = 200  # default and maximum of every group listing
USER_SEARCH_MAX_LIMIT = 1000
USER_SEARCH_MAX_RESULTS = 10_000
BULK_USERS_MAX = 100


def _by_name(groups: Sequence[Group]) -> list[Group]:
    return sorted(groups, key=lambda g: (g.name.lower(), g.name))


def _by_display_name(users: Sequence[User]) -> list[User]:
    return sorted(users, key=lambda u: (u.display_name.lower(), u.account_id))


def _group_list(ctx: Ctx, groups: list[Group], *, total: bool = False) -> Reply:
    page, envelope = offset_page(ctx, groups, default_limit=GROUP_LIMIT, max_limit=GROUP_LIMIT, strict=True,
                                  total=total)
    js = serializer(ctx)
    return Reply({"results": [js.group(g) for g in page], **envelope}, points=2 * len(page))


@route("v1", "GET", "/wiki/rest/api/group", "getGroups")
def get_groups(ctx: Ctx) -> Reply:
    ctx.enum_param("accessType", ("user", "admin", "site-admin"))
    return _group_list(ctx, _by_name(list(ctx.ws.groups.values())))


@route("v1", "GET", "/wiki/rest/api/group/by-id", "getGroupByGroupId")
def get_group_by_id(ctx: Ctx) -> Reply:
    group_id = required_param(ctx, "id")
    group = ctx.ws.groups.get(group_id)
    if group is None:
        raise NotFound(f"No group with id {group_id}")
    body = serializer(ctx).group(group)
    body["_links"] = {**body["_links"], "base": ctx.site_base, "context": CONTEXT}
    return Reply(body, points=2)


@route("v1", "GET", "/wiki/rest/api/group/picker", "searchGroups")
def search_groups(ctx: Ctx) -> Reply:
    query = required_param(ctx, "query").lower()
    found = [g for g in ctx.ws.groups.values() if query in g.name.lower()]
    return _group_list(ctx, _by_name(found), total=ctx.bool_param("shouldReturnTotalSize"))


@route("v1", "GET", "/wiki/rest/api/group/<groupId>/membersByGroupId", "getGroupMembersByGroupId")
def get_group_members(ctx: Ctx, groupId: str) -> Reply:
    if groupId not in ctx.ws.groups:
        raise NotFound(f"No group with id {groupId}")
    member_ids = ctx.ws.group_members.get(groupId, ())
    members = _by_display_name([ctx.ws.users[a] for a in member_ids if a in ctx.ws.users])
    page, envelope = offset_page(ctx, members, default_limit=GROUP_LIMIT, max_limit=GROUP_LIMIT, strict=True,
                                  total=ctx.bool_param("shouldReturnTotalSize"))
    js = serializer(ctx)
    return Reply({"results": [js.user(u.account_id) for u in page], **envelope}, points=2 * len(page))


@route("v1", "GET", "/wiki/rest/api/user/memberof", "getGroupMembershipsForUser")
def get_user_groups(ctx: Ctx) -> Reply:
    account_id = required_param(ctx, "accountId")
    if account_id not in ctx.ws.users:
        raise NotFound(f"No user with accountId {account_id}")
    groups = [ctx.ws.groups[g] for g in ctx.ws.groups_of(account_id) if g in ctx.ws.groups]
    return _group_list(ctx, _by_name(groups))


def _single(ctx: Ctx, body: dict[str, Any]) -> dict[str, Any]:
    """A top-level v1 object adds `base` and `context` to its own `_links`."""
    return {**body, "_links": {**body["_links"], "base": ctx.site_base, "context": CONTEXT}}


@route("v1", "GET", "/wiki/rest/api/user", "getUser")
def get_user(ctx: Ctx) -> Reply:
    account_id = required_param(ctx, "accountId")
    if account_id not in ctx.ws.users:
        raise NotFound(f"No user with accountId {account_id}")
    return Reply(_single(ctx, serializer(ctx).user(account_id)), points=2)


@route("v1", "GET", "/wiki/rest/api/user/current", "getCurrentUser")
def get_current_user(ctx: Ctx) -> Reply:
    js = serializer(ctx)
    body = js.user(ctx.user.account_id) if ctx.user is not None else js.anonymous_user()
    return Reply(_single(ctx, body), points=2)


@route("v1", "GET", "/wiki/rest/api/user/bulk", "getBulkUserLookup")
def get_users_bulk(ctx: Ctx) -> Reply:
    """At most 100 users: ids past the first 100 are dropped, unknown ids skipped."""
    ids = list(dict.fromkeys(ctx.list_param("accountId")))[:BULK_USERS_MAX]
    if not ids:
        raise BadRequest("The query parameter 'accountId' is required: a comma-separated list of account ids")
    js = serializer(ctx)
    results = [js.user(a) for a in ids if a in ctx.ws.users]
    body = {"results": results, "start": 0, "limit": BULK_USERS_MAX, "size": len(results),
            "_links": links_json(ctx, self=self_url(ctx))}
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


def _user_search_result(js: V1Json, user: User, now: datetime) -> dict[str, Any]:
    """One item of `GET /wiki/rest/api/search/user` (the shape Onyx's connector quotes). The
    emulator keeps no profile times, so it shows `now`."""
    return {"user": js.user(user.account_id), "title": user.display_name, "excerpt": "",
            "url": f"/people/{user.account_id}", "breadcrumbs": [], "entityType": "user",
            "iconCssClass": "aui-icon content-type-profile", "lastModified": iso(now), "score": 0.0}


@route("v1", "GET", "/wiki/rest/api/search/user", "searchUser")
def search_users(ctx: Ctx) -> Reply:
    began = time.perf_counter()
    cql = ctx.raw("cql") or ""
    keep = _user_filter(cql)
    found = _by_display_name([u for u in ctx.ws.users.values() if keep(u)])[:USER_SEARCH_MAX_RESULTS]
    page, envelope = offset_page(ctx, found, default_limit=SEARCH_DEFAULT_LIMIT,
                                  max_limit=USER_SEARCH_MAX_LIMIT, strict=False, total=True)
    js = serializer(ctx)
    now = ctx.ws.clock.now()
    links = envelope.pop("_links")
    body = {"results": [_user_search_result(js, u, now) for u in page], **envelope, "cqlQuery": cql,
            "searchDuration": int((time.perf_counter() - began) * 1000), "_links": links}
    return Reply(body, points=2 * len(page))
