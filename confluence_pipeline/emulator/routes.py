"""The routing table: every emulated Confluence operation, registered by the module that serves it.

`@route("v2", "GET", "/pages/<id>", "getPageById")` registers a handler for the v2 path as the
spec writes it (relative to /wiki/api/v2), with werkzeug's `<name>` placeholders. v1 paths are
written in full (`/wiki/rest/api/search`). The operation id is the spec's `operationId`: the app
uses it to enforce OAuth scopes (`x-atlassian-oauth2-scopes`) and to count requests and points.

`serve(...)` registers one function for several operations that differ only in an argument
(pages and blog posts, footer and inline comments), from a table in the serving module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .http import Ctx, Reply

Handler = Callable[..., Reply]


@dataclass(frozen=True)
class Route:
    api: str  # v2 | v1
    method: str
    path: str
    operation_id: str
    handler: Handler


ROUTES: list[Route] = []


def route(api: str, method: str, path: str, operation_id: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(api, method.upper(), path, operation_id, handler))
        return handler

    return register


def serve(api: str, method: str, path: str, operation_id: str, handler: Handler, **bound: Any) -> None:
    """Register `handler(ctx, *<the path's placeholders>, **bound)` for one operation: placeholder
    names follow the spec (id, page-id, comment-id), so they are passed by position."""

    def serve_operation(ctx: Ctx, **placeholders: str) -> Reply:
        return handler(ctx, *placeholders.values(), **bound)

    serve_operation.__name__ = serve_operation.__qualname__ = f"{handler.__name__}[{operation_id}]"
    serve_operation.__module__ = handler.__module__
    ROUTES.append(Route(api, method.upper(), path, operation_id, serve_operation))


__all__ = ["Ctx", "Reply", "Route", "ROUTES", "route", "serve"]
