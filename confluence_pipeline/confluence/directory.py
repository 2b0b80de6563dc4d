"""The client's reads of people and permissions, and CQL search: users (v2 users-bulk, v1 user/bulk),
groups and their members, content restrictions, the audit log, and CQL search and counts.

Apart from users-bulk these are v1 REST operations. CQL search lives here with them because
restrictions are read in bulk through it (`id in (...)` with restrictions expanded, 100 ids per call).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Iterable, Iterator

from .models import (AuditRecord, ContentRestriction, ContentV1, Group, GroupList, RestrictionPrincipals,
                     SearchResult, User, UserList, UserV1)
from .operations import MAX_IDS, MAX_V1_USERS, OPERATIONS
from .pagination import OffsetPages, SearchCursorPages
from .reads import Reads, batches, query_params

RESTRICTION_BATCH = 100  # content ids per CQL `id in (...)` restriction read
RESTRICTION_EXPAND = ("restrictions.read.restrictions.user", "restrictions.read.restrictions.group",
                      "restrictions.update.restrictions.user", "restrictions.update.restrictions.group")


class DirectoryReads(Reads):
    """Users, groups, restrictions, the audit log and CQL search."""

    # -- users ------------------------------------------------------------------------------------
    def users(self, account_ids: Iterable[str]) -> Iterator[User]:
        """Users by account id via v2 users-bulk, 250 per call; unknown ids are simply absent."""
        name = "createBulkUserLookup"
        operation = OPERATIONS[name]
        for batch in batches(dict.fromkeys(account_ids), MAX_IDS):
            body, _ = self._transport.request(name, "POST", operation.site_path(), json={"accountIds": batch},
                                              weight=operation.weight)
            for item in body.get("results") or []:
                yield User.model_validate(item)

    def current_user(self) -> UserV1:
        """The account these credentials act as (in OAuth mode, the user who granted the token)."""
        return self._get("getCurrentUser", UserV1)

    def users_v1(self, account_ids: Iterable[str]) -> Iterator[UserV1]:
        """Users by account id via v1 user/bulk, 100 per call (it drops ids beyond 100)."""
        name = "getBulkUserLookup"
        operation = OPERATIONS[name]
        for batch in batches(dict.fromkeys(account_ids), MAX_V1_USERS):
            body, _ = self._transport.request(name, "GET", operation.site_path(),
                                              params={"accountId": ",".join(batch)}, weight=operation.weight)
            for item in body.get("results") or []:
                yield UserV1.model_validate(item)

    # -- v1: CQL search, restrictions, groups, audit --------------------------------------------------
    def search(self, cql: str, *, expand: Iterable[str] = (), limit: int = 100, excerpt: str | None = None,
               include_archived_spaces: bool | None = None,
               content_statuses: Iterable[str] | None = None) -> Iterator[SearchResult]:
        """CQL search (`/wiki/rest/api/search`), following its cursor. `content_statuses` widens
        what CQL sees (current only by default) through `cqlcontext`, e.g. to archived pages."""
        cqlcontext = json.dumps({"contentStatuses": list(content_statuses)}) if content_statuses else None
        params = {"cql": cql, "expand": list(expand), "limit": limit, "excerpt": excerpt,
                  "includeArchivedSpaces": include_archived_spaces, "cqlcontext": cqlcontext}
        return self._list(SearchCursorPages, "searchByCQL", SearchResult, params)

    def search_count(self, cql: str, *, include_archived_spaces: bool | None = None,
                     content_statuses: Iterable[str] | None = None) -> int:
        """How many results a CQL search has (its `totalSize`), in one call of one result."""
        cqlcontext = json.dumps({"contentStatuses": list(content_statuses)}) if content_statuses else None
        params = {"cql": cql, "limit": 1, "includeArchivedSpaces": include_archived_spaces, "cqlcontext": cqlcontext}
        body, _ = self._transport.request("searchByCQL", "GET", OPERATIONS["searchByCQL"].site_path(),
                                          params=query_params(params), weight=OPERATIONS["searchByCQL"].weight)
        return int(body["totalSize"])

    def search_content(self, cql: str, *, expand: Iterable[str] = (),
                       limit: int = 100) -> Iterator[ContentV1]:
        """CQL content search (`/wiki/rest/api/content/search`) with v1 `expand`."""
        return self._list(SearchCursorPages, "searchContentByCQL", ContentV1,
                          {"cql": cql, "expand": list(expand), "limit": limit})

    def restrictions_bulk(self, content_ids: Iterable[str]) -> Iterator[ContentV1]:
        """Read and update restrictions of many content items, 100 ids per CQL query.

        Each item's `restrictions.read` / `.update` is a `ContentRestriction`. Items the
        account cannot see are absent from the answer (the caller reports them).
        """
        for batch in batches(dict.fromkeys(_numeric_id(i) for i in content_ids), RESTRICTION_BATCH):
            yield from self.search_content(f"id in ({','.join(batch)})", expand=RESTRICTION_EXPAND,
                                           limit=RESTRICTION_BATCH)

    def restrictions(self, content_id: str) -> list[ContentRestriction]:
        """Both operations' restrictions of one item (the first 100 users and groups of each)."""
        path = OPERATIONS["getRestrictions"].site_path(id=content_id)
        body, _ = self._transport.request("getRestrictions", "GET", path, weight=2,
                                          params={"expand": "restrictions.user,restrictions.group"})
        return [ContentRestriction.model_validate(item) for item in body.get("results") or []]

    def restriction(self, content_id: str, operation: str, *, limit: int = 100) -> ContentRestriction:
        """One operation's restriction with every user and group (its lists page by start/limit)."""
        name = "getRestrictionsForOperation"
        path = OPERATIONS[name].site_path(id=content_id, operationKey=operation)
        users: list[UserV1] = []
        groups: list[Group] = []
        start = 0
        while True:
            body, _ = self._transport.request(name, "GET", path, weight=2, params={
                "expand": "restrictions.user,restrictions.group", "start": start, "limit": limit})
            page = ContentRestriction.model_validate(body)
            users += page.users
            groups += page.groups
            if len(page.users) < limit and len(page.groups) < limit:
                return ContentRestriction(operation=page.operation, restrictions=RestrictionPrincipals(
                    user=UserList(results=users, size=len(users)),
                    group=GroupList(results=groups, size=len(groups))))
            start += limit

    def groups(self, *, access_type: str | None = None) -> Iterator[Group]:
        return self._list(OffsetPages, "getGroups", Group, {"accessType": access_type, "limit": 200})

    def group_members(self, group_id: str) -> Iterator[UserV1]:
        return self._list(OffsetPages, "getGroupMembersByGroupId", UserV1, {"limit": 200}, groupId=group_id)

    def user_groups(self, account_id: str) -> Iterator[Group]:
        return self._list(OffsetPages, "getGroupMembershipsForUser", Group,
                          {"accountId": account_id, "limit": 200})

    def search_users(self, cql: str) -> Iterator[SearchResult]:
        """User search (`/wiki/rest/api/search/user`), e.g. `type = user` (up to 10k users)."""
        return self._list(OffsetPages, "searchUser", SearchResult, {"cql": cql, "limit": 200})

    def audit(self, *, start: datetime | None = None, end: datetime | None = None,
              search: str | None = None) -> Iterator[AuditRecord]:
        """Audit records between `start` and `end` (aware datetimes; sent as epoch ms). Needs admin."""
        params = {"startDate": start and _epoch_ms(start), "endDate": end and _epoch_ms(end),
                  "searchString": search, "limit": 1000}
        return self._list(OffsetPages, "getAuditRecords", AuditRecord, params)



def _numeric_id(content_id: str) -> str:
    value = str(content_id)
    value = value[3:] if value.startswith("att") else value
    if not value.isdigit():
        raise ValueError(f"{content_id!r} is not a Confluence content id (digits, or att + digits)")
    return value


def _epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no timezone: pass an aware datetime (e.g. in UTC)")
    return int(moment.timestamp() * 1000)
