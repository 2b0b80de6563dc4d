"""What every emulator handler shares: the request context, the reply, wire errors, cursors.

Handlers are plain functions `handler(ctx: Ctx, **path_args) -> Reply`. They never build error
JSON: they raise an `ApiError` subclass, and `render_error` turns it into the exact body of the
API family that was called (v2, v1, the gateway, or the OAuth server).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urlencode

from .model import User
from .workspace import Workspace

# --------------------------------------------------------------------------------------------
# Errors


class ApiError(Exception):
    """An error answer of the API; each subclass names its status, error code and title."""

    status = 500
    code = "INTERNAL_SERVER_ERROR"
    title = "Internal Server Error"

    def __init_subclass__(cls, *, status: int | None = None, code: str = "", title: str = "", **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if status is not None:
            cls.status, cls.code, cls.title = status, code, title

    def __init__(self, detail: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = dict(headers or {})


class BadRequest(ApiError, status=400, code="INVALID_REQUEST_PARAMETER", title="Bad Request"): ...
class Unauthorized(ApiError, status=401, code="UNAUTHORIZED", title="Unauthorized"): ...
class Forbidden(ApiError, status=403, code="FORBIDDEN", title="Forbidden"): ...
class NotFound(ApiError, status=404, code="NOT_FOUND", title="Not Found"): ...
class MethodNotAllowed(ApiError, status=405, code="METHOD_NOT_ALLOWED", title="Method Not Allowed"): ...
class Gone(ApiError, status=410, code="GONE", title="Gone"): ...
class TooManyRequests(ApiError, status=429, code="TOO_MANY_REQUESTS", title="Too Many Requests"): ...
class ServiceUnavailable(ApiError, status=503, code="SERVICE_UNAVAILABLE", title="Service Unavailable"): ...


class ScopeMismatch(ApiError, status=401, code="UNAUTHORIZED", title="Unauthorized; scope does not match"):
    """The gateway's answer when the token lacks a scope the operation needs."""


class OAuthError(ApiError):
    """An error of Atlassian's auth server: `{"error", "error_description"}`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error


_V1_EXCEPTION = {
    400: "com.atlassian.confluence.api.service.exceptions.api.BadRequestException",
    401: "com.atlassian.confluence.api.service.exceptions.AuthenticationRequiredException",
    403: "com.atlassian.confluence.api.service.exceptions.PermissionException",
    404: "com.atlassian.confluence.api.service.exceptions.api.NotFoundException",
    410: "com.atlassian.confluence.api.service.exceptions.GoneException",
}


def render_error(err: ApiError, family: str) -> tuple[int, dict[str, str], Any]:
    """The body Confluence sends for `err` on API `family` (v2 | v1 | gateway | oauth)."""
    headers = dict(err.headers)
    if isinstance(err, OAuthError):
        return err.status, headers, {"error": err.error, "error_description": err.detail}
    if isinstance(err, ScopeMismatch) or (family == "gateway" and err.status == 401):
        headers.setdefault("X-Failure-Category", "FAILURE_CLIENT_SCOPE_CHECK" if isinstance(err, ScopeMismatch) else "FAILURE_CLIENT_AUTH_MISMATCH")
        message = err.title if isinstance(err, ScopeMismatch) else "Unauthorized"
        return err.status, headers, {"code": err.status, "message": message}
    if family == "v1":
        name = _V1_EXCEPTION.get(err.status, "com.atlassian.confluence.api.service.exceptions.ServiceException")
        # The recorded bad-CQL 400 says authorized, valid and successful, odd as that is.
        ok = err.status == 400
        body = {
            "statusCode": err.status,
            "data": {"authorized": err.status not in (401, 403), "valid": ok, "errors": [], "successful": ok},
            "message": f"{name}: {err.detail or ''}",
        }
        return err.status, headers, body
    return err.status, headers, {"errors": [{"status": err.status, "code": err.code, "title": err.title,
                                             "detail": err.detail}]}


# --------------------------------------------------------------------------------------------
# Context and reply


@dataclass
class Reply:
    body: Any = None  # JSON-able, or bytes (sent as is), or None (empty body), or a function making bytes
    # (called once the workspace lock is released: a file's bytes take a while to make)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    points: int = 0  # API points this response costs beyond the base point (objects returned)


@dataclass
class Ctx:
    """One API request, parsed. `params` keeps repeated keys (werkzeug MultiDict)."""

    ws: Workspace
    user: User | None  # None: anonymous
    method: str
    path: str  # the API path as the spec names it: "/pages/123" (v2) or "/wiki/rest/api/search" (v1)
    params: Any  # werkzeug MultiDict
    body: Any = None  # parsed JSON body, if any
    api: str = "v2"  # v2 | v1
    site_base: str = ""  # https://site/wiki, the `_links.base` value
    operation_id: str = ""
    gateway: bool = False  # came through api.atlassian.com/ex/confluence (OAuth), not the site host

    # -- parameters, validated the way Confluence validates them --------------------------
    def raw(self, name: str) -> str | None:
        value = self.params.get(name)
        return None if value is None else str(value)

    def int_param(self, name: str, default: int | None = None, *, minimum: int | None = None,
                  maximum: int | None = None) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise BadRequest(f"Invalid value for parameter '{name}': '{value}' is not an integer") from None
        if minimum is not None and number < minimum:
            raise BadRequest(f"Invalid value for parameter '{name}': must be at least {minimum}")
        if maximum is not None and number > maximum:
            raise BadRequest(f"Invalid value for parameter '{name}': must be at most {maximum}")
        return number

    def limit(self, default: int = 25, maximum: int = 250) -> int:
        return self.int_param("limit", default, minimum=1, maximum=maximum)

    def bool_param(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise BadRequest(f"Invalid value for parameter '{name}': '{value}' is not a boolean")

    def enum_param(self, name: str, allowed: Iterable[str], default: str | None = None) -> str | None:
        value = self.raw(name)
        if value is None or value == "":
            return default
        allowed = tuple(allowed)
        if value not in allowed:
            raise BadRequest(f"Invalid value for parameter '{name}': '{value}' is not one of {', '.join(allowed)}")
        return value

    def list_param(self, name: str, *, max_items: int | None = None, allowed: Iterable[str] | None = None,
                   integers: bool = False) -> list[str]:
        """A comma-separated (or repeated) list parameter."""
        values: list[str] = []
        for raw in self.params.getlist(name):
            values.extend(v.strip() for v in str(raw).split(",") if v.strip())
        if max_items is not None and len(values) > max_items:
            raise BadRequest(f"Invalid value for parameter '{name}': at most {max_items} values are allowed")
        if allowed is not None:
            allowed = tuple(allowed)
            for v in values:
                if v not in allowed:
                    raise BadRequest(f"Invalid value for parameter '{name}': '{v}' is not one of {', '.join(allowed)}")
        if integers:
            for v in values:
                if not v.isdigit():
                    raise BadRequest(f"Invalid value for parameter '{name}': '{v}' is not an integer")
        return values


# --------------------------------------------------------------------------------------------
# Cursors: opaque base64url JSON that says where to resume, bound to the request's filters


def _fingerprint(ctx: Ctx) -> str:
    items = sorted((k, v) for k in ctx.params.keys() for v in ctx.params.getlist(k) if k not in ("cursor", "limit"))
    return hashlib.sha1(repr((ctx.path, items)).encode()).hexdigest()[:10]


def encode_cursor(ctx: Ctx, position: Mapping[str, Any]) -> str:
    payload = {**position, "f": _fingerprint(ctx)}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(ctx: Ctx) -> dict[str, Any] | None:
    """The position a request's `cursor` points at, or None on the first page."""
    token = ctx.raw("cursor")
    if not token:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(payload, dict):
            raise ValueError
    except ValueError:
        raise BadRequest("Invalid cursor") from None
    if payload.pop("f", None) != _fingerprint(ctx):
        raise BadRequest("The cursor does not belong to this request: keep the other parameters unchanged")
    return payload


