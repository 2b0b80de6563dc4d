"""Content restrictions: the lists by operation and the per-principal status checks."""

from __future__ import annotations

from typing import Any

from ..http import BadRequest, Ctx, NotFound, Reply
from ..model import Content
from ..routes import route
from ..serialize_v1 import OPERATIONS, V1Json, restrictions_hash
from .common import limit_param, links_json, self_url, serializer, visible_content

RESTRICTION_DEFAULT_LIMIT = 100
RESTRICTION_MAX_LIMIT = 200
RESTRICTION_DEFAULT_EXPAND = ("restrictions.user", "restrictions.group")


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
            limit_param(ctx, RESTRICTION_DEFAULT_LIMIT, RESTRICTION_MAX_LIMIT, strict=False))


@route("v1", "GET", "/wiki/rest/api/content/<id>/restriction", "getRestrictions")
def get_restrictions(ctx: Ctx, id: str) -> Reply:
    item = visible_content(ctx, id)
    start, limit = _restriction_window(ctx)
    js = serializer(ctx)
    results = [_restriction_json(ctx, js, item, op, start=start, limit=limit) for op in OPERATIONS]
    body = {"results": results, "start": start, "limit": limit, "size": len(results),
            "restrictionsHash": restrictions_hash(item), "_links": links_json(ctx, self=self_url(ctx))}
    return Reply(body, points=2 * js.principals)


@route("v1", "GET", "/wiki/rest/api/content/<id>/restriction/byOperation", "getRestrictionsByOperation")
def get_restrictions_by_operation(ctx: Ctx, id: str) -> Reply:
    """Each operation's principals, the first 200 of each kind (as inside expanded content)."""
    item = visible_content(ctx, id)
    js = serializer(ctx)
    body: dict[str, Any] = {op: _restriction_json(ctx, js, item, op, start=0, limit=RESTRICTION_MAX_LIMIT)
                            for op in OPERATIONS}
    body["_links"] = links_json(ctx, self=self_url(ctx))
    return Reply(body, points=2 * js.principals)


@route("v1", "GET", "/wiki/rest/api/content/<id>/restriction/byOperation/<operationKey>",
       "getRestrictionsForOperation")
def get_restrictions_for_operation(ctx: Ctx, id: str, operationKey: str) -> Reply:
    op = _operation(operationKey)
    item = visible_content(ctx, id)
    start, limit = _restriction_window(ctx)
    js = serializer(ctx)
    body = _restriction_json(ctx, js, item, op, start=start, limit=limit)
    return Reply(body, points=2 * js.principals)


@route("v1", "GET", "/wiki/rest/api/content/<id>/restriction/byOperation/<operationKey>/byGroupId/<groupId>",
       "getIndividualGroupRestrictionStatusByGroupId")
def get_group_restriction_status(ctx: Ctx, id: str, operationKey: str, groupId: str) -> Reply:
    """200 when the group is named in the restriction, 404 otherwise; no body."""
    op = _operation(operationKey)
    item = visible_content(ctx, id)
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
    item = visible_content(ctx, id)
    rule = item.restrictions.get(op)
    if rule is None or account_id not in rule.user_ids:
        raise NotFound(f"User {account_id} is not in the {op} restriction of content {item.id}")
    return Reply(None)
