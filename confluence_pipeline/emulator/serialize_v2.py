"""Workspace entities as Confluence Cloud v2 JSON, field for field as real responses carry them.

Where the recordings in tests/recordings/real/ differ from the OpenAPI document, these
functions follow the recordings (REAL.md): `parentId`/`parentType`/`lastOwnerId` present as
null, `subtype` absent, `version.ncsStepVersion` on pages and blog posts only, `body: {}` on
pages and blog posts without a body format but no `body` key on comments, `resolutionStatus`
on footer comments, four inline-comment property keys, `icon`/`description` null in space
lists, `currentActiveAlias`, `edituiv2`, attachment `downloadLink` with `cacheVersion=1`.

The emulator stores storage format only; every other body format is rendered from it by
render/.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Any, Callable
from urllib.parse import quote, quote_plus

from .http import epoch_ms, iso
from .render import render
from .model import Content, Label, Property, SpacePermission, Version
from .workspace import Workspace

INCLUDE_LIMIT = 50  # every include-* block returns at most this many items

_MEDIA_TYPE_DESCRIPTIONS = {
    "text/plain": "Text File",
    "application/pdf": "PDF Document",
    "image/png": "PNG Image",
    "image/jpeg": "JPEG Image",
    "image/gif": "GIF Image",
    "application/zip": "Zip Archive",
    "application/json": "JSON File",
}


# --------------------------------------------------------------------------------------------
# Links


def tiny_link(numeric_id: int) -> str:
    """Confluence's `/x/...` short link: the id's little-endian bytes in base64, trailing zeros cut."""
    raw = base64.b64encode(numeric_id.to_bytes(8, "little")).decode()
    return "/x/" + raw.rstrip("=").rstrip("A").replace("/", "-").replace("+", "_")


def _slug(title: str) -> str:
    return quote_plus(title, safe="")


def content_webui(ws: Workspace, item: Content) -> str:
    space = ws.spaces.get(item.space_id)
    key = space.key if space else ""
    if item.type == "blogpost":
        day = item.created_at.strftime("%Y/%m/%d")
        return f"/spaces/{key}/blog/{day}/{item.id}/{_slug(item.title)}"
    if item.type == "folder":
        return f"/spaces/{key}/folder/{item.id}"
    if space is not None and space.homepage_id == item.id:
        return f"/spaces/{key}/overview"
    return f"/spaces/{key}/pages/{item.id}/{_slug(item.title)}"


def _page_links(ws: Workspace, item: Content) -> dict[str, str]:
    space = ws.spaces.get(item.space_id)
    key = space.key if space else ""
    kind = "blog" if item.type == "blogpost" else "pages"
    return {
        "editui": f"/pages/resumedraft.action?draftId={item.id}",
        "webui": content_webui(ws, item),
        "edituiv2": f"/spaces/{key}/{kind}/edit-v2/{item.id}",
        "tinyui": tiny_link(item.numeric_id),
    }


def self_link(api_path: str) -> str:
    """Include blocks link to their full listing without the /wiki prefix (REAL.md §3)."""
    return f"/api/v2{api_path}"


# --------------------------------------------------------------------------------------------
# Shared pieces


def storage_text(storage: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", storage)).split())


def display_names(ws: Workspace | None) -> Callable[[str], str]:
    """account id -> display name, for rendered mentions (the id itself when unknown)."""
    def name(account_id: str) -> str:
        user = ws.users.get(account_id) if ws is not None else None
        return user.display_name if user is not None else account_id
    return name


def render_body(storage: str, representation: str, *, content_id: str, ws: Workspace | None) -> str:
    site_base = (ws.site.url if ws is not None else "") + "/wiki"
    return render(storage, representation, content_id=content_id, site_base=site_base, names=display_names(ws))


def body_json(storage: str, body_format: str | None, *, content_id: str = "",
              ws: Workspace | None = None) -> dict[str, Any]:
    """`body` for a requested representation; `{}` when none was asked for."""
    if body_format is None:
        return {}
    value = render_body(storage, body_format, content_id=content_id, ws=ws)
    return {body_format: {"representation": body_format, "value": value}}


def ncs_step_version(item: Content, version: Version) -> str | None:
    """Real pages carry null (older, template-made) or the step number as a string; the emulator
    gives both forms deterministically: null on even ids."""
    return None if item.numeric_id % 2 == 0 else str(version.number)


def version_json(version: Version, item: Content | None = None) -> dict[str, Any]:
    """A `Version`; pass the page or blog post to add `ncsStepVersion` (absent on other types)."""
    out: dict[str, Any] = {
        "number": version.number,
        "message": version.message,
        "minorEdit": version.minor_edit,
        "authorId": version.author_id,
        "createdAt": iso(version.created_at),
    }
    if item is not None:
        out["ncsStepVersion"] = ncs_step_version(item, version)
    return out


def version_at(item: Content, number: int) -> Version | None:
    for version in item.versions:
        if version.number == number:
            return version
    return None


def title_at(item: Content, version: Version) -> str:
    return version.title if version.title is not None else item.title


def body_at(item: Content, version: Version) -> str:
    return version.body if version.body is not None else item.body


def version_item_json(item: Content, version: Version, body_format: str | None) -> dict[str, Any]:
    """One entry of a versions listing (PageVersion, BlogPostVersion, CommentVersion): the
    version plus the entity as it was at that version, under the key of its type."""
    out = version_json(version)
    body = {} if item.type == "attachment" else body_json(body_at(item, version), body_format, content_id=item.id)
    key = item.type if item.type in ("page", "blogpost", "attachment") else "comment"
    out[key] = {"body": body, "title": title_at(item, version), "id": item.id}
    return out


def include_version_json(item: Content, version: Version, body_format: str | None) -> dict[str, Any]:
    """One entry of an include-versions block. The recordings show pages and attachments naming
    their entity as the versions listing does; for other types the spec's plain `Version` stays."""
    if item.type in ("page", "attachment"):
        return version_item_json(item, version, body_format)
    return version_json(version)


