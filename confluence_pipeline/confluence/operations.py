"""The spec operations the client calls: where each lives, what its objects cost, the API's limits.

`OPERATIONS` is keyed by the spec's operationId: the names in the client's `stats()` and in the
scope check of the tests. Endpoint families that exist once per container type (versions of a
page or a blog post, ...) are looked up by kind with `operation_for`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

MAX_IDS = 250  # v2 id= / ids= / keys=, users-bulk
MAX_SPACE_IDS = 100  # v2 space-id=
MAX_V1_USERS = 100  # v1 user/bulk returns at most 100
V2_LIMIT = 250


@dataclass(frozen=True)
class Operation:
    """One spec operation the client calls: where it lives and what its objects cost."""

    api: str  # v2 (paths under /wiki/api/v2) | v1 (full /wiki/rest/api paths)
    method: str
    path: str  # as the spec writes it
    weight: int = 1  # points per object returned: 1 core, 2 identity (users, groups, permissions)

    def site_path(self, **args: Any) -> str:
        path = self.path.format(**{k: quote(str(v), safe="") for k, v in args.items()})
        return f"/wiki/api/v2{path}" if self.api == "v2" else path


def _v2(path: str, weight: int = 1, method: str = "GET") -> Operation:
    return Operation("v2", method, path, weight)


def _v1(path: str, weight: int = 1) -> Operation:
    return Operation("v1", "GET", f"/wiki/rest/api{path}", weight)


# Keyed by the spec's operationId: the names in stats() and in the scope check of the tests.
OPERATIONS: dict[str, Operation] = {
    "getSpaces": _v2("/spaces"),
    "getSpaceById": _v2("/spaces/{id}"),
    "getSpacePermissionsAssignments": _v2("/spaces/{id}/permissions", 2),
    "getSpaceLabels": _v2("/spaces/{id}/labels"),
    "getPages": _v2("/pages"),
    "getPagesInSpace": _v2("/spaces/{id}/pages"),
    "getPageById": _v2("/pages/{id}"),
    "getPageAncestors": _v2("/pages/{id}/ancestors"),
    "getPageDescendants": _v2("/pages/{id}/descendants"),
    "getPageDirectChildren": _v2("/pages/{id}/direct-children"),
    "getPageVersions": _v2("/pages/{id}/versions"),
    "getPageLabels": _v2("/pages/{id}/labels"),
    "getPageContentProperties": _v2("/pages/{page-id}/properties"),
    "getBlogPosts": _v2("/blogposts"),
    "getBlogPostsInSpace": _v2("/spaces/{id}/blogposts"),
    "getBlogPostById": _v2("/blogposts/{id}"),
    "getBlogPostVersions": _v2("/blogposts/{id}/versions"),
    "getBlogPostLabels": _v2("/blogposts/{id}/labels"),
    "getBlogpostContentProperties": _v2("/blogposts/{blogpost-id}/properties"),
    "getFooterComments": _v2("/footer-comments"),
    "getInlineComments": _v2("/inline-comments"),
    "getPageFooterComments": _v2("/pages/{id}/footer-comments"),
    "getPageInlineComments": _v2("/pages/{id}/inline-comments"),
    "getBlogPostFooterComments": _v2("/blogposts/{id}/footer-comments"),
    "getBlogPostInlineComments": _v2("/blogposts/{id}/inline-comments"),
    "getFooterCommentChildren": _v2("/footer-comments/{id}/children"),
    "getInlineCommentChildren": _v2("/inline-comments/{id}/children"),
    "getFooterCommentById": _v2("/footer-comments/{comment-id}"),
    "getInlineCommentById": _v2("/inline-comments/{comment-id}"),
    "getAttachments": _v2("/attachments"),
    "getAttachmentById": _v2("/attachments/{id}"),
    "getPageAttachments": _v2("/pages/{id}/attachments"),
    "getBlogpostAttachments": _v2("/blogposts/{id}/attachments"),
    "getFolderById": _v2("/folders/{id}"),
    "getFolderAncestors": _v2("/folders/{id}/ancestors"),
    "getFolderDescendants": _v2("/folders/{id}/descendants"),
    "getFolderDirectChildren": _v2("/folders/{id}/direct-children"),
    "getLabels": _v2("/labels"),
    "createBulkUserLookup": _v2("/users-bulk", 2, method="POST"),
    "searchByCQL": _v1("/search"),
    "searchContentByCQL": _v1("/content/search"),
    "getRestrictions": _v1("/content/{id}/restriction", 2),
    "getRestrictionsForOperation": _v1("/content/{id}/restriction/byOperation/{operationKey}", 2),
    "getGroups": _v1("/group", 2),
    "getGroupMembersByGroupId": _v1("/group/{groupId}/membersByGroupId", 2),
    "getGroupMembershipsForUser": _v1("/user/memberof", 2),
    "searchUser": _v1("/search/user", 2),
    "getBulkUserLookup": _v1("/user/bulk", 2),
    "getCurrentUser": _v1("/user/current", 2),
    "getAuditRecords": _v1("/audit"),
    # sic: the spec's operationId
    "downloadAttatchment": _v1("/content/{id}/child/attachment/{attachmentId}/download"),
}
DOWNLOAD_HOP = "downloadAttachmentBytes"  # the redirect target: the file itself, not a REST operation
READ_POSTS = frozenset({"createBulkUserLookup"})  # POSTs that only read: safe to retry

# kind -> operation, for the families of endpoints that exist per container type
_BY_KIND: dict[str, dict[str, str]] = {
    "versions": {"page": "getPageVersions", "blogpost": "getBlogPostVersions"},
    "labels": {"page": "getPageLabels", "blogpost": "getBlogPostLabels", "space": "getSpaceLabels"},
    "properties": {"page": "getPageContentProperties", "blogpost": "getBlogpostContentProperties"},
    "footer": {"page": "getPageFooterComments", "blogpost": "getBlogPostFooterComments"},
    "inline": {"page": "getPageInlineComments", "blogpost": "getBlogPostInlineComments"},
    "attachments": {"page": "getPageAttachments", "blogpost": "getBlogpostAttachments"},
    "ancestors": {"page": "getPageAncestors", "folder": "getFolderAncestors"},
    "descendants": {"page": "getPageDescendants", "folder": "getFolderDescendants"},
    "children": {"page": "getPageDirectChildren", "folder": "getFolderDirectChildren"},
    "replies": {"footer": "getFooterCommentChildren", "inline": "getInlineCommentChildren"},
}
# Path placeholders that are not called {id} in the spec.
ID_NAME = {"getPageContentProperties": "page-id", "getBlogpostContentProperties": "blogpost-id"}


def operation_for(family: str, kind: str) -> str:
    try:
        return _BY_KIND[family][kind]
    except KeyError:
        raise ValueError(f"{family} are not available for {kind!r}: use one of "
                         f"{', '.join(_BY_KIND[family])}") from None
