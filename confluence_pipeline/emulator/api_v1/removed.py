"""The v1 content reads the current spec no longer lists (FACTS.md §11, errors-observed-collection
.json). Through the OAuth gateway they answer 410 Gone; with basic auth on the site they are
still served, with the deprecation Warning real Cloud sent on them (kovetskiy/mark#493)."""

from __future__ import annotations

from typing import Any, Sequence

from ..http import BadRequest, Ctx, Gone, NotFound, Reply
from ..model import Content
from ..routes import route
from ..serialize_v1 import parse_expand
from .common import caller_id, offset_page, serializer, visible_content

CONTENT_DEFAULT_LIMIT = 25
CONTENT_MAX_LIMIT = 100  # Cloud's cap on /content with body expansions; silently applied
SPACE_DEFAULT_LIMIT = 25
SPACE_MAX_LIMIT = 250
CHILD_DEFAULT_LIMIT = 25
CHILD_MAX_LIMIT = 200
DEPRECATED_WARNING = '299 - "Deprecated API, will be removed on Mon, 2 Dec 2024 00:00:00 GMT"'
CONTENT_LIST_TYPES = ("page", "blogpost")
CONTENT_STATUSES = ("current", "trashed", "draft", "archived", "any")

GONE_MESSAGE = "This deprecated endpoint has been removed."


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
    page, envelope = offset_page(ctx, items, default_limit=default_limit, max_limit=max_limit, strict=False)
    js = serializer(ctx)
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
        viewer = caller_id(ctx)
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
    if item is None or item.status not in statuses or not ctx.ws.can_view(caller_id(ctx), item):
        raise NotFound(f"No content found with id: ContentId{{id={id}}}")
    return _served(serializer(ctx).content(item, parse_expand(ctx.list_param("expand"))), 1)


@route("v1", "GET", "/wiki/rest/api/content/<id>/child/comment", "getContentComments")
def get_content_comments(ctx: Ctx, id: str) -> Reply:
    """Comments of a page or blog post: top-level ones, or every reply too with `depth=all`;
    `location` filters footer / inline / resolved."""
    _deprecated_read(ctx)
    container = visible_content(ctx, id)
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
    container = visible_content(ctx, id)
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
    viewer = caller_id(ctx)
    spaces = sorted((sp for sp in ctx.ws.spaces.values()
                     if (not keys or sp.key in keys) and (type_ is None or sp.type == type_)
                     and (status is None or sp.status == status) and ctx.ws.can_read_space(viewer, sp)),
                    key=lambda sp: sp.key)
    page, envelope = offset_page(ctx, spaces, default_limit=SPACE_DEFAULT_LIMIT, max_limit=SPACE_MAX_LIMIT,
                                  strict=False)
    js = serializer(ctx)
    return _served({"results": [js.space(sp) for sp in page], **envelope}, len(page))
