"""The page tree in v2: ancestors, descendants, direct children, folders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import serialize_v2 as ser
from ..http import BadRequest, Ctx, Reply, decode_cursor, v2_list
from ..model import Content
from ..workspace import Workspace
from ..routes import route, serve
from .listing import (CHILD_SORTS, CONTENT_ORDERS, INVALID_CURSOR, TREE_STATUSES, TREES, SortedView,
                      list_reply, single, sort_param)
from .pages import content_includes
from .viewer import Viewer, visible_by_id, visible_item


def _ancestors_reply(ctx: Ctx, id: str, type_: str, *, with_links: bool) -> Reply:
    limit = ctx.limit()
    item = visible_by_id(ctx, id, type_)
    # The nearest `limit` ancestors, top first: callers continue upwards from the first one.
    above = ctx.ws.ancestors(item)[-limit:]
    body: dict[str, Any] = {"results": [ser.ancestor_json(a) for a in above]}
    if with_links:
        body["_links"] = {"base": ctx.site_base}
    return Reply(body, points=len(above))


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


def _direct_children_reply(ctx: Ctx, id: str, type_: str) -> Reply:
    limit = ctx.limit()
    sort = sort_param(ctx, CONTENT_ORDERS, CHILD_SORTS, "child-position")
    viewer = Viewer(ctx.ws, ctx.user)
    parent = visible_item(ctx, viewer, id, type_, type_)
    kids = [c for c in ctx.ws.children(parent.id) if c.status in TREE_STATUSES]
    return list_reply(ctx, SortedView.of(kids, sort.order), sort, ser.child_json, limit, keep=viewer.can_view)


# The spec's response for folders' ancestors declares `results` only (no `_links`); nothing real
# says otherwise.
for _type, _base, _name, _links in (("page", "/pages", "Page", True),
                                    ("folder", "/folders", "Folder", False)):
    serve("v2", "GET", f"{_base}/<id>/ancestors", f"get{_name}Ancestors", _ancestors_reply, type_=_type,
          with_links=_links)
    serve("v2", "GET", f"{_base}/<id>/descendants", f"get{_name}Descendants", _descendants_reply, type_=_type)
    serve("v2", "GET", f"{_base}/<id>/direct-children", f"get{_name}DirectChildren", _direct_children_reply,
          type_=_type)


@route("v2", "GET", "/folders/<id>", "getFolderById")
def get_folder_by_id(ctx: Ctx, id: str) -> Reply:
    flags = [n for n in ("collaborators", "direct-children", "operations", "properties")
             if ctx.bool_param(f"include-{n}")]
    viewer = Viewer(ctx.ws, ctx.user)
    item = visible_item(ctx, viewer, id, "folder", "folder")
    body = ser.folder_json(ctx.ws, item)
    content_includes(ctx, viewer, item, body, f"/folders/{item.id}", flags, None)
    return single(ctx, body)
