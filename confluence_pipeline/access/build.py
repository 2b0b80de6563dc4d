"""Building `content_access` (see model.py for the rule) in SQL, and the DuckDB macros that query it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..storage.derived import update
from ..storage.warehouse import Warehouse


# What content_access is built from.
INPUTS = ("pages", "folders", "blogposts", "comments", "attachments", "spaces", "space_permissions",
          "content_restrictions", "directory_reads", "groups", "group_members", "users")
MAX_DEPTH = 400  # deeper (or cyclic) trees are denied rather than walked for ever
LICENSED_CLASS = "ALL_LICENSED_USERS"
ANONYMOUS_CLASS = "ANONYMOUS_USERS"
SYNC_ACCOUNT_REASON = "the syncing account: it read this item through the API"
NO_SPACE = "(none)"  # the space key shown for items whose space is unknown


class AccessNotBuilt(RuntimeError):
    """The warehouse has no access model yet."""


_BUILD = [
    # Pages, folders and blog posts: what restrictions sit on; parent_type names a parent that is missing.
    """CREATE OR REPLACE TEMP TABLE access_nodes AS
        SELECT id, 'page' AS type, space_id, parent_id, parent_type, deleted_at, status FROM pages
        UNION ALL SELECT id, 'folder', space_id, parent_id, parent_type, deleted_at, status FROM folders
        UNION ALL SELECT id, 'blogpost', space_id, NULL, NULL, deleted_at, status FROM blogposts""",
    # Each node and every node above it; a row whose node is not stored marks a gap in the tree.
    f"""CREATE OR REPLACE TEMP TABLE access_chain AS
        WITH RECURSIVE walk(anchor_id, node_id, type_hint, depth) AS (
            SELECT id, id, type, 0 FROM access_nodes
            UNION ALL
            SELECT w.anchor_id, n.parent_id, n.parent_type, w.depth + 1
            FROM walk w JOIN access_nodes n ON n.id = w.node_id
            WHERE n.parent_id IS NOT NULL AND w.depth < {MAX_DEPTH})
        SELECT w.anchor_id, w.node_id, w.depth, coalesce(n.type, w.type_hint, 'page') AS node_type,
               n.id IS NULL AS missing, n.deleted_at IS NOT NULL AS node_deleted,
               w.depth = {MAX_DEPTH} AND n.parent_id IS NOT NULL AS too_deep
        FROM walk w LEFT JOIN access_nodes n ON n.id = w.node_id""",
    """CREATE OR REPLACE TEMP TABLE access_resolved_groups AS
        SELECT id FROM groups WHERE deleted_at IS NULL AND members_loaded""",
    """CREATE OR REPLACE TEMP TABLE access_read_restrictions AS
        SELECT r.content_id,
               list_distinct(coalesce(list(r.principal_id) FILTER (WHERE r.principal_type = 'user'), [])) AS users,
               list_distinct(coalesce(list(r.principal_id) FILTER (
                   WHERE r.principal_type = 'group' AND g.id IS NOT NULL), [])) AS groups,
               list_distinct(coalesce(list('group:' || r.principal_id) FILTER (
                   WHERE r.principal_type = 'group' AND g.id IS NULL), [])) AS unresolved
        FROM content_restrictions r LEFT JOIN access_resolved_groups g ON g.id = r.principal_id
        WHERE r.operation = 'read' GROUP BY r.content_id""",
    # Clauses of each node from its own restriction and its ancestors' (trashed ancestors are skipped:
    # Confluence moves a trashed page's children up to its parent).
    """CREATE OR REPLACE TEMP TABLE access_chain_clauses AS
        SELECT c.anchor_id, c.depth,
               CASE WHEN c.missing OR c.too_deep OR r.ok IS NOT TRUE THEN 'missing' ELSE 'restriction' END AS kind,
               c.node_type AS source_type, c.node_id AS source_id,
               coalesce(rr.users, []) AS users, coalesce(rr.groups, []) AS groups,
               coalesce(rr.unresolved, []) AS unresolved,
               CASE WHEN c.too_deep THEN format('the tree above {} {} is deeper than {} levels or cyclic',
                                                c.node_type, c.node_id, c.depth)
                    WHEN c.missing THEN format('{} {} above this item is not synced', c.node_type, c.node_id)
                    WHEN r.ok IS NULL THEN format('the restrictions of {} {} were not read yet', c.node_type, c.node_id)
                    WHEN NOT r.ok THEN format('the restrictions of {} {} failed to load: {}', c.node_type, c.node_id,
                                              r.detail)
                    ELSE format('read restriction on {} {}', c.node_type, c.node_id) END AS reason
        FROM access_chain c
        LEFT JOIN directory_reads r ON r.kind = 'restrictions' AND r.id = c.node_id
        LEFT JOIN access_read_restrictions rr ON rr.content_id = c.node_id
        WHERE NOT c.node_deleted AND (c.missing OR c.too_deep OR r.ok IS NOT TRUE OR rr.content_id IS NOT NULL)""",
    f"""CREATE OR REPLACE TEMP TABLE access_space_clauses AS
        WITH perms AS (
            SELECT p.space_id, p.principal_type, p.principal_id, g.id IS NOT NULL AS resolved
            FROM space_permissions p LEFT JOIN access_resolved_groups g
                 ON p.principal_type = 'group' AND g.id = p.principal_id
            WHERE p.operation = 'read' AND p.target_type = 'space')
        SELECT s.id AS space_id,
               CASE WHEN s.deleted_at IS NULL AND r.ok THEN 'space' ELSE 'missing' END AS kind,
               list_distinct(coalesce(list(p.principal_id) FILTER (WHERE p.principal_type = 'user'), [])) AS users,
               list_distinct(coalesce(list(p.principal_id) FILTER (
                   WHERE p.principal_type = 'group' AND p.resolved), [])) AS groups,
               coalesce(bool_or(p.principal_type = 'access-class' AND p.principal_id = '{LICENSED_CLASS}'),
                        FALSE) AS licensed,
               coalesce(bool_or(p.principal_type = 'access-class' AND p.principal_id = '{ANONYMOUS_CLASS}'),
                        FALSE) AS anonymous,
               list_distinct(coalesce(list(p.principal_type || ':' || p.principal_id) FILTER (
                   WHERE (p.principal_type = 'group' AND NOT p.resolved)
                      OR p.principal_type NOT IN ('user', 'group', 'access-class')
                      OR (p.principal_type = 'access-class'
                          AND p.principal_id NOT IN ('{LICENSED_CLASS}', '{ANONYMOUS_CLASS}'))), [])) AS unresolved,
               CASE WHEN s.deleted_at IS NOT NULL THEN format('space {{}} no longer exists', s.key)
                    WHEN r.ok IS NULL THEN format('the permissions of space {{}} were not read yet', s.key)
                    WHEN NOT r.ok THEN format('the permissions of space {{}} failed to load: {{}}', s.key, r.detail)
                    ELSE format('read permission of space {{}}', s.key) END AS reason
        FROM spaces s
        LEFT JOIN directory_reads r ON r.kind = 'space_permissions' AND r.id = s.id
        LEFT JOIN perms p ON p.space_id = s.id AND r.ok
        GROUP BY s.id, s.key, s.deleted_at, r.ok, r.detail""",
    # Every item with the node its access follows: itself, or for comments and attachments their container.
    """CREATE OR REPLACE TEMP TABLE access_items AS
        SELECT id AS content_id, type AS content_type, id AS anchor_id, deleted_at, status FROM access_nodes
        UNION ALL SELECT id, 'comment', container_id, deleted_at, status FROM comments
        UNION ALL SELECT id, 'attachment', container_id, deleted_at, status FROM attachments""",
    """CREATE OR REPLACE TEMP TABLE access_clauses AS
        WITH items AS (
            SELECT i.*, n.id AS node_id, n.type AS node_type, n.space_id, n.deleted_at AS node_deleted_at,
                   n.status AS node_status
            FROM access_items i LEFT JOIN access_nodes n ON n.id = i.anchor_id)
        -- trashed or purged: the item, or the page or blog post it belongs to
        SELECT content_id, content_type, space_id, 0 AS ord, 0 AS depth, 'deleted' AS kind,
               content_type AS source_type, content_id AS source_id, [] AS users, [] AS groups,
               FALSE AS licensed, FALSE AS anonymous, [] AS unresolved,
               format('the {} is {}', content_type, status) AS reason
        FROM items WHERE deleted_at IS NOT NULL
        UNION ALL
        SELECT content_id, content_type, space_id, 0, 0, 'deleted', node_type, node_id, [], [], FALSE, FALSE, [],
               format('its {} {} is {}', node_type, node_id, node_status)
        FROM items WHERE deleted_at IS NULL AND node_deleted_at IS NOT NULL AND node_id <> content_id
        UNION ALL
        SELECT content_id, content_type, NULL, 0, 0, 'missing', 'page', anchor_id, [], [], FALSE, FALSE, [],
               CASE WHEN anchor_id IS NULL THEN format('the {} names no page or blog post', content_type)
                    ELSE format('its page or blog post {} is not synced', anchor_id) END
        FROM items WHERE node_id IS NULL
        UNION ALL
        SELECT i.content_id, i.content_type, i.space_id, 1, 0, coalesce(s.kind, 'missing'), 'space', i.space_id,
               coalesce(s.users, []), coalesce(s.groups, []), coalesce(s.licensed, FALSE),
               coalesce(s.anonymous, FALSE), coalesce(s.unresolved, []),
               coalesce(s.reason, format('space {} is not synced', i.space_id))
        FROM items i LEFT JOIN access_space_clauses s ON s.space_id = i.space_id
        WHERE i.node_id IS NOT NULL
        UNION ALL
        SELECT i.content_id, i.content_type, i.space_id, 2, c.depth, c.kind, c.source_type, c.source_id,
               c.users, c.groups, FALSE, FALSE, c.unresolved, c.reason
        FROM items i JOIN access_chain_clauses c ON c.anchor_id = i.node_id""",
    "DELETE FROM content_access",
]

_INSERT = """INSERT INTO content_access (content_id, clause, content_type, space_id, kind, source_type, source_id,
                                   users, groups, licensed, anonymous, unresolved, reason, built_at)
        SELECT content_id, row_number() OVER (PARTITION BY content_id ORDER BY ord, depth DESC, source_id),
               content_type, space_id, kind, source_type, source_id, users, groups, licensed, anonymous,
               unresolved, reason, ?
        FROM access_clauses"""

_CLEANUP = ["DROP TABLE IF EXISTS " + t for t in (
    "access_clauses", "access_items", "access_space_clauses", "access_chain_clauses", "access_read_restrictions",
    "access_resolved_groups", "access_chain", "access_nodes")]

# The persisted query layer. Parameters carry a prefix so that they never shadow a column.
MACROS = [
    """CREATE OR REPLACE MACRO access_grants(c_kind, c_users, c_groups, c_licensed, c_anonymous,
                                             v_id, v_groups, v_licensed) AS
        c_kind IN ('space', 'restriction')
        AND (c_anonymous OR coalesce(list_contains(c_users, v_id), FALSE)
             OR list_has_any(c_groups, v_groups) OR (c_licensed AND v_licensed))""",
    """CREATE OR REPLACE MACRO access_how(c_kind, c_users, c_groups, c_licensed, c_anonymous,
                                          v_id, v_groups, v_licensed) AS
        CASE WHEN c_kind NOT IN ('space', 'restriction') THEN NULL
             WHEN c_anonymous THEN 'anyone (anonymous access)'
             WHEN coalesce(list_contains(c_users, v_id), FALSE) THEN 'named directly'
             WHEN list_has_any(c_groups, v_groups) THEN 'group ' || (
                 SELECT string_agg(g.name, ', ' ORDER BY g.name) FROM groups g
                 WHERE list_contains(list_intersect(c_groups, v_groups), g.id))
             WHEN c_licensed AND v_licensed THEN 'all licensed users'
             ELSE NULL END""",
    """CREATE OR REPLACE VIEW access_user_groups AS
        SELECT m.account_id, list(m.group_id ORDER BY m.group_id) AS groups
        FROM group_members m JOIN groups g ON g.id = m.group_id AND g.deleted_at IS NULL AND g.members_loaded
        GROUP BY m.account_id""",
    # One row: the viewer's groups, whether they are licensed, whether they are the syncing account.
    """CREATE OR REPLACE MACRO access_viewer(viewer_id) AS TABLE
        SELECT viewer_id AS account_id,
               coalesce((SELECT ug.groups FROM access_user_groups ug WHERE ug.account_id = viewer_id), []) AS groups,
               coalesce((SELECT u.account_type = 'atlassian' FROM users u
                         WHERE u.account_id = viewer_id AND u.deleted_at IS NULL), FALSE) AS licensed,
               coalesce((SELECT u.is_sync_account FROM users u
                         WHERE u.account_id = viewer_id AND u.deleted_at IS NULL), FALSE) AS sync_account""",
    """CREATE OR REPLACE MACRO visible_items(viewer_id) AS TABLE
        SELECT a.content_id, any_value(a.content_type) AS content_type, any_value(a.space_id) AS space_id
        FROM content_access a CROSS JOIN access_viewer(viewer_id) v
        GROUP BY a.content_id
        HAVING bool_and(access_grants(a.kind, a.users, a.groups, a.licensed, a.anonymous, v.account_id, v.groups,
                                      v.licensed))
            OR (any_value(v.sync_account) AND NOT bool_or(a.kind = 'deleted'))""",
    f"""CREATE OR REPLACE MACRO content_viewers(item_id) AS TABLE
        WITH clauses AS (SELECT * FROM content_access WHERE content_id = item_id),
        people AS (
            SELECT u.account_id, u.display_name, u.email, u.account_type = 'atlassian' AS licensed,
                   coalesce(u.is_sync_account, FALSE) AS sync_account, coalesce(ug.groups, []) AS groups
            FROM users u LEFT JOIN access_user_groups ug ON ug.account_id = u.account_id
            WHERE u.deleted_at IS NULL),
        decided AS (
            SELECT p.account_id, p.display_name, p.email, p.sync_account, c.clause, c.kind, c.reason,
                   access_grants(c.kind, c.users, c.groups, c.licensed, c.anonymous, p.account_id, p.groups,
                                 p.licensed) AS grants,
                   access_how(c.kind, c.users, c.groups, c.licensed, c.anonymous, p.account_id, p.groups,
                              p.licensed) AS how
            FROM people p CROSS JOIN clauses c)
        SELECT account_id, any_value(display_name) AS display_name, any_value(email) AS email,
               CASE WHEN bool_and(grants) THEN string_agg(reason || ': ' || how, '; ' ORDER BY clause)
                    ELSE '{SYNC_ACCOUNT_REASON}' END AS reason
        FROM decided GROUP BY account_id
        HAVING bool_and(grants) OR (any_value(sync_account) AND NOT bool_or(kind = 'deleted'))""",
    """CREATE OR REPLACE MACRO access_explain(item_id, viewer_id) AS TABLE
        SELECT a.clause, a.kind, a.source_type, a.source_id, a.reason,
               access_grants(a.kind, a.users, a.groups, a.licensed, a.anonymous, v.account_id, v.groups,
                             v.licensed) AS grants,
               access_how(a.kind, a.users, a.groups, a.licensed, a.anonymous, v.account_id, v.groups,
                          v.licensed) AS how,
               v.sync_account
        FROM content_access a CROSS JOIN access_viewer(viewer_id) v
        WHERE a.content_id = item_id ORDER BY a.clause""",
    # What the model could not decide, by cause: items denied for missing data, and principals that
    # grant nobody because the API cannot expand them.
    """CREATE OR REPLACE VIEW access_problems AS
        SELECT 'denied' AS effect, reason AS problem, count(DISTINCT content_id) AS items,
               min(content_id) AS example_content_id
        FROM content_access WHERE kind = 'missing' GROUP BY reason
        UNION ALL
        SELECT 'grants nobody', format('{} in the {}', principal, any_value(reason)), count(DISTINCT content_id),
               min(content_id)
        FROM (SELECT content_id, source_type, source_id, reason, unnest(unresolved) AS principal FROM content_access)
        GROUP BY principal, source_type, source_id""",
]


@dataclass(frozen=True)
class AccessSummary:
    built_from: int | None  # the lake snapshot whose content and directory the clauses show
    items: int
    clauses: int
    restricted_items: int  # with at least one read restriction on the item or above it
    anonymous_items: int  # anyone may see them
    denied_missing: int  # live items denied because something needed to decide is missing
    unresolved_principals: list[str]  # principals that grant nobody (roles, admin classes, unread groups)
    problems: list[str]  # a sample of the missing-data reasons

    def metadata(self) -> dict[str, Any]:
        return {"built_from_snapshot": self.built_from or 0, "items": self.items, "clauses": self.clauses,
                "restricted_items": self.restricted_items, "anonymous_items": self.anonymous_items,
                "denied_missing_data": self.denied_missing,
                "unresolved_principals": ", ".join(self.unresolved_principals)}


def update_content_access(wh: Warehouse, now: datetime) -> AccessSummary:
    """`build_content_access` in a transaction of its own; skipped when none of the tables it is
    built from changed since the last build (nor this code): it would write the same clauses again."""
    def build(snapshot: int) -> AccessSummary:
        build_content_access(wh, now)
        return summarize(wh, snapshot)

    version = hashlib.sha1("\n".join([*_BUILD, _INSERT, *MACROS]).encode()).hexdigest()
    return update(wh, "content_access", INPUTS, version, build, lambda snapshot: summarize(wh, snapshot))


def build_content_access(wh: Warehouse, now: datetime) -> None:
    """Rebuild `content_access` from the stored content and directory, and (re)create the macros."""
    for sql in _BUILD:
        wh.run(sql)
    wh.run(_INSERT, [now])
    for sql in _CLEANUP + MACROS:
        wh.run(sql)


def summarize(wh: Warehouse, built_from: int | None = None) -> AccessSummary:
    live = "content_id NOT IN (SELECT content_id FROM content_access WHERE kind = 'deleted')"
    return AccessSummary(
        built_from=built_from,
        items=_count(wh, "SELECT count(DISTINCT content_id) FROM content_access"),
        clauses=_count(wh, "SELECT count(*) FROM content_access"),
        restricted_items=_count(wh, "SELECT count(DISTINCT content_id) FROM content_access "
                                    "WHERE kind = 'restriction'"),
        anonymous_items=_count(wh, "SELECT count(*) FROM (SELECT content_id FROM content_access "
                                   "GROUP BY content_id HAVING bool_and(anonymous))"),
        denied_missing=_count(wh, f"SELECT count(DISTINCT content_id) FROM content_access "
                                  f"WHERE kind = 'missing' AND {live}"),
        unresolved_principals=[r[0] for r in wh.run(
            "SELECT DISTINCT unnest(unresolved) FROM content_access ORDER BY 1 LIMIT 50")],
        problems=[r[0] for r in wh.run(f"SELECT DISTINCT reason FROM content_access "
                                       f"WHERE kind = 'missing' AND {live} ORDER BY 1 LIMIT 20")])


def _count(wh: Warehouse, sql: str) -> int:
    return int(wh.run(sql)[0][0])
