"""Attachment download: a redirect to a signed, expiring path that serves the bytes."""

from __future__ import annotations

import hashlib

from ..files import file_maker
from ..http import Ctx, NotFound, Reply, Unauthorized, epoch_ms
from ..workspace import Workspace
from ..routes import route
from ..serialize_v1 import CONTEXT
from ..serialize_v2 import download_link, version_at
from .common import caller_id

DOWNLOAD_TOKEN_TTL_S = 600


def _download_token(ws: Workspace, container_id: str, filename: str, version: int, expires_ms: int) -> str:
    """What the redirect signs, as Atlassian's media URLs carry a signed token: the file, its
    version and an expiry, so the bytes URL needs no other credential."""
    signed = f"{ws.seed}/{ws.site.cloud_id}/{container_id}/{filename}/{version}/{expires_ms}"
    return f"{expires_ms}.{hashlib.sha256(signed.encode()).hexdigest()[:32]}"


@route("v1", "GET", "/wiki/rest/api/content/<id>/child/attachment/<attachmentId>/download",
       "downloadAttatchment")
def download_attachment(ctx: Ctx, id: str, attachmentId: str) -> Reply:
    """302 to the file: /wiki/download/attachments/{containerId}/{filename}?version=N&...&token=..."""
    statuses = ctx.list_param("status") or ["current"]
    number = ctx.int_param("version", None, minimum=1)
    attachment_id = attachmentId if attachmentId.startswith("att") else f"att{attachmentId}"
    item = ctx.ws.get(attachment_id, "attachment")
    if (item is None or item.container_id != id or item.status not in statuses
            or not ctx.ws.can_view(caller_id(ctx), item)):
        raise NotFound(f"No attachment {attachmentId} with status {','.join(statuses)} on content {id}")
    version = item.version if number is None else version_at(item, number)
    if version is None:
        raise NotFound(f"Attachment {attachment_id} has no version {number}; "
                       f"its latest is {item.version.number}")
    expires_ms = epoch_ms(ctx.ws.clock.now()) + DOWNLOAD_TOKEN_TTL_S * 1000
    token = _download_token(ctx.ws, id, item.title, version.number, expires_ms)
    location = f"{CONTEXT}{download_link(item, version)}&token={token}"
    return Reply(None, status=302, headers={"Location": location})


@route("v1", "GET", "/wiki/download/attachments/<container_id>/<path:filename>", "downloadAttachmentBytes")
def download_attachment_bytes(ctx: Ctx, container_id: str, filename: str) -> Reply:
    """The file where the download redirect points (not a REST operation). Only the redirect's
    signed token opens it: since CHANGE-2735/CHANGE-3007 Cloud answers this servlet path with
    401 for API-token basic auth, so a client must go through the REST download."""
    token = ctx.raw("token") or ""
    version = ctx.int_param("version", None, minimum=1)
    expires, _, _ = token.partition(".")
    if (version is None or not expires.isdigit() or int(expires) < epoch_ms(ctx.ws.clock.now())
            or token != _download_token(ctx.ws, container_id, filename, version, int(expires))):
        raise Unauthorized("Attachment files are served only through GET /wiki/rest/api/content/{id}/child/"
                           "attachment/{attachmentId}/download, which redirects here with a signed token",
                           headers={"WWW-Authenticate": f'OAuth realm="{ctx.site_base}"'})
    named = [a for a in ctx.ws.attachments_of(container_id) if a.title == filename]
    item = next((a for a in named if a.status != "trashed"), named[0] if named else None)
    if item is None:
        raise NotFound(f"No attachment {filename!r} on content {container_id}")
    return Reply(file_maker(item, ctx.ws.seed),
                 content_type=item.media_type or "application/octet-stream", points=1)
