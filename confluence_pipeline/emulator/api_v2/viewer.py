"""Who may see what: a caller's view of the workspace, memoized per workspace generation."""

from __future__ import annotations

from typing import Iterable

from .. import serialize_v2 as ser
from ..http import Ctx, NotFound
from ..model import Content, Space, SpacePermission, User
from ..workspace import Workspace
from .listing import GenerationCache, numeric_path_id

VISIBILITY = GenerationCache(64)


class Viewer:
    """`Workspace.can_view` for one caller, memoized per workspace generation.

    The rule is the model's (space read, then every read restriction up the tree; comments and
    attachments follow their container); this class only avoids recomputing the caller's groups,
    each space's read permission and each ancestor's verdict for every item of a listing. Every
    change to content, restrictions, permissions or groups must bump `ws.generation`, which
    drops the memo (the model's `add_content`/`reindex`/`touch` and all of mutations.py do).
    """

    def __init__(self, ws: Workspace, user: User | None) -> None:
        self.ws = ws
        self.user = user
        self.account_id = user.account_id if user else None
        self.is_admin = bool(user and user.is_admin)
        account = self.account_id
        self.groups: set[str] = VISIBILITY.get(
            ws, ("groups", account), lambda: ws.groups_of(account) if account else set())
        self._space_ok: dict[str, bool] = VISIBILITY.get(ws, ("spaces", account), dict)
        self._node_ok: dict[str, bool] = VISIBILITY.get(ws, ("tree", account), dict)

    def can_read_space(self, space: Space) -> bool:
        verdict = self._space_ok.get(space.id)
        if verdict is None:
            verdict = self._space_ok[space.id] = self.ws.can_read_space(self.account_id, space)
        return verdict

    def can_view(self, item: Content) -> bool:
        if self.is_admin:
            return True
        space = self.ws.spaces.get(item.space_id)
        if space is None or not self.can_read_space(space):
            return False
        target = item
        if item.type in ("comment", "attachment"):
            target = self.ws.container_of(item)
            if target is None:
                return False
        if target.type not in ("page", "folder"):
            return self._own_restriction_allows(target)
        return self._tree_allows(target)

    def _tree_allows(self, node: Content) -> bool:
        verdict = self._node_ok.get(node.id)
        if verdict is None:
            parent = self.ws.content.get(node.parent_id) if node.parent_id else None
            verdict = self._own_restriction_allows(node) and (parent is None or self._tree_allows(parent))
            self._node_ok[node.id] = verdict
        return verdict

    def _own_restriction_allows(self, node: Content) -> bool:
        read = node.restrictions.get("read")
        if read is None or read.is_empty:
            return True
        if self.account_id and self.account_id in read.user_ids:
            return True
        return any(g in self.groups for g in read.group_ids)

    def holds(self, perm: SpacePermission) -> bool:
        """Whether a space permission applies to the caller (directly, by group or access class)."""
        if self.is_admin:
            return True
        if perm.principal_type == "access-class":
            if perm.principal_id == "ANONYMOUS_USERS":
                return True
            return (perm.principal_id == "ALL_LICENSED_USERS" and self.user is not None
                    and self.user.account_type == "atlassian")
        if perm.principal_type == "user":
            return perm.principal_id == self.account_id
        return perm.principal_type == "group" and perm.principal_id in self.groups


def operations_for(viewer: Viewer, space: Space, target_type: str) -> list[dict[str, str]]:
    """The operations the caller may perform, from the space permissions it holds: all of them
    for a space; for content, read, what targets the content's type, and what it may create."""
    held = [(p.key, p.target_type) for p in space.permissions if viewer.holds(p)]
    if target_type == "space":
        wanted = held
    else:
        wanted = [("read", target_type)]
        wanted += [(k, t) for k, t in held if t == target_type and k != "read"]
        wanted += [(k, t) for k, t in held if k == "create" and t != target_type]
    return [ser.operation_json(k, t) for k, t in dict.fromkeys(wanted)]


def visible_item(ctx: Ctx, viewer: Viewer, raw_id: str, type_: str, what: str,
                 statuses: Iterable[str] | None = None) -> Content:
    """The item, or 404 when it does not exist, has another type or status, or the caller cannot see it."""
    item = ctx.ws.get(numeric_path_id(raw_id, what), type_)
    if item is None or not viewer.can_view(item) or (statuses is not None and item.status not in statuses):
        raise NotFound()
    return item


def visible_space(ctx: Ctx, viewer: Viewer, raw_id: str) -> Space:
    space = ctx.ws.spaces.get(numeric_path_id(raw_id, "space"))
    if space is None or not viewer.can_read_space(space):
        raise NotFound()
    return space


def visible_by_id(ctx: Ctx, id: str, type_: str) -> Content:
    return visible_item(ctx, Viewer(ctx.ws, ctx.user), id, type_, type_)
