"""API models as warehouse rows (dicts keyed by the columns of storage/schema.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..confluence.models import Attachment, BlogPost, ContentV1, FooterComment, InlineComment, Page, Space
from .windows import Windows


def _web_url(site_url: str, links: dict[str, Any] | None) -> str | None:
    webui = (links or {}).get("webui")
    return f"{site_url}/wiki{webui}" if webui else None


def _versioned(item: Any, windows: Windows, synced_at: datetime) -> dict[str, Any]:
    version = item.version
    modified = version.created_at if version else None
    return {
        "id": item.id, "status": item.status, "title": item.title,
        "version": version.number if version else None, "modified_at": modified,
        "version_author_id": version.author_id if version else None,
        "window_key": windows.key(modified) if modified else None,
        "synced_at": synced_at, "deleted_at": None,
    }


def _body(item: Any) -> str | None:
    body = getattr(item, "body", None)
    return body.storage.value if body is not None and body.storage is not None else None


def space_row(space: Space, site_url: str, synced_at: datetime) -> dict[str, Any]:
    description = space.description if isinstance(space.description, dict) else {}
    plain = (description.get("plain") or {}).get("value") if description else None
    return {"id": space.id, "key": space.key, "name": space.name, "type": space.type, "status": space.status,
            "author_id": space.author_id, "created_at": space.created_at, "homepage_id": space.homepage_id,
            "description": plain, "web_url": _web_url(site_url, space.links), "synced_at": synced_at,
            "deleted_at": None}


def page_row(page: Page, windows: Windows, synced_at: datetime, site_url: str) -> dict[str, Any]:
    return {**_versioned(page, windows, synced_at), "space_id": page.space_id, "created_at": page.created_at,
            "author_id": page.author_id, "owner_id": page.owner_id, "parent_id": page.parent_id,
            "parent_type": page.parent_type, "position": page.position, "body_storage": _body(page),
            "web_url": _web_url(site_url, page.links)}


def blogpost_row(post: BlogPost, windows: Windows, synced_at: datetime, site_url: str) -> dict[str, Any]:
    return {**_versioned(post, windows, synced_at), "space_id": post.space_id, "created_at": post.created_at,
            "author_id": post.author_id, "body_storage": _body(post), "web_url": _web_url(site_url, post.links)}


def comment_row(comment: FooterComment | InlineComment, kind: str, windows: Windows, synced_at: datetime,
                site_url: str) -> dict[str, Any]:
    container_id = comment.page_id or comment.blog_post_id
    properties = getattr(comment, "properties", None) or {}
    row = {**_versioned(comment, windows, synced_at), "kind": kind, "container_id": container_id,
           "container_type": "page" if comment.page_id else "blogpost" if comment.blog_post_id else None,
           "parent_comment_id": comment.parent_comment_id, "resolution_status": comment.resolution_status,
           "inline_marker_ref": properties.get("inlineMarkerRef"),
           "inline_original_selection": properties.get("inlineOriginalSelection"),
           "body_storage": _body(comment), "web_url": _web_url(site_url, comment.links)}
    # A comment's author and creation are its first version's (comments carry neither field).
    if comment.version and comment.version.number == 1:
        row["author_id"], row["created_at"] = comment.version.author_id, comment.version.created_at
    return row


def attachment_row(att: Attachment, windows: Windows, synced_at: datetime, site_url: str) -> dict[str, Any]:
    container_id = att.page_id or att.blog_post_id or att.custom_content_id
    row = {**_versioned(att, windows, synced_at), "created_at": att.created_at, "container_id": container_id,
           "container_type": "page" if att.page_id else "blogpost" if att.blog_post_id else None,
           "media_type": att.media_type, "file_size": att.file_size, "file_id": att.file_id,
           "comment": att.comment, "download_link": att.download_link,
           "web_url": f"{site_url}/wiki{att.webui_link}" if att.webui_link else None}
    # The uploader is the first version's author; later versions leave the stored one in place.
    if att.version and att.version.number == 1:
        row["author_id"] = att.version.author_id
    return row


def folder_row(content: ContentV1, windows: Windows, synced_at: datetime, site_url: str) -> dict[str, Any]:
    """A folder from a CQL content search with expand=version,space,ancestors,history."""
    extra = content.model_extra or {}
    history = extra.get("history") or {}
    ancestors = content.ancestors or []
    parent = ancestors[-1] if ancestors else None
    version = content.version
    modified = version.when if version else None
    created_by = (history.get("createdBy") or {}).get("accountId")
    return {
        "id": content.id, "status": content.status, "title": content.title,
        "version": version.number if version else None, "modified_at": modified,
        "version_author_id": version.by.account_id if version and version.by else None,
        "window_key": windows.key(modified) if modified else None, "synced_at": synced_at, "deleted_at": None,
        "space_id": str((content.space or {}).get("id")) if content.space else None,
        "created_at": _timestamp(history.get("createdDate")), "author_id": created_by,
        "parent_id": parent.get("id") if parent else None, "parent_type": parent.get("type") if parent else None,
        "position": (extra.get("extensions") or {}).get("position"),
        "web_url": _web_url(site_url, content.links),
    }


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def label_rows(content: ContentV1, synced_at: datetime, window: str | None) -> list[dict[str, Any]]:
    metadata = (content.model_extra or {}).get("metadata") or {}
    labels = (metadata.get("labels") or {}).get("results") or []
    return [{"content_id": content.id, "label_id": str(label["id"]), "content_type": content.type,
             "name": label.get("name"), "prefix": label.get("prefix"), "window_key": window,
             "synced_at": synced_at, "deleted_at": None} for label in labels]
