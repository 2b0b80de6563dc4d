"""What the v1 operations share: the caller, serializers, links, parameters and offset listings
(start/limit/size, `_links.next` while more remain)."""

from __future__ import annotations

from typing import Any, Sequence
from urllib.parse import urlencode

from ..http import BadRequest, Ctx, NotFound
from ..model import Content
from ..serialize_v1 import CONTEXT, V1Json

SEARCH_DEFAULT_LIMIT = 25
SEARCHABLE_STATUSES = frozenset({"current", "archived"})


def caller_id(ctx: Ctx) -> str | None:
    return ctx.user.account_id if ctx.user is not None else None


def serializer(ctx: Ctx) -> V1Json:
    return V1Json(ctx.ws, ctx.site_base, caller_id(ctx))


def api_path(ctx: Ctx) -> str:
    """The request path as v1 links write it, without the /wiki context: /rest/api/search."""
    return ctx.path.removeprefix(CONTEXT)


def self_url(ctx: Ctx) -> str:
    return f"{ctx.site_base}{api_path(ctx)}"


def links_json(ctx: Ctx, next_url: str | None = None, **extra: str) -> dict[str, str]:
    links = {"base": ctx.site_base, "context": CONTEXT}
    if next_url is not None:
        links["next"] = next_url
    links.update(extra)
    return links


def pairs(ctx: Ctx, leave_out: Sequence[str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in ctx.params.items(multi=True) if k not in leave_out]


def required_param(ctx: Ctx, name: str) -> str:
    value = ctx.raw(name)
    if not value:
        raise BadRequest(f"The query parameter '{name}' is required")
    return value


def limit_param(ctx: Ctx, default: int, maximum: int, *, strict: bool) -> int:
    """`limit`, at least 1; above `maximum` a 400 when `strict`, else capped silently."""
    if strict:
        return ctx.int_param("limit", default, minimum=1, maximum=maximum)
    return min(ctx.int_param("limit", default, minimum=1), maximum)


def offset_page(ctx: Ctx, items: Sequence[Any], *, default_limit: int, max_limit: int, strict: bool,
                 total: bool = False) -> tuple[list[Any], dict[str, Any]]:
    """One page of `items` and the envelope fields that follow `results`."""
    start = ctx.int_param("start", 0, minimum=0)
    limit = limit_param(ctx, default_limit, max_limit, strict=strict)
    page = list(items[start:start + limit])
    envelope: dict[str, Any] = {"start": start, "limit": limit, "size": len(page)}
    if total:
        envelope["totalSize"] = len(items)
    next_url = None
    if start + limit < len(items):
        query = urlencode([("next", "true"), *pairs(ctx, ("next", "start", "limit")),
                           ("limit", limit), ("start", start + limit)])
        next_url = f"{api_path(ctx)}?{query}"
    envelope["_links"] = links_json(ctx, next_url, self=self_url(ctx))
    return page, envelope


def visible_content(ctx: Ctx, content_id: str) -> Content:
    item = ctx.ws.get(content_id)
    if item is None and content_id.isdigit():
        item = ctx.ws.get(f"att{content_id}")
    if item is None or item.status not in SEARCHABLE_STATUSES or not ctx.ws.can_view(caller_id(ctx), item):
        raise NotFound(f"No content found with id: ContentId{{id={content_id}}}")
    return item
