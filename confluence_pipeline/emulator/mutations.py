"""Changes to the emulated site between syncs: the rules, with no HTTP.

The admin API (`/__emulator__/...`) calls these, and tests may call them in-process. Each
takes the workspace lock, stamps times from the workspace clock, and writes the audit record
Confluence would write. Content changes that Confluence versions (create, edit, move) add a
version; restriction, permission and membership changes do not, as in Confluence, which is
exactly why a sync must reconcile them separately.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Iterable

from .http import BadRequest, NotFound
from .model import AuditRecord, Content, Restriction, SpacePermission, Version
from .workspace import Workspace

_MEDIA_TYPES = {
    "txt": "text/plain", "md": "text/markdown", "csv": "text/csv", "html": "text/html",
    "pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


def _get(ws: Workspace, content_id: str) -> Content:
    item = ws.get(content_id) or ws.get(f"att{content_id}")
    if item is None:
        raise NotFound(f"No content with id {content_id}")
    return item


def _actor(ws: Workspace, author_id: str | None) -> str:
    if author_id:
        if author_id not in ws.users:
            raise BadRequest(f"Unknown account id {author_id}")
        return author_id
    return next(u.account_id for u in ws.users.values() if u.is_admin)


def _audit(ws: Workspace, author_id: str | None, summary: str, category: str, obj: tuple[str, str],
           changed: Iterable[tuple[str, str, str]] = (), associated: Iterable[tuple[str, str]] = ()) -> None:
    ws.audit.append(AuditRecord(creation_date=ws.clock.now(), author_id=author_id, summary=summary,
                                category=category, affected_object=obj, changed_values=list(changed),
                                associated_objects=list(associated)))


def create(ws: Workspace, *, type: str, space_id: str | None = None, title: str, body: str = "",
           parent_id: str | None = None, container_id: str | None = None, author_id: str | None = None,
           comment_kind: str = "footer", parent_comment_id: str | None = None,
           inline_original_selection: str | None = None, filename: str | None = None,
           media_type: str | None = None, data: bytes | None = None, status: str = "current") -> Content:
    """Create a page, blog post, folder, comment or attachment."""
    with ws.lock:
        author = _actor(ws, author_id)
        now = ws.clock.now()
        if type not in ("page", "blogpost", "folder", "comment", "attachment"):
            raise BadRequest(f"Unknown content type {type!r}")
        container = None
        if type in ("comment", "attachment"):
            if parent_comment_id:
                container_id = _get(ws, parent_comment_id).container_id
            if not container_id:
                raise BadRequest(f"A {type} needs containerId (a page or blog post)")
            container = _get(ws, container_id)
            if container.type not in ("page", "blogpost"):
                raise BadRequest(f"A {type} belongs to a page or blog post, not a {container.type}")
            space_id = container.space_id
        parent = _get(ws, parent_id) if parent_id else None
        if parent is not None:
            if type not in ("page", "folder") or parent.type not in ("page", "folder"):
                raise BadRequest("Only pages and folders have a parent page or folder")
            space_id = parent.space_id
        if space_id not in ws.spaces:
            raise BadRequest(f"Unknown space id {space_id}")
        if type == "page" and parent is None and ws.spaces[space_id].homepage_id:
            parent = ws.get(ws.spaces[space_id].homepage_id)  # real Confluence files it under the homepage
        new_id = ws.new_id()
        item = Content(id=f"att{new_id}" if type == "attachment" else new_id, type=type, space_id=space_id,
                       status=status, title=title, author_id=author, owner_id=author, created_at=now,
                       versions=[Version(1, author, now)], body=body)
        if parent is not None:
            item.parent_id, item.parent_type = parent.id, parent.type
            item.position = max((c.position for c in ws.children(parent.id)), default=0) + 1
        if container is not None:
            item.container_id, item.container_type = container.id, container.type
        if type == "comment":
            item.comment_kind = comment_kind
            item.parent_comment_id = parent_comment_id
            if comment_kind == "inline":
                item.resolution_status = "open"
                item.inline_marker_ref = str(uuid.uuid4())
                item.inline_original_selection = inline_original_selection or title
        if type == "attachment":
            data = data if data is not None else body.encode()
            extension = (filename or title).rsplit(".", 1)[-1].lower()
            item.title = filename or title
            item.media_type = media_type or _MEDIA_TYPES.get(extension, "application/octet-stream")
            item.data, item.file_size = data, len(data)
            item.file_id = str(uuid.UUID(hashlib.md5(item.id.encode()).hexdigest()))
            item.body = ""
        ws.add_content(item)
        _audit(ws, author, f"{type.capitalize()} created", "Pages", (title, type))
        return item


def edit(ws: Workspace, content_id: str, *, title: str | None = None, body: str | None = None,
         data: bytes | None = None, author_id: str | None = None, minor_edit: bool = False,
         message: str = "", resolution_status: str | None = None) -> Content:
    """A new version: the modification time moves to now."""
    with ws.lock:
        item = _get(ws, content_id)
        author = _actor(ws, author_id)
        now = ws.clock.now()
        item.versions.append(Version(item.version.number + 1, author, now, message, minor_edit,
                                     title=title or item.title, body=body if body is not None else item.body))
        if title is not None:
            item.title = title
        if body is not None:
            item.body = body
        if data is not None:
            item.data, item.file_size = data, len(data)
        if resolution_status is not None:
            item.resolution_status = resolution_status
            item.resolution_last_modifier_id, item.resolution_last_modified_at = author, now
        ws.touch()
        _audit(ws, author, f"{item.type.capitalize()} updated", "Pages", (item.title, item.type))
        return item


def move(ws: Workspace, content_id: str, *, parent_id: str | None = None, space_id: str | None = None,
         author_id: str | None = None) -> Content:
    """Move a page or folder under a new parent and/or into another space (its subtree follows)."""
    with ws.lock:
        item = _get(ws, content_id)
        if item.type not in ("page", "folder", "blogpost"):
            raise BadRequest("Only pages, folders and blog posts can be moved")
        parent = _get(ws, parent_id) if parent_id else None
        if parent is not None:
            if parent.type not in ("page", "folder") or item.type == "blogpost":
                raise BadRequest("A page or folder can only be moved under a page or folder")
            if parent.id == item.id or any(a.id == item.id for a in ws.ancestors(parent)):
                raise BadRequest("A page cannot be moved under itself or its own descendant")
            space_id = parent.space_id
        target_space = space_id or item.space_id
        if target_space not in ws.spaces:
            raise BadRequest(f"Unknown space id {space_id}")
        if parent is None and item.type != "blogpost" and target_space != item.space_id:
            homepage = ws.spaces[target_space].homepage_id
            parent = ws.get(homepage) if homepage else None
        author = _actor(ws, author_id)
        now = ws.clock.now()

        def relocate(c: Content) -> None:
            c.parent_id = parent.id if parent else None
            c.parent_type = parent.type if parent else None
            c.space_id = target_space

        ws.reindex(item, relocate)
        item.versions.append(Version(item.version.number + 1, author, now, "moved", True, title=item.title,
                                     body=item.body))
        for node in _subtree(ws, item):
            node.space_id = target_space
            for extra in (*ws.comments_of(node.id), *ws.attachments_of(node.id)):
                _set_space_recursive(ws, extra, target_space)
        _audit(ws, author, f"{item.type.capitalize()} moved", "Pages", (item.title, item.type))
        return item


def _set_space_recursive(ws: Workspace, item: Content, space_id: str) -> None:
    item.space_id = space_id
    for reply in ws.comments_of(item.id):
        _set_space_recursive(ws, reply, space_id)


def _subtree(ws: Workspace, item: Content) -> list[Content]:
    out, stack = [], [item]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(ws.children(node.id))
    return out


def trash(ws: Workspace, content_id: str, *, author_id: str | None = None) -> Content:
    """Move to the trash. A trashed page's children move up to its parent, as in Confluence."""
    with ws.lock:
        item = _get(ws, content_id)
        if item.status == "trashed":
            raise BadRequest(f"Content {content_id} is already in the trash")
        author = _actor(ws, author_id)
        for child in ws.children(item.id):
            def lift(c: Content, p=item) -> None:
                c.parent_id, c.parent_type = p.parent_id, p.parent_type
            ws.reindex(child, lift)
        item.status_before_trash, item.status = item.status, "trashed"
        ws.touch()
        _audit(ws, author, f"{item.type.capitalize()} trashed", "Pages", (item.title, item.type))
        return item


