"""The emulated site's entities: plain dataclasses, with no HTTP in sight. `workspace.Workspace`
holds them all.

Ids follow real Confluence Cloud: one decimal counter shared by spaces and every content
type (so ids interleave), attachments are "att" + a number from that counter, account ids
look like "712020:<uuid>", group ids are UUIDs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

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
