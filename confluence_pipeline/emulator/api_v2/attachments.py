"""v2 attachments: site-wide, per container, by id."""

from __future__ import annotations

from typing import Any

from .. import serialize_v2 as ser
from ..http import Ctx, NotFound, Reply
from ..routes import route, serve
from .listing import (CONTENT_ORDERS, DATE_SORTS, SortedView, attachment_path_id, content_view, list_reply,
                      single, sort_param, status_param, text_param, version_param)
from .pages import content_includes
from .viewer import Viewer, visible_by_id


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
    container = visible_by_id(ctx, id, container_type)
    found = [a for a in ctx.ws.attachments_of(container.id)
             if a.status in statuses and all(getattr(a, f) == v for f, v in match)]
    return list_reply(ctx, SortedView.of(found, sort.order), sort, ser.attachment_json, limit)


for _type, _path, _operation in (("page", "/pages/<id>/attachments", "getPageAttachments"),
                                 ("blogpost", "/blogposts/<id>/attachments", "getBlogpostAttachments")):
    serve("v2", "GET", _path, _operation, _container_attachments, container_type=_type)


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
    content_includes(ctx, viewer, item, body, f"/attachments/{item.id}", flags, None)
    return single(ctx, body)
