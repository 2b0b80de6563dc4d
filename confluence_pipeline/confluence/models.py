"""Typed models of what the connector reads from Confluence Cloud, v2 and v1.

They mirror the published schemas (field names in snake_case, wire names in camelCase) and
tolerate what the schemas do not list: real responses carry undocumented fields (REAL.md), so
unknown keys are kept (`extra="allow"`), never rejected. Timestamps become aware UTC
datetimes whether they come as `...640Z`, `...:12Z` (no fraction) or epoch milliseconds (v1
audit). Ids are strings everywhere (v1 sends some as numbers). Models hold data only: no
attribute ever makes a network call.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel


def _to_utc(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("a timestamp cannot be a boolean")
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)  # epoch milliseconds
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value


def _to_str(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


UtcDatetime = Annotated[datetime, BeforeValidator(_to_utc)]
Id = Annotated[str, BeforeValidator(_to_str)]


class Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


# --------------------------------------------------------------------------------------------
# v2


class Version(Model):
    """A content version; in version listings also carries the versioned entity (extra field)."""

    number: int
    author_id: str | None = None
    created_at: UtcDatetime | None = None
    message: str | None = None
    minor_edit: bool | None = None


class BodyValue(Model):
    representation: str | None = None
    value: str | None = None


class Body(Model):
    storage: BodyValue | None = None
    atlas_doc_format: BodyValue | None = Field(None, alias="atlas_doc_format")
    view: BodyValue | None = None


class _Item(Model):
    """What every content object has: an id, a status and a title."""

    id: Id
    status: str | None = None
    title: str | None = None


class _Placed(Model):
    """Where a page or folder sits, and who made it."""

    space_id: Id | None = None
    parent_id: Id | None = None
    parent_type: str | None = None
    position: int | None = None
    author_id: str | None = None
    owner_id: str | None = None
    created_at: UtcDatetime | None = None


class _Content(_Item):
    """What pages, blog posts and comments share."""

    version: Version | None = None
    body: Body | None = None
    links: dict[str, Any] | None = Field(None, alias="_links")

    @property
    def modified_at(self) -> datetime | None:
        """The last modification: the current version's `createdAt` (there is no `updatedAt`)."""
        return self.version.created_at if self.version else None

    @property
    def storage(self) -> str | None:
        """The storage-format (XHTML) body, when it was asked for."""
        return self.body.storage.value if self.body and self.body.storage else None


class Page(_Content, _Placed):
    last_owner_id: str | None = None
    subtype: str | None = None


class BlogPost(_Content):
    space_id: Id | None = None
    author_id: str | None = None
    created_at: UtcDatetime | None = None


class Folder(_Item, _Placed):
    type: str | None = None
    version: Version | None = None
    links: dict[str, Any] | None = Field(None, alias="_links")


class _Comment(_Content):
    page_id: Id | None = None
    blog_post_id: Id | None = None
    parent_comment_id: Id | None = None
    resolution_status: str | None = None


class FooterComment(_Comment):
    """A footer comment. The author is `version.authorId` of version 1; there is no `createdAt`."""

    attachment_id: Id | None = None
    custom_content_id: Id | None = None


class InlineComment(_Comment):
    resolution_last_modifier_id: str | None = None
    resolution_last_modified_at: UtcDatetime | None = None
    properties: dict[str, Any] | None = None


class Attachment(_Item):
    created_at: UtcDatetime | None = None
    page_id: Id | None = None
    blog_post_id: Id | None = None
    custom_content_id: Id | None = None
    media_type: str | None = None
    media_type_description: str | None = None
    comment: str | None = None
    file_id: str | None = None
    file_size: int | None = None
    webui_link: str | None = None
    download_link: str | None = None
    version: Version | None = None
    links: dict[str, Any] | None = Field(None, alias="_links")

    @property
    def container_id(self) -> str | None:
        return self.page_id or self.blog_post_id or self.custom_content_id


class Label(Model):
    id: Id
    name: str
    prefix: str | None = None


class ContentProperty(Model):
    id: Id
    key: str
    value: Any = None
    version: Version | None = None


class Space(Model):
    id: Id
    key: str
    name: str | None = None
    type: str | None = None
    status: str | None = None
    author_id: str | None = None
    space_owner_id: str | None = None
    current_active_alias: str | None = None
    created_at: UtcDatetime | None = None
    homepage_id: Id | None = None
    description: Any = None
    icon: Any = None
    links: dict[str, Any] | None = Field(None, alias="_links")


