"""v2 pages and blog posts: listings, by id, labels, properties, versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from .. import serialize_v2 as ser
from ..http import Ctx, Reply
from ..model import Content, Property
from ..routes import route, serve
from .listing import (BLOGPOST_SORTS, BULK_BODY_FORMATS, CONTENT_ORDERS, EMPTY_VIEW, LABEL_ORDERS,
                      LABEL_SORTS, PAGE_SORTS, PROPERTY_ORDERS, SINGLE_BODY_FORMATS, TREE_STATUSES,
                      VERSION_ORDERS, Sort, SortedView, content_view, include, list_reply, single, sort_param,
                      status_param, text_param, version_param)
from .viewer import Viewer, operations_for, visible_by_id, visible_item, visible_space


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


@dataclass(frozen=True)
class _Listing:
    """What differs between the page and the blog post listings."""

    type: str
    sorts: Sequence[str]
    statuses: tuple[str, ...]
    default_statuses: tuple[str, ...]


_PAGES = _Listing("page", PAGE_SORTS, ("current", "archived", "deleted", "trashed"), ("current", "archived"))
_BLOGPOSTS = _Listing("blogpost", BLOGPOST_SORTS, ("current", "deleted", "trashed"), ("current",))


def _content_listing(ctx: Ctx, space_id: str | None = None, *, listing: _Listing) -> Reply:
    """GET /pages, /blogposts (site-wide) and /spaces/{id}/pages, /spaces/{id}/blogposts."""
    limit = ctx.limit()
    pages = listing.type == "page"
    if space_id is None:
        ids = ctx.list_param("id", max_items=250, integers=True)
        spaces = _space_ids(ctx)
    depth = ctx.enum_param("depth", ("all", "root"), "all") if pages and space_id is not None else "all"
    sort = sort_param(ctx, CONTENT_ORDERS, listing.sorts, "id")
    statuses = status_param(ctx, listing.statuses, listing.default_statuses)
    title = text_param(ctx, "title")
    body_format = ctx.enum_param("body-format", BULK_BODY_FORMATS)
    subtype = ctx.enum_param("subtype", ("live", "page")) if pages and space_id is None else None
    viewer = Viewer(ctx.ws, ctx.user)
    match: tuple[tuple[str, Any], ...] = (("title", title),) if title is not None else ()
    if space_id is not None:
        space = visible_space(ctx, viewer, space_id)
        if depth == "root":
            match += (("parent_id", None),)
        view = content_view(ctx.ws, listing.type, sort.field, statuses=statuses, spaces=(space.id,),
                            match=match)
    elif subtype == "live":
        view = EMPTY_VIEW
    else:
        view = _listing_view(ctx, listing.type, sort, statuses, ids=ids, spaces=spaces, match=match)
    to_json = ser.page_or_blogpost_json
    return list_reply(ctx, view, sort, lambda c: to_json(ctx.ws, c, body_format=body_format), limit,
                      keep=viewer.can_view)


serve("v2", "GET", "/pages", "getPages", _content_listing, listing=_PAGES)
serve("v2", "GET", "/spaces/<id>/pages", "getPagesInSpace", _content_listing, listing=_PAGES)
serve("v2", "GET", "/blogposts", "getBlogPosts", _content_listing, listing=_BLOGPOSTS)
serve("v2", "GET", "/spaces/<id>/blogposts", "getBlogPostsInSpace", _content_listing, listing=_BLOGPOSTS)


def properties_path(item: Content, api_path: str) -> str:
    # Comment properties live under /comments/{id}, not under /footer-comments or /inline-comments.
    return f"/comments/{item.id}/properties" if item.type == "comment" else f"{api_path}/properties"


def _collaborators(item: Content) -> list[dict[str, str]]:
    return [{"accountId": a} for a in dict.fromkeys(v.author_id for v in item.versions)]


def content_includes(ctx: Ctx, viewer: Viewer, item: Content, body: dict[str, Any], api_path: str,
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
    body = ser.page_or_blogpost_json(ctx.ws, item, body_format=body_format, include_version=include_version,
                                     version=version)
    kind = "pages" if type_ == "page" else "blogposts"
    content_includes(ctx, viewer, item, body, f"/{kind}/{item.id}", flags, body_format)
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


def _of_item(ctx: Ctx, id: str, *, type_: str, reply: Callable[[Ctx, Content], Reply]) -> Reply:
    return reply(ctx, visible_by_id(ctx, id, type_))


for _path, _operation, _type, _reply in (
        ("/pages/<id>/labels", "getPageLabels", "page", _labels_reply),
        ("/blogposts/<id>/labels", "getBlogPostLabels", "blogpost", _labels_reply),
        ("/pages/<page_id>/properties", "getPageContentProperties", "page", _properties_reply),
        ("/blogposts/<blogpost_id>/properties", "getBlogpostContentProperties", "blogpost",
         _properties_reply),
        ("/pages/<id>/versions", "getPageVersions", "page", _versions_reply),
        ("/blogposts/<id>/versions", "getBlogPostVersions", "blogpost", _versions_reply)):
    serve("v2", "GET", _path, _operation, _of_item, type_=_type, reply=_reply)


@route("v2", "GET", "/labels", "getLabels")
def get_labels(ctx: Ctx) -> Reply:
    limit = ctx.limit()
    label_ids = {str(int(i)) for i in ctx.list_param("label-id", integers=True)}
    prefixes = set(ctx.list_param("prefix"))
    sort = sort_param(ctx, LABEL_ORDERS, LABEL_SORTS, "id")
    labels = [lb for lb in ctx.ws.labels.values()
              if (not label_ids or lb.id in label_ids) and (not prefixes or lb.prefix in prefixes)]
    return list_reply(ctx, SortedView.of(labels, sort.order), sort, ser.label_json, limit)