def next_link(ctx: Ctx, cursor: str) -> str:
    """Site-relative next URL (`/wiki/api/v2/...`), carrying every other query parameter."""
    pairs = [(k, v) for k in ctx.params.keys() for v in ctx.params.getlist(k) if k != "cursor"]
    pairs.append(("cursor", cursor))
    prefix = "/wiki/api/v2" if ctx.api == "v2" else ""
    return f"{prefix}{ctx.path}?{urlencode(pairs)}"


def v2_list(ctx: Ctx, items: Iterable[Any], serialize: Callable[[Any], dict], limit: int,
            position_of: Callable[[Any], Mapping[str, Any]], *, link_header: bool = True,
            points_per_item: int = 1) -> Reply:
    """One page of a v2 cursor listing.

    `items` must already start after the position decoded from the request's cursor (the
    handler does that with `decode_cursor`) and be in the listing's order. Reads one item past
    `limit` to know whether there is a next page; the last page carries no next link.
    `points_per_item`: 1 for core objects (pages, spaces, attachments...), 2 for identity
    objects (users, groups, permissions), per the points model of FACTS.md §6.
    """
    page: list[Any] = []
    more = False
    for item in items:
        if len(page) == limit:
            more = True
            break
        page.append(item)
    body: dict[str, Any] = {"results": [serialize(i) for i in page], "_links": {"base": ctx.site_base}}
    headers: dict[str, str] = {}
    links = []
    if more:
        nxt = next_link(ctx, encode_cursor(ctx, position_of(page[-1])))
        body["_links"] = {"next": nxt, "base": ctx.site_base}
        links.append(f'<{nxt}>; rel="next"')
    links.append(f'<{ctx.site_base}>; rel="base"')
    if link_header:
        headers["Link"] = ", ".join(links)
    return Reply(body, headers=headers, points=len(page) * points_per_item)


def take(items: Iterator[Any], n: int) -> list[Any]:
    out = []
    for item in items:
        out.append(item)
        if len(out) == n:
            break
    return out


# --------------------------------------------------------------------------------------------
# Formatting


def iso(ts: datetime | None) -> str | None:
    """v2 timestamps: UTC with milliseconds and Z, as Confluence Cloud sends them."""
    if ts is None:
        return None
    ts = ts.astimezone(timezone.utc)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def epoch_ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)
