"""Who can see what, as data: the `content_access` table and the DuckDB macros that query it.

Confluence's rule (DESIGN.md "Permissions"): a user sees an item when they hold `read` on its
space and are named, directly or through a group, in the read restriction of the item and of
every restricted page or folder above it. Read restrictions inherit down the tree (every
restricted ancestor counts, not only the nearest); update restrictions alone hide nothing; an
empty restriction means "inherit"; comments and attachments follow their page or blog post.

`content_access` stores that rule per item as clauses, one row each:
- `space`: the space's read permission: users, groups, every licensed (atlassian) user, anyone
  (anonymous access);
- `restriction`: the read restriction of the item or of an ancestor (top first);
- `missing`: something needed to decide was not synced or failed to load (the space's
  permissions, an item's restrictions, a parent, the container): nobody passes it, the item is
  denied, and the clause's `reason` says what is missing;
- `deleted`: the item, or its page or blog post, is trashed or purged: nobody passes it.
A viewer sees an item when they pass every clause. Principals that cannot be expanded from what
the API offers (roles, access classes other than licensed users and anonymous, groups whose
members were not read) grant nobody and are listed in `unresolved`.

Site administrators get no special treatment: in Confluence Cloud restrictions bind them too
(Atlassian's "admin key" is an explicit, temporary action), and no API says who is one. The one
account whose view is known beyond the rule is the account the pipeline syncs as
(`users.is_sync_account`): it sees every stored item that is not trashed, because it read each of
them through the API.

Macros (persisted in the DuckDB file, usable from any DuckDB client):
    visible_items(account_id)            items the account can see (NULL: an anonymous visitor)
    content_viewers(content_id)          users who can see the item, each with the reason
    access_explain(content_id, account_id)   each clause: does it grant, how, or why not
Views: `access_problems` (items denied for missing data, and unresolved principals).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..storage.warehouse import Warehouse
from .build import NO_SPACE, AccessNotBuilt


@dataclass(frozen=True)
class UserRef:
    account_id: str
    display_name: str | None
    email: str | None
    account_type: str | None
    is_sync_account: bool
    groups: list[str]  # names


@dataclass(frozen=True)
class VisibleItem:
    content_id: str
    content_type: str
    space_id: str | None
    space_key: str | None
    title: str | None


@dataclass(frozen=True)
class Viewer:
    account_id: str
    display_name: str | None
    email: str | None
    reason: str


@dataclass(frozen=True)
class Clause:
    clause: int
    kind: str
    source_type: str
    source_id: str | None
    reason: str
    users: list[str]  # account ids
    user_names: list[str]
    groups: list[str]  # names
    licensed: bool
    anonymous: bool
    unresolved: list[str]


@dataclass(frozen=True)
class Decision:
    clause: int
    kind: str
    reason: str
    grants: bool
    how: str | None  # which principal lets the viewer through


_TITLES = """
    SELECT id, title FROM pages UNION ALL SELECT id, title FROM blogposts UNION ALL SELECT id, title FROM folders
    UNION ALL SELECT id, title FROM comments UNION ALL SELECT id, title FROM attachments"""


class AccessModel:
    """Questions about access, answered from the warehouse alone (no API calls)."""

    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh
        built = wh.run("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'visible_items'")[0][0]
        if not built:
            raise AccessNotBuilt(f"The lake ({wh.lake.describe()}) has no access model yet: materialize the content_access asset "
                                 "(`confluence-pipeline sync`, or in the Dagster UI) first")

    def find_user(self, email_or_account_id: str) -> UserRef | None:
        rows = self.wh.run("""
            SELECT u.account_id, u.display_name, u.email, u.account_type, coalesce(u.is_sync_account, FALSE),
                   coalesce((SELECT list(g.name ORDER BY g.name) FROM group_members m JOIN groups g ON g.id = m.group_id
                             WHERE m.account_id = u.account_id AND g.deleted_at IS NULL), [])
            FROM users u WHERE u.deleted_at IS NULL AND (u.account_id = ? OR lower(u.email) = lower(?))
            ORDER BY u.account_id = ? DESC LIMIT 1""", [email_or_account_id] * 3)
        return UserRef(*rows[0]) if rows else None

    def visible_items(self, account_id: str | None) -> list[VisibleItem]:
        """Every item `account_id` can see (None: an anonymous visitor), by space, then id."""
        rows = self.wh.run(f"""
            SELECT v.content_id, v.content_type, v.space_id, s.key, t.title
            FROM visible_items(?) v LEFT JOIN spaces s ON s.id = v.space_id
            LEFT JOIN ({_TITLES}) t ON t.id = v.content_id
            ORDER BY s.key NULLS LAST, length(v.content_id), v.content_id""", [account_id])
        return [VisibleItem(*row) for row in rows]

    def visible_ids(self, account_id: str | None) -> set[str]:
        return {r[0] for r in self.wh.run("SELECT content_id FROM visible_items(?)", [account_id])}

    def viewers(self, content_id: str) -> list[Viewer]:
        rows = self.wh.run("SELECT account_id, display_name, email, reason FROM content_viewers(?) "
                           "ORDER BY display_name, account_id", [content_id])
        return [Viewer(*row) for row in rows]

    def anyone_can_view(self, content_id: str) -> bool:
        """Whether anonymous visitors (and so everyone) can see the item."""
        return bool(self.wh.run("SELECT count(*) FROM visible_items(NULL) WHERE content_id = ?", [content_id])[0][0])

    def clauses(self, content_id: str) -> list[Clause]:
        rows = self.wh.run("""
            SELECT a.clause, a.kind, a.source_type, a.source_id, a.reason, a.users,
                   coalesce((SELECT list(coalesce(u.display_name, uid) ORDER BY coalesce(u.display_name, uid))
                             FROM unnest(a.users) AS t(uid) LEFT JOIN users u ON u.account_id = t.uid), []),
                   coalesce((SELECT list(coalesce(g.name, gid) ORDER BY coalesce(g.name, gid))
                             FROM unnest(a.groups) AS t(gid) LEFT JOIN groups g ON g.id = t.gid), []),
                   a.licensed, a.anonymous, a.unresolved
            FROM content_access a WHERE a.content_id = ? ORDER BY a.clause""", [content_id])
        return [Clause(*row) for row in rows]

    def explain(self, content_id: str, account_id: str | None) -> list[Decision]:
        rows = self.wh.run("SELECT clause, kind, reason, grants, how FROM access_explain(?, ?)",
                           [content_id, account_id])
        return [Decision(*row) for row in rows]

    def live_items_by_space(self) -> dict[str, int]:
        """Items not trashed or purged, by space key."""
        return dict(self.wh.run(f"""
            SELECT coalesce(s.key, '{NO_SPACE}'), count(DISTINCT a.content_id) FROM content_access a
            LEFT JOIN spaces s ON s.id = a.space_id
            WHERE a.content_id NOT IN (SELECT content_id FROM content_access WHERE kind = 'deleted')
            GROUP BY 1"""))

    def item(self, content_id: str) -> VisibleItem | None:
        rows = self.wh.run(f"""
            SELECT a.content_id, any_value(a.content_type), any_value(a.space_id), any_value(s.key),
                   any_value(t.title)
            FROM content_access a LEFT JOIN spaces s ON s.id = a.space_id
            LEFT JOIN ({_TITLES}) t ON t.id = a.content_id
            WHERE a.content_id = ? GROUP BY a.content_id""", [content_id])
        return VisibleItem(*rows[0]) if rows else None