def include_block(results: list[Any], api_path: str, *, has_more: bool = False, cursor: str | None = None,
                  count: int | None = None) -> dict[str, Any]:
    """An include-* block: `{results, meta: {hasMore[, count][, cursor]}, _links: {self}}`."""
    meta: dict[str, Any] = {"hasMore": has_more}
    if count is not None:
        meta["count"] = count
    if has_more and cursor is not None:
        meta["cursor"] = cursor
    return {"results": results, "meta": meta, "_links": {"self": self_link(api_path)}}


def label_json(label: Label) -> dict[str, Any]:
    return {"prefix": label.prefix, "name": label.name, "id": label.id}


def property_json(prop: Property) -> dict[str, Any]:
    return {"id": prop.id, "key": prop.key, "value": prop.value, "version": version_json(prop.version)}


def operation_json(operation: str, target_type: str) -> dict[str, str]:
    return {"operation": operation, "targetType": target_type}


def permission_json(perm: SpacePermission) -> dict[str, Any]:
    return {"id": perm.id, "principal": {"type": perm.principal_type, "id": perm.principal_id},
            "operation": {"key": perm.key, "targetType": perm.target_type}}


# --------------------------------------------------------------------------------------------
# Pages, blog posts, folders


def page_or_blogpost_json(ws: Workspace, item: Content, *, body_format: str | None,
                          include_version: bool = True, version: Version | None = None) -> dict[str, Any]:
    """PageBulk / PageSingle, or BlogPostBulk / BlogPostSingle: a page's fields without the tree and
    the owners (without include blocks); `version` renders a past version."""
    shown = version or item.version
    page = item.type == "page"
    out: dict[str, Any] = {"id": item.id, "status": item.status, "title": title_at(item, shown),
                           "spaceId": item.space_id}
    if page:
        out.update(parentId=item.parent_id, parentType=item.parent_type, position=item.position)
    out["authorId"] = item.author_id
    if page:
        out.update(ownerId=item.owner_id, lastOwnerId=None)
    out["createdAt"] = iso(item.created_at)
    if include_version:
        out["version"] = version_json(shown, item)
    out["body"] = body_json(body_at(item, shown), body_format, content_id=item.id, ws=ws)
    out["_links"] = _page_links(ws, item)
    return out


def folder_json(ws: Workspace, item: Content) -> dict[str, Any]:
    return {
        "id": item.id,
        "type": "folder",
        "status": item.status,
        "title": item.title,
        "parentId": item.parent_id,
        "parentType": item.parent_type,
        "position": item.position,
        "authorId": item.author_id,
        "ownerId": item.owner_id,
        "createdAt": iso(item.created_at),
        "spaceId": item.space_id,
        "version": version_json(item.version),
        "_links": {"webui": content_webui(ws, item)},
    }


def ancestor_json(item: Content) -> dict[str, str]:
    return {"id": item.id, "type": item.type}


def child_json(item: Content) -> dict[str, Any]:
    return {"id": item.id, "status": item.status, "title": item.title, "type": item.type,
            "spaceId": item.space_id, "childPosition": item.position}