class Principal(Model):
    type: str  # user | group | role | access-class (REAL.md §7)
    id: str


class PermissionOperation(Model):
    key: str
    target_type: str


class SpacePermission(Model):
    id: Id
    principal: Principal
    operation: PermissionOperation


class _Person(Model):
    """What v2 and v1 users share."""

    account_type: str | None = None
    display_name: str | None = None
    public_name: str | None = None
    email: str | None = None
    time_zone: str | None = None
    is_external_collaborator: bool | None = None
    profile_picture: dict[str, Any] | None = None


class User(_Person):
    """A user from v2 `POST /users-bulk`. `email` is "" when the user hides it."""

    account_id: str
    account_status: str | None = None
    personal_space_id: Id | None = None


class Ancestor(Model):
    id: Id
    type: str | None = None


class _TreeNode(_Item):
    type: str | None = None
    child_position: int | None = None


class Descendant(_TreeNode):
    parent_id: Id | None = None
    depth: int | None = None


class DirectChild(_TreeNode):
    space_id: Id | None = None


# --------------------------------------------------------------------------------------------
# v1


class UserV1(_Person):
    """A v1 user (group members, restrictions, user/bulk, audit authors)."""

    account_id: str | None = None  # absent for the system user of audit records
    type: str | None = None
    is_guest: bool | None = None


class Group(Model):
    id: str
    name: str
    type: str | None = None
    usage_type: str | None = None
    managed_by: str | None = None


class _OffsetPage(Model):
    start: int | None = None
    limit: int | None = None
    size: int | None = None


class UserList(_OffsetPage):
    results: list[UserV1] = []


class GroupList(_OffsetPage):
    results: list[Group] = []


class RestrictionPrincipals(Model):
    user: UserList | None = None
    group: GroupList | None = None


class ContentRestriction(Model):
    """Who may perform one operation (`read` or `update`) on a content item.

    Empty lists mean "not restricted" (the space permissions apply), never "nobody".
    """

    operation: str
    restrictions: RestrictionPrincipals = RestrictionPrincipals()

    @property
    def users(self) -> list[UserV1]:
        return self.restrictions.user.results if self.restrictions.user else []

    @property
    def groups(self) -> list[Group]:
        return self.restrictions.group.results if self.restrictions.group else []

    @property
    def is_restricted(self) -> bool:
        return bool(self.users or self.groups)


class RestrictionsByOperation(Model):
    """v1 `restrictions` expanded inside content: one entry per operation."""

    read: ContentRestriction | None = None
    update: ContentRestriction | None = None


class VersionV1(Model):
    number: int | None = None
    when: UtcDatetime | None = None
    by: UserV1 | None = None


class ContentV1(_Item):
    """v1 content as CQL content search returns it, with whatever was expanded."""

    type: str | None = None
    space: dict[str, Any] | None = None
    version: VersionV1 | None = None
    ancestors: list[dict[str, Any]] | None = None
    restrictions: RestrictionsByOperation | None = None  # when expanded
    links: dict[str, Any] | None = Field(None, alias="_links")


class SearchResult(Model):
    """One hit of v1 CQL search (`/search`) or user search (`/search/user`)."""

    content: ContentV1 | None = None
    user: UserV1 | None = None
    space: dict[str, Any] | None = None
    title: str | None = None
    excerpt: str | None = None
    url: str | None = None
    entity_type: str | None = None
    last_modified: UtcDatetime | None = None
    score: float | None = None


class AuditObject(Model):
    name: str | None = None
    object_type: str | None = None


class ChangedValue(Model):
    name: str | None = None
    old_value: str | None = None
    new_value: str | None = None


class AuditRecord(Model):
    """An audit log entry. Records have no id: dedupe on (creationDate, summary, object, author)."""

    author: UserV1 | None = None
    remote_address: str | None = None
    creation_date: UtcDatetime
    summary: str | None = None
    description: str | None = None
    category: str | None = None
    sys_admin: bool | None = None
    super_admin: bool | None = None
    affected_object: AuditObject | None = None
    changed_values: list[ChangedValue] = []
    associated_objects: list[AuditObject] = []
