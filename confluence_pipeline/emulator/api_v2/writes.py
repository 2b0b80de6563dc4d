"""The writes the connector's tests use: create a page, create a footer comment."""

from __future__ import annotations

from typing import Any

from .. import mutations
from .. import serialize_v2 as ser
from ..http import BadRequest, Ctx, NotFound, Reply, Unauthorized
from ..model import Content
from ..routes import route
from .listing import single
from .viewer import Viewer


def _write_body(ctx: Ctx) -> dict[str, Any]:
    if not isinstance(ctx.body, dict):
        raise BadRequest("The request body must be a JSON object")
    return ctx.body


def _storage_value(body: dict[str, Any]) -> str:
    """The storage XHTML of a write body (`{representation, value}` or `{storage: {...}}`)."""
    value = body.get("body") or {}
    if isinstance(value, dict) and "storage" in value:
        value = value["storage"]
    if not isinstance(value, dict):
        raise BadRequest("'body' must be {\"representation\": \"storage\", \"value\": \"<p>...</p>\"}")
    if value.get("representation", "storage") != "storage":
        raise BadRequest("Only the 'storage' representation can be written to the emulator; "
                         "convert the body first")
    text = value.get("value", "")
    if not isinstance(text, str):
        raise BadRequest("'body.value' must be a string")
    return text


def _caller_id(ctx: Ctx) -> str:
    if ctx.user is None:
        raise Unauthorized("Anonymous callers cannot create content: authenticate first")
    return ctx.user.account_id


@route("v2", "POST", "/pages", "createPage")
def create_page(ctx: Ctx) -> Reply:
    """POST /pages answers 200 (not 201); without `parentId` the page goes under the homepage,
    with root-level=true to the space root."""
    root_level = ctx.bool_param("root-level")
    ctx.bool_param("embedded")
    ctx.bool_param("private")
    request = _write_body(ctx)
    author = _caller_id(ctx)
    viewer = Viewer(ctx.ws, ctx.user)
    space = ctx.ws.spaces.get(str(request.get("spaceId")))
    if space is None or not viewer.can_read_space(space):
        raise BadRequest(f"'spaceId' {request.get('spaceId')!r} does not name a space you can see")
    status = request.get("status", "current")
    if status not in ("current", "draft"):
        raise BadRequest("'status' must be 'current' or 'draft'")
    title = request.get("title") or ""
    if status == "current" and (not isinstance(title, str) or not title.strip()):
        raise BadRequest("'title' is required for a published page")
    parent_id = request.get("parentId")
    if parent_id is not None:
        if root_level:
            raise BadRequest("Give either 'parentId' or root-level=true, not both")
        parent = ctx.ws.get(str(parent_id))
        if (parent is None or parent.type not in ("page", "folder") or parent.space_id != space.id
                or not viewer.can_view(parent)):
            raise BadRequest(f"'parentId' {parent_id!r} is not a page or folder of space {space.id} "
                             "that you can see")
    item = mutations.create(ctx.ws, type="page", space_id=space.id, title=title, body=_storage_value(request),
                            parent_id=str(parent_id) if parent_id is not None else None, author_id=author,
                            status=status)
    if root_level and item.parent_id is not None:
        ctx.ws.reindex(item, _to_space_root)
    return single(ctx, ser.page_or_blogpost_json(ctx.ws, item, body_format="storage"))


def _to_space_root(item: Content) -> None:
    item.parent_id = item.parent_type = None


@route("v2", "POST", "/footer-comments", "createFooterComment")
def create_footer_comment(ctx: Ctx) -> Reply:
    """POST /footer-comments answers 201 with a site-relative Location."""
    request = _write_body(ctx)
    author = _caller_id(ctx)
    viewer = Viewer(ctx.ws, ctx.user)
    targets = [k for k in ("pageId", "blogPostId", "parentCommentId") if request.get(k) is not None]
    if len(targets) != 1:
        raise BadRequest("Give exactly one of 'pageId', 'blogPostId' (a new comment) "
                         "or 'parentCommentId' (a reply)")
    field = targets[0]
    expected = {"pageId": "page", "blogPostId": "blogpost", "parentCommentId": "comment"}[field]
    target = ctx.ws.get(str(request[field]), expected)
    if target is None or not viewer.can_view(target) or (expected == "comment"
                                                         and target.comment_kind != "footer"):
        raise NotFound()
    storage = _storage_value(request)
    container = ctx.ws.container_of(target) if expected == "comment" else target
    if container is None:
        raise NotFound()
    item = mutations.create(ctx.ws, type="comment", title=f"Re: {container.title}", body=storage,
                            container_id=container.id, author_id=author, comment_kind="footer",
                            parent_comment_id=target.id if expected == "comment" else None)
    body = ser.comment_json(ctx.ws, item, shape="global", body_format="storage")
    del body["resolutionStatus"]  # the recorded 201 carries none; lists and GETs do
    reply = single(ctx, body)
    reply.status = 201
    reply.headers["Location"] = f"/wiki/api/v2/footer-comments/{item.id}"
    return reply