def descendant_json(item: Content, depth: int) -> dict[str, Any]:
    return {"id": item.id, "status": item.status, "title": item.title, "type": item.type,
            "parentId": item.parent_id, "depth": depth, "childPosition": item.position}


# --------------------------------------------------------------------------------------------
# Comments


def _comment_container_key(container_type: str | None) -> str:
    return "blogPostId" if container_type == "blogpost" else "pageId"


def comment_title(ws: Workspace, item: Content) -> str:
    if item.title:
        return item.title
    container = ws.container_of(item)
    return f"Re: {container.title}" if container else ""


def _inline_properties(item: Content) -> dict[str, str]:
    ref = item.inline_marker_ref or ""
    selection = item.inline_original_selection or ""
    return {"inlineMarkerRef": ref, "inlineOriginalSelection": selection,
            "inline-original-selection": selection, "inline-marker-ref": ref}


def comment_json(ws: Workspace, item: Content, *, shape: str, body_format: str | None) -> dict[str, Any]:
    """A footer or inline comment in one of the spec's shapes:
    - "global": FooterCommentModel / InlineCommentModel (`/footer-comments`, single GETs): the
      container id, `parentCommentId` on replies only, and the resolution's author and time
      once an inline comment was resolved;
    - "container": PageCommentModel / BlogPostCommentModel and their inline variants (the per
      page and per blog post lists): the container id, never `parentCommentId`;
    - "child": ChildrenCommentModel / InlineCommentChildrenModel: `parentCommentId`, no container.
    Without a body format there is no `body` key at all (REAL.md §3)."""
    inline = item.comment_kind == "inline"
    out: dict[str, Any] = {"id": item.id, "status": item.status, "title": comment_title(ws, item)}
    if shape in ("global", "container") and item.container_id:
        out[_comment_container_key(item.container_type)] = item.container_id
    if (shape == "global" and item.parent_comment_id) or shape == "child":
        out["parentCommentId"] = item.parent_comment_id
    out["version"] = version_json(item.version)
    # Footer comments carry an undocumented resolutionStatus where recordings show it: the global
    # list, single GETs and the per-page list (BlogPostCommentModel keeps the spec's fields).
    if inline or shape == "global" or (shape == "container" and item.container_type == "page"):
        out["resolutionStatus"] = item.resolution_status or "open"
    if inline and shape == "global" and item.resolution_last_modifier_id is not None:
        out["resolutionLastModifierId"] = item.resolution_last_modifier_id
        out["resolutionLastModifiedAt"] = iso(item.resolution_last_modified_at)
    if body_format is not None:
        out["body"] = body_json(item.body, body_format, content_id=item.id, ws=ws)
    if inline:
        out["properties"] = _inline_properties(item)
    container = ws.container_of(item)
    webui = content_webui(ws, container) if container else ""
    out["_links"] = {"webui": f"{webui}?focusedCommentId={item.id}"}
    return out


# --------------------------------------------------------------------------------------------
# Attachments


def download_link(item: Content, version: Version) -> str:
    return (f"/download/attachments/{item.container_id}/{quote(item.title, safe='')}"
            f"?version={version.number}&modificationDate={epoch_ms(version.created_at)}"
            "&cacheVersion=1&api=v2")


def attachment_webui(item: Content) -> str:
    preview = quote_plus(f"/{item.container_id}/{item.numeric_id}/{item.title}", safe="")
    return f"/pages/viewpageattachments.action?pageId={item.container_id}&preview={preview}"


def attachment_json(item: Content, *, version: Version | None = None,
                    include_version: bool = True) -> dict[str, Any]:
    """AttachmentBulk / AttachmentSingle. Real responses give the version's time as `createdAt`."""
    shown = version or item.version
    download = download_link(item, shown)
    webui = attachment_webui(item)
    out: dict[str, Any] = {
        "id": item.id,
        "status": item.status,
        "title": title_at(item, shown),
        "createdAt": iso(shown.created_at),
        _comment_container_key(item.container_type): item.container_id,
        "mediaType": item.media_type,
        "mediaTypeDescription": _MEDIA_TYPE_DESCRIPTIONS.get(item.media_type or ""),
        "comment": item.attachment_comment,
        "fileId": item.file_id,
        "fileSize": item.file_size,
        "webuiLink": webui,
        "downloadLink": download,
    }
    if include_version:
        out["version"] = version_json(shown)
    out["_links"] = {"webui": webui, "download": download}
    return out
