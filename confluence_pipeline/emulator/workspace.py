"""The emulated site's state: one container of the entities in `model`, with its indexes.

Everything the HTTP layer serves, and everything the admin API mutates, lives in one
`Workspace`. Generation (`generate/`) fills it; handlers read it; mutations change it
through its methods so that the indexes stay right.
"""

from __future__ import annotations

import bisect
import threading
from typing import Iterator

from .model import CONTENT_TYPES, AuditRecord, Clock, Content, Group, Label, Restriction, Site, Space, User


class Workspace:
    """All state of one emulated Confluence site.

    Readers take `lock` only for consistency across several reads; the admin API's mutations
    take it for writing. A `generation` counter bumps on every mutation so that cached views
    (sorted listings, CQL results) know when they are stale.
    """

    def __init__(self, site: Site, seed: int, scale: int) -> None:
        self.site = site
        self.seed = seed
        self.scale = scale
        self.lock = threading.RLock()
        self.clock = Clock()
        self.generation = 0
        self._next_id = 65537
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.group_members: dict[str, set[str]] = {}  # group id -> account ids
        self.spaces: dict[str, Space] = {}
        self.labels: dict[str, Label] = {}
        self.content: dict[str, Content] = {}
        self.audit: list[AuditRecord] = []
        # id-sorted numeric ids per content type, for cursor listings
        self._ids_by_type: dict[str, list[int]] = {t: [] for t in CONTENT_TYPES}
        self._children: dict[str, list[str]] = {}  # page/folder id -> child page/folder ids
        self._comments_of: dict[str, list[str]] = {}  # container or parent comment id -> comment ids
        self._attachments_of: dict[str, list[str]] = {}  # container id -> attachment ids

    # -- ids ---------------------------------------------------------------------------
    def new_id(self) -> str:
        self._next_id += 1 + (self._next_id % 3 == 0)  # gaps, as on real sites
        return str(self._next_id)

    # -- building and indexing -----------------------------------------------------------
    def add_content(self, item: Content) -> Content:
        self.content[item.id] = item
        bisect.insort(self._ids_by_type[item.type], item.numeric_id)
        self._index(item)
        self.generation += 1
        return item

    def _index(self, item: Content) -> None:
        if item.type in ("page", "folder") and item.parent_id:
            self._children.setdefault(item.parent_id, []).append(item.id)
        elif item.type == "comment":
            key = item.parent_comment_id or item.container_id
            self._comments_of.setdefault(key, []).append(item.id)
        elif item.type == "attachment":
            self._attachments_of.setdefault(item.container_id, []).append(item.id)

    def _unindex(self, item: Content) -> None:
        if item.type in ("page", "folder") and item.parent_id:
            kids = self._children.get(item.parent_id, [])
            if item.id in kids:
                kids.remove(item.id)
        elif item.type == "comment":
            kids = self._comments_of.get(item.parent_comment_id or item.container_id, [])
            if item.id in kids:
                kids.remove(item.id)
        elif item.type == "attachment":
            kids = self._attachments_of.get(item.container_id, [])
            if item.id in kids:
                kids.remove(item.id)

    def reindex(self, item: Content, change) -> None:
        """Apply `change(item)` (which may move it) while keeping the tree indexes right."""
        self._unindex(item)
        change(item)
        self._index(item)
        self.generation += 1

    def remove_content(self, item: Content) -> None:
        """Purge: the item disappears from every listing and answers 404."""
        self._unindex(item)
        del self.content[item.id]
        ids = self._ids_by_type[item.type]
        i = bisect.bisect_left(ids, item.numeric_id)
        if i < len(ids) and ids[i] == item.numeric_id:
            del ids[i]
        self.generation += 1

    # -- reads ---------------------------------------------------------------------------
    def get(self, content_id: str, type_: str | None = None) -> Content | None:
        item = self.content.get(content_id)
        if item is None or (type_ is not None and item.type != type_):
            return None
        return item

    def iter_type(self, type_: str, after: int | None = None) -> Iterator[Content]:
        """Items of one type in ascending id order, starting after numeric id `after`."""
        ids = self._ids_by_type[type_]
        start = 0 if after is None else bisect.bisect_right(ids, after)
        prefix = "att" if type_ == "attachment" else ""
        for i in range(start, len(ids)):
            if i >= len(ids):  # shrunk underneath us
                return
            item = self.content.get(f"{prefix}{ids[i]}")
            if item is not None:
                yield item

    def children(self, parent_id: str) -> list[Content]:
        """Direct child pages and folders, in position order."""
        kids = [self.content[c] for c in self._children.get(parent_id, ()) if c in self.content]
        kids.sort(key=lambda c: (c.position, c.numeric_id))
        return kids

    def comments_of(self, container_or_comment_id: str) -> list[Content]:
        """Root comments of a page/blog post, or the replies of a comment."""
        return [self.content[c] for c in self._comments_of.get(container_or_comment_id, ()) if c in self.content]

    def attachments_of(self, container_id: str) -> list[Content]:
        return [self.content[a] for a in self._attachments_of.get(container_id, ()) if a in self.content]

    def ancestors(self, item: Content) -> list[Content]:
        """Pages and folders above a page or folder, top first."""
        chain: list[Content] = []
        parent = self.content.get(item.parent_id) if item.parent_id else None
        while parent is not None:
            chain.append(parent)
            parent = self.content.get(parent.parent_id) if parent.parent_id else None
        chain.reverse()
        return chain

    def container_of(self, item: Content) -> Content | None:
        """The page or blog post a comment or attachment belongs to."""
        return self.content.get(item.container_id) if item.container_id else None

    def space_by_key(self, key: str) -> Space | None:
        for space in self.spaces.values():
            if space.key == key:
                return space
        return None

    def user_by_email(self, email: str) -> User | None:
        email = email.lower()
        for user in self.users.values():
            if user.email.lower() == email:
                return user
        return None

    def groups_of(self, account_id: str) -> set[str]:
        return {gid for gid, members in self.group_members.items() if account_id in members}

    # -- permissions: the ground truth that the connector's access model must match ------
    def can_read_space(self, account_id: str | None, space: Space) -> bool:
        """Space `read` held directly, through a group, or through an access class."""
        user = self.users.get(account_id) if account_id else None
        if user is not None and user.is_admin:
            return True
        groups = self.groups_of(account_id) if account_id else set()
        for perm in space.permissions:
            if perm.key != "read" or perm.target_type != "space":
                continue
            if perm.principal_type == "access-class":
                if perm.principal_id == "ANONYMOUS_USERS":
                    return True
                if perm.principal_id == "ALL_LICENSED_USERS" and user is not None and user.account_type == "atlassian":
                    return True
            elif perm.principal_type == "user" and perm.principal_id == account_id:
                return True
            elif perm.principal_type == "group" and perm.principal_id in groups:
                return True
        return False

    def _restriction_allows(self, account_id: str | None, restriction: Restriction, groups: set[str]) -> bool:
        if restriction.is_empty:
            return True
        if account_id and account_id in restriction.user_ids:
            return True
        return any(g in groups for g in restriction.group_ids)

    def can_view(self, account_id: str | None, item: Content) -> bool:
        """Exactly Confluence's rule: space read, then every read restriction on the item and
        each ancestor (inherited down the tree); comments and attachments follow their container."""
        user = self.users.get(account_id) if account_id else None
        if user is not None and user.is_admin:
            return True
        space = self.spaces.get(item.space_id)
        if space is None or not self.can_read_space(account_id, space):
            return False
        groups = self.groups_of(account_id) if account_id else set()
        target = item
        if item.type in ("comment", "attachment"):
            target = self.container_of(item)
            if target is None:
                return False
        chain = [target, *self.ancestors(target)] if target.type in ("page", "folder") else [target]
        for node in chain:
            read = node.restrictions.get("read")
            if read is not None and not self._restriction_allows(account_id, read, groups):
                return False
        return True

    def touch(self) -> None:
        self.generation += 1