def restore(ws: Workspace, content_id: str, *, author_id: str | None = None) -> Content:
    with ws.lock:
        item = _get(ws, content_id)
        if item.status != "trashed":
            raise BadRequest(f"Content {content_id} is not in the trash")
        item.status, item.status_before_trash = item.status_before_trash or "current", None
        ws.touch()
        _audit(ws, _actor(ws, author_id), f"{item.type.capitalize()} restored", "Pages", (item.title, item.type))
        return item


def purge(ws: Workspace, content_id: str, *, author_id: str | None = None) -> list[str]:
    """Delete for good (from the trash, as Confluence requires); comments, attachments and
    replies go with it. Returns the ids removed."""
    with ws.lock:
        item = _get(ws, content_id)
        if item.status != "trashed":
            raise BadRequest(f"Content {content_id} must be trashed before it is purged")
        removed: list[str] = []
        stack = [item]
        while stack:
            node = stack.pop()
            stack.extend(ws.comments_of(node.id))
            stack.extend(ws.attachments_of(node.id))
            ws.remove_content(node)
            removed.append(node.id)
        _audit(ws, _actor(ws, author_id), f"{item.type.capitalize()} purged", "Pages", (item.title, item.type))
        return removed


def set_restriction(ws: Workspace, content_id: str, operation: str, *, user_ids: Iterable[str] = (),
                    group_ids: Iterable[str] = (), author_id: str | None = None) -> Content:
    """Replace one operation's restriction (empty lists remove it). No new version."""
    if operation not in ("read", "update"):
        raise BadRequest("operation must be read or update")
    with ws.lock:
        item = _get(ws, content_id)
        users, groups = list(user_ids), list(group_ids)
        unknown = [u for u in users if u not in ws.users] + [g for g in groups if g not in ws.groups]
        if unknown:
            raise BadRequest(f"Unknown users or groups: {', '.join(unknown)}")
        if users or groups:
            item.restrictions[operation] = Restriction(users, groups)
        else:
            item.restrictions.pop(operation, None)
        ws.touch()
        _audit(ws, _actor(ws, author_id), "Content restrictions changed", "Permissions", (item.title, item.type),
               changed=[("Restriction", "", f"{operation}: {len(users)} users, {len(groups)} groups")])
        return item


