"""The emulator's own control API under /__emulator__/ (a prefix Confluence never uses).

Reads are GET; every change is a POST with a JSON body. Each call maps onto a function of
`mutations` or a method of the limits/auth objects, which tests may also call in-process.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from werkzeug.wrappers import Request, Response

from . import mutations
from .http import ApiError, BadRequest, NotFound, iso
from .limits import Limits
from .workspace import Workspace
from .oauth import AuthServer


class Emulator(Protocol):
    """What the control API reaches in the running emulator (app.Emulator), without importing it."""

    ws: Workspace
    limits: Limits
    auth: AuthServer
    api_tokens: dict[str, str]

_FAULT_KEYS = {"storm_429", "storm_retry_after", "error_rate_5xx", "error_5xx_retry_after", "latency_ms",
               "drop_connections", "seed", "bad_body", "bad_body_count", "bad_body_operation"}


def _content_summary(item) -> dict[str, Any]:
    return {"id": item.id, "type": item.type, "status": item.status, "title": item.title, "spaceId": item.space_id,
            "parentId": item.parent_id, "containerId": item.container_id, "version": item.version.number,
            "modifiedAt": iso(item.modified_at)}


def handle(emu: Emulator, request: Request, path: str) -> Response:
    try:
        body = _body(request)
        result = _route(emu, request.method, path.rstrip("/"), body)
        return Response(json.dumps(result, ensure_ascii=False), status=200, content_type="application/json")
    except ApiError as err:
        return Response(json.dumps({"error": err.title, "detail": err.detail}), status=err.status,
                        content_type="application/json")


def _body(request: Request) -> dict[str, Any]:
    if request.method != "POST" or not request.data:
        return {}
    try:
        body = json.loads(request.data)
    except ValueError:
        raise BadRequest("The body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object")
    return body


def _route(emu: Emulator, method: str, path: str, body: dict[str, Any]) -> Any:
    ws = emu.ws
    parts = path.strip("/").split("/")
    if method == "GET":
        if path == "/stats":
            return emu.limits.stats()
        if path == "/workspace":
            return workspace_summary(emu)
        if len(parts) == 2 and parts[0] == "content":
            item = ws.get(parts[1]) or ws.get(f"att{parts[1]}")
            if item is None:
                raise NotFound(f"No content with id {parts[1]}")
            return _content_summary(item)
        raise NotFound(f"No such control endpoint: GET /__emulator__{path}")
    if method != "POST":
        raise BadRequest("The control API changes state with POST only")
    if path == "/stats/reset":
        emu.limits.reset_stats()
        return {"ok": True}
    if path == "/faults":
        unknown = set(body) - _FAULT_KEYS - {"expire_tokens"}
        if unknown:
            raise BadRequest(f"Unknown fault keys: {', '.join(sorted(unknown))}; known: {', '.join(sorted(_FAULT_KEYS))}, expire_tokens")
        expired = emu.auth.expire_all_access_tokens() if body.get("expire_tokens") else 0
        faults = {k: v for k, v in body.items() if k in _FAULT_KEYS}
        if faults:
            try:
                emu.limits.set_faults(**faults)
            except ValueError as exc:
                raise BadRequest(str(exc)) from None
        return {"ok": True, "expired_access_tokens": expired}
    if path == "/faults/clear":
        emu.limits.clear_faults()
        return {"ok": True}
    if path == "/clock/advance":
        seconds = body.get("seconds")
        if not isinstance(seconds, (int, float)):
            raise BadRequest("clock/advance needs {\"seconds\": <number>}")
        return {"now": iso(ws.clock.advance(seconds))}
    if path == "/api-tokens":
        email, token = body.get("email"), body.get("token")
        if not email or not token or ws.user_by_email(email) is None:
            raise BadRequest("api-tokens needs the email of a site user and a token")
        emu.api_tokens[email.lower()] = token
        return {"ok": True}
    if path == "/content":
        return _content_summary(mutations.create(ws, **_kwargs(body, _CREATE_KEYS)))
    if len(parts) == 3 and parts[0] == "content":
        content_id, action = parts[1], parts[2]
        if action == "edit":
            return _content_summary(mutations.edit(ws, content_id, **_kwargs(body, _EDIT_KEYS)))
        if action == "move":
            return _content_summary(mutations.move(ws, content_id, **_kwargs(body, _MOVE_KEYS)))
        if action == "trash":
            return _content_summary(mutations.trash(ws, content_id, **_kwargs(body, {"authorId": "author_id"})))
        if action == "restore":
            return _content_summary(mutations.restore(ws, content_id, **_kwargs(body, {"authorId": "author_id"})))
        if action == "purge":
            return {"purged": mutations.purge(ws, content_id, **_kwargs(body, {"authorId": "author_id"}))}
        if action == "restrictions":
            kwargs = _kwargs(body, {"operation": "operation", "userIds": "user_ids", "groupIds": "group_ids",
                                    "authorId": "author_id"})
            operation = kwargs.pop("operation", None)
            if operation is None:
                raise BadRequest("restrictions needs operation (read or update), userIds and groupIds")
            return _content_summary(mutations.set_restriction(ws, content_id, operation, **kwargs))
    if len(parts) == 3 and parts[0] == "spaces" and parts[2] == "permissions":
        perms = mutations.change_space_permissions(ws, parts[1], **_kwargs(body, {"add": "add", "remove": "remove",
                                                                                 "authorId": "author_id"}))
        return [{"id": p.id, "principalType": p.principal_type, "principalId": p.principal_id, "key": p.key,
                 "targetType": p.target_type} for p in perms]
    if len(parts) == 3 and parts[0] == "groups" and parts[2] == "members":
        members = mutations.change_group_members(ws, parts[1], **_kwargs(body, {"add": "add", "remove": "remove",
                                                                              "authorId": "author_id"}))
        return sorted(members)
    raise NotFound(f"No such control endpoint: POST /__emulator__{path}")


_CREATE_KEYS = {"type": "type", "spaceId": "space_id", "title": "title", "body": "body", "parentId": "parent_id",
                "containerId": "container_id", "authorId": "author_id", "commentKind": "comment_kind",
                "parentCommentId": "parent_comment_id", "inlineOriginalSelection": "inline_original_selection",
                "filename": "filename", "mediaType": "media_type", "status": "status"}
_EDIT_KEYS = {"title": "title", "body": "body", "authorId": "author_id", "minorEdit": "minor_edit",
              "message": "message", "resolutionStatus": "resolution_status"}
_MOVE_KEYS = {"parentId": "parent_id", "spaceId": "space_id", "authorId": "author_id"}


def _kwargs(body: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    unknown = set(body) - set(names)
    if unknown:
        raise BadRequest(f"Unknown fields: {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(names))}")
    return {names[k]: v for k, v in body.items()}


def workspace_summary(emu: Emulator) -> dict[str, Any]:
    ws = emu.ws
    counts: dict[str, int] = {}
    for item in ws.content.values():
        key = item.type if item.type != "comment" else f"{item.comment_kind}_comment"
        counts[key] = counts.get(key, 0) + 1
    return {"site": ws.site.url, "cloudId": ws.site.cloud_id, "seed": ws.seed, "scale": ws.scale,
            "now": iso(ws.clock.now()), "spaces": len(ws.spaces), "users": len(ws.users), "groups": len(ws.groups),
            "content": counts, "auditRecords": len(ws.audit)}
