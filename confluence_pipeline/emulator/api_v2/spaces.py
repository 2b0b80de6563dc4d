"""v2 spaces and their permissions, and the space JSON."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from .. import serialize_v2 as ser
from ..http import Ctx, Reply, epoch_ms, iso
from ..model import Label, Space
from ..routes import route
from .listing import (LABEL_ORDERS, PERMISSION_ORDER, SPACE_ORDERS, SPACE_SORTS, SPACE_TYPES, Sort,
                      SortedView, include, list_reply, single, sort_param, text_param)
from .viewer import Viewer, operations_for, visible_space


def space_icon_json(space: Space) -> dict[str, str]:
    modified = epoch_ms(space.created_at)
    icon = {"path": f"/wiki/download/attachments/{space.id}/{quote(space.key)}-default"
                    f"?version=1&modificationDate={modified}&cacheVersion=1&api=v2"}
    if space.type != "personal":  # the spec: apiDownloadLink is only returned for non-personal spaces
        icon["apiDownloadLink"] = f"/wiki/rest/api/content/{space.id}/child/attachment/att{space.id}/download"
    return icon


def space_description_json(space: Space, description_format: str) -> dict[str, Any]:
    value = space.description if description_format == "plain" else f"<p>{html.escape(space.description)}</p>"
    return {description_format: {"representation": description_format, "value": value}}


def space_json(space: Space, *, description_format: str | None, include_icon: bool,
               single: bool) -> dict[str, Any]:
    """SpaceBulk, or SpaceSingle without include blocks. Lists send `description`/`icon` as null
    when not asked for; the single GET sends `description: {}` (REAL.md §3) and, as the spec
    says, no `icon` unless asked for (no recording shows that case)."""
    if description_format is not None:
        description: Any = space_description_json(space, description_format)
    else:
        description = {} if single else None
    out = {
        "id": space.id,
        "key": space.key,
        "name": space.name,
        "type": space.type,
        "status": space.status,
        "authorId": space.author_id,
        "spaceOwnerId": space.space_owner_id or space.author_id,
        "createdAt": iso(space.created_at),
        "homepageId": space.homepage_id,
        "description": description,
        "icon": space_icon_json(space) if include_icon else None,
        "_links": {"webui": f"/spaces/{space.key}"},
        "currentActiveAlias": space.key,
    }
    if single and not include_icon:
        del out["icon"]
    return out



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
    return list_reply(ctx, view, sort, lambda s: space_json(
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
    body = space_json(space, description_format=description_format, include_icon=include_icon,
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