def change_space_permissions(ws: Workspace, space_id: str, *, add: Iterable[dict] = (),
                             remove: Iterable[str] = (), author_id: str | None = None) -> list[SpacePermission]:
    """Add permissions ({principalType, principalId, key, targetType}) and remove some by id."""
    with ws.lock:
        space = ws.spaces.get(space_id)
        if space is None:
            raise NotFound(f"No space with id {space_id}")
        gone = set(remove)
        space.permissions = [p for p in space.permissions if p.id not in gone]
        for spec in add:
            try:
                perm = SpacePermission(ws.new_id(), spec["principalType"], spec["principalId"], spec["key"],
                                       spec.get("targetType", "space"))
            except KeyError as missing:
                raise BadRequest(f"A permission needs {missing}") from None
            space.permissions.append(perm)
        ws.touch()
        _audit(ws, _actor(ws, author_id), "Space permissions changed", "Permissions", (space.key, "Space"))
        return space.permissions


def change_group_members(ws: Workspace, group_id: str, *, add: Iterable[str] = (), remove: Iterable[str] = (),
                         author_id: str | None = None) -> set[str]:
    with ws.lock:
        if group_id not in ws.groups:
            raise NotFound(f"No group with id {group_id}")
        add, remove = list(add), list(remove)
        unknown = [a for a in add if a not in ws.users]
        if unknown:
            raise BadRequest(f"Unknown account ids: {', '.join(unknown)}")
        members = ws.group_members.setdefault(group_id, set())
        members.update(add)
        members.difference_update(remove)
        ws.touch()
        _audit(ws, _actor(ws, author_id), "Group membership changed", "Users and groups",
               (ws.groups[group_id].name, "Group"))
        return members
