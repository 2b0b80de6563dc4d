"""The emulated site's state: plain dataclasses and one container, with no HTTP in sight.

Everything the HTTP layer serves, and everything the admin API mutates, lives in one
`Workspace`. Generation (`generate/`) fills it; handlers read it; mutations change it
through its methods so that the indexes stay right.

Ids follow real Confluence Cloud: one decimal counter shared by spaces and every content
type (so ids interleave), attachments are "att" + a number from that counter, account ids
look like "712020:<uuid>", group ids are UUIDs.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable, Iterator

CONTENT_TYPES = ("page", "blogpost", "folder", "comment", "attachment")


@dataclass(slots=True)
class User:
    account_id: str
    display_name: str
    public_name: str
    email: str
    email_visible: bool  # False: the API answers email "" (the user hid it)
    account_type: str  # atlassian | app
    account_status: str  # active | inactive | closed
    time_zone: str  # IANA name; CQL dates are read in it
    is_admin: bool = False  # site admin: sees everything, may read the audit log
    personal_space_id: str | None = None
    is_external_collaborator: bool = False


@dataclass(slots=True)
class Group:
    id: str  # uuid
    name: str
    usage_type: str = "USERBASE_GROUP"
    managed_by: str = "ADMINS"


@dataclass(slots=True)
class SpacePermission:
    id: str
    principal_type: str  # user | group | access-class (ALL_LICENSED_USERS, ANONYMOUS_USERS, ...)
    principal_id: str
    key: str  # read, create, update, delete, administer, ...
    target_type: str  # space, page, blogpost, comment, attachment, ...


@dataclass(slots=True)
class Space:
    id: str
    key: str
    name: str
    type: str  # global | personal | knowledge_base
    status: str  # current | archived
    author_id: str
    created_at: datetime
    homepage_id: str | None = None
    description: str = ""
    space_owner_id: str | None = None
    permissions: list[SpacePermission] = field(default_factory=list)
    label_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Label:
    id: str
    name: str
    prefix: str = "global"  # global | my | team | system


@dataclass(slots=True)
class Version:
    number: int
    author_id: str
    created_at: datetime
    message: str = ""
    minor_edit: bool = False
    title: str | None = None  # the title at that version (None: same as the current one)
    body: str | None = None  # the storage body at that version (None: not kept)


@dataclass(slots=True)
class Restriction:
    """One operation's restriction: who may do it. Both lists empty means "not restricted"."""

    user_ids: list[str] = field(default_factory=list)
    group_ids: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.user_ids and not self.group_ids


@dataclass(slots=True)
class Property:
    id: str
    key: str
    value: object
    version: Version


@dataclass(slots=True, eq=False)
class Content:
    """A page, blog post, folder, footer/inline comment or attachment.

    The current version is `versions[-1]`; the modification time of a page or blog post is
    that version's `created_at`. Fields that only some types use are None elsewhere.
    """

    id: str
    type: str  # page | blogpost | folder | comment | attachment
    space_id: str
    status: str  # current | archived | trashed | draft (purged content is removed entirely)
    title: str
    author_id: str
    created_at: datetime
    versions: list[Version]
    body: str = ""  # storage format (XHTML); comments too
    owner_id: str | None = None
    parent_id: str | None = None  # pages and folders: the page/folder above (None at the root)
    parent_type: str | None = None  # page | folder
    position: int = 0
    label_ids: list[str] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)
    # read/update restrictions; absent key == unrestricted
    restrictions: dict[str, Restriction] = field(default_factory=dict)
    # comments
    comment_kind: str | None = None  # footer | inline
    container_id: str | None = None  # comments and attachments: the page/blog post they belong to
    container_type: str | None = None  # page | blogpost
    parent_comment_id: str | None = None
    resolution_status: str | None = None  # inline: open | reopened | resolved | dangling
    resolution_last_modifier_id: str | None = None
    resolution_last_modified_at: datetime | None = None
    inline_marker_ref: str | None = None
    inline_original_selection: str | None = None
    # attachments
    media_type: str | None = None
    file_id: str | None = None
    file_size: int | None = None
    attachment_comment: str = ""
    data: bytes | None = None  # the file's bytes
    status_before_trash: str | None = None  # to restore archived content to archived

    @property
    def version(self) -> Version:
        return self.versions[-1]

    @property
    def modified_at(self) -> datetime:
        return self.versions[-1].created_at

    @property
    def numeric_id(self) -> int:
        return int(self.id[3:]) if self.id.startswith("att") else int(self.id)


@dataclass(slots=True)
class AuditRecord:
    creation_date: datetime
    author_id: str | None  # None: the system
    summary: str
    category: str
    description: str = ""
    remote_address: str = "10.0.0.1"
    affected_object: tuple[str, str] = ("", "")  # (name, objectType)
    associated_objects: list[tuple[str, str]] = field(default_factory=list)
    changed_values: list[tuple[str, str, str]] = field(default_factory=list)  # (name, old, new)
    sys_admin: bool = False
    super_admin: bool = False


def numeric(content_id: str) -> int:
    return int(content_id[3:]) if content_id.startswith("att") else int(content_id)


class Clock:
    """The emulator's notion of now: real time plus an offset the admin API can advance."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0)
        if start is not None:
            self._offset = start - datetime.now(timezone.utc)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self._offset

    def advance(self, seconds: float) -> datetime:
        self._offset += timedelta(seconds=seconds)
        return self.now()


@dataclass
class Site:
    cloud_id: str
    name: str
    url: str  # https://{name}.atlassian.net (or the emulator's own base URL)


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


def iter_batches(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
