"""v2 footer and inline comments: site-wide, per container, children, by id."""

from __future__ import annotations

from typing import Sequence

from .. import serialize_v2 as ser
from ..http import Ctx, NotFound, Reply
from ..model import Content
from ..routes import serve
from .listing import (BULK_BODY_FORMATS, CONTENT_ORDERS, DATE_SORTS, PROPERTY_ORDERS, SINGLE_BODY_FORMATS,
                      SortedView, content_view, include, list_reply, single, sort_param, status_param,
                      version_param)
from .pages import content_includes, properties_path
from .viewer import Viewer, visible_by_id, visible_item


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
    container = visible_by_id(ctx, id, container_type)
    roots = [c for c in ctx.ws.comments_of(container.id)
             if c.comment_kind == kind and c.parent_comment_id is None and c.status in statuses
             and (not resolutions or (c.resolution_status or "open") in resolutions)]
    return list_reply(ctx, SortedView.of(roots, sort.order), sort,
                      lambda c: ser.comment_json(ctx.ws, c, shape="container", body_format=body_format),
                      limit)


PAGE_COMMENT_STATUSES = ("current", "archived", "trashed", "deleted", "historical", "draft")
BLOGPOST_COMMENT_STATUSES = ("current", "deleted", "trashed", "historical", "draft")


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
    content_includes(ctx, viewer, item, body, api_path, flags, body_format)
    return single(ctx, body)


_PAGE, _BLOGPOST = ("page", PAGE_COMMENT_STATUSES), ("blogpost", BLOGPOST_COMMENT_STATUSES)
for _kind, _name in (("footer", "Footer"), ("inline", "Inline")):
    serve("v2", "GET", f"/{_kind}-comments", f"get{_name}Comments", _global_comments, kind=_kind)
    for _base, _operation, (_type, _statuses) in (("/pages", f"getPage{_name}Comments", _PAGE),
                                                  ("/blogposts", f"getBlogPost{_name}Comments", _BLOGPOST)):
        serve("v2", "GET", f"{_base}/<id>/{_kind}-comments", _operation, _container_comments,
              container_type=_type, kind=_kind, allowed_statuses=_statuses)
    serve("v2", "GET", f"/{_kind}-comments/<id>/children", f"get{_name}CommentChildren", _comment_children,
          kind=_kind)
    serve("v2", "GET", f"/{_kind}-comments/<comment_id>", f"get{_name}CommentById", _comment_by_id,
          kind=_kind)
