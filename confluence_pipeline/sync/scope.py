"""Derived columns computed in DuckDB after every write: tree paths and sync-filter scope.

Doing this in SQL over the stored tree (rather than per fetched row) makes it right whatever
order windows run in: a page's breadcrumbs and its "under page X" filter depend on ancestors
that may have been synced by another window, and a filter changed in the settings re-marks
every stored row on the next sync.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Collection
from zoneinfo import ZoneInfo

from ..settings import DateRange, SyncFilters
from ..storage.warehouse import Warehouse

TREE_BATCH = 10_000


def refresh_tree(wh: Warehouse) -> None:
    """ancestor_ids / ancestor_titles (top first) for every page and folder."""
    wh.run("""
        CREATE OR REPLACE TEMP TABLE tree_paths AS
        WITH RECURSIVE nodes AS (
            SELECT id, parent_id, title FROM pages UNION ALL SELECT id, parent_id, title FROM folders),
        walk(id, anc_id, depth) AS (
            SELECT id, parent_id, 1 FROM nodes WHERE parent_id IS NOT NULL
            UNION ALL
            SELECT w.id, n.parent_id, w.depth + 1 FROM walk w JOIN nodes n ON n.id = w.anc_id
            WHERE n.parent_id IS NOT NULL AND w.depth < 200)
        SELECT w.id, list(w.anc_id ORDER BY w.depth DESC) AS ids,
               list(coalesce(n.title, '') ORDER BY w.depth DESC) AS titles
        FROM walk w LEFT JOIN nodes n ON n.id = w.anc_id GROUP BY w.id""")
    for table in ("pages", "folders"):
        # the rows whose path changed, numbered: updated TREE_BATCH at a time, because an update
        # holds the whole rows it rewrites (bodies too) in memory (a first sync at scale 100,000
        # rewrote every page at once and ran out of DuckDB's memory limit)
        wh.run(f"""
            CREATE OR REPLACE TEMP TABLE tree_changes AS
            SELECT row_number() OVER () AS n, t.id, coalesce(tp.ids, []) AS ids, coalesce(tp.titles, []) AS titles
            FROM {table} t LEFT JOIN tree_paths tp ON tp.id = t.id
            WHERE t.ancestor_ids IS DISTINCT FROM coalesce(tp.ids, [])
               OR t.ancestor_titles IS DISTINCT FROM coalesce(tp.titles, [])""")
        changed = wh.run("SELECT count(*) FROM tree_changes")[0][0]
        for first in range(0, changed, TREE_BATCH):
            wh.run(f"""
                UPDATE {table} SET ancestor_ids = c.ids, ancestor_titles = c.titles
                FROM (SELECT id, ids, titles FROM tree_changes WHERE n > ? AND n <= ?) c
                WHERE {table}.id = c.id""", [first, first + TREE_BATCH])
        wh.run("DROP TABLE tree_changes")
    wh.run("DROP TABLE tree_paths")


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def _date_condition(column: str, rng: DateRange, tz: ZoneInfo, params: list) -> str:
    """Is After D: from the day after D; Is Before D: up to the start of D (local days)."""
    parts = []
    if rng.after:
        parts.append(f"{column} >= ?")
        params.append(_day_start(rng.after + timedelta(days=1), tz))
    if rng.before:
        parts.append(f"{column} < ?")
        params.append(_day_start(rng.before, tz))
    return " AND ".join(parts) or "TRUE"


def _in_out(column_expr: str, values_in: list[str], values_out: list[str], params: list, *,
            list_column: str | None = None) -> str:
    """`column_expr` among values_in (or, with `list_column`, any of its ancestors) and not among
    values_out (nor any ancestor)."""
    parts = []
    for values, negate in ((values_in, False), (values_out, True)):
        if not values:
            continue
        condition = f"{column_expr} IN (SELECT unnest(?::VARCHAR[]))"
        params.append(values)
        if list_column:
            condition += f" OR list_has_any(coalesce({list_column}, []), ?::VARCHAR[])"
            params.append(values)
        parts.append(f"NOT ({condition})" if negate else f"({condition})")
    return " AND ".join(parts) or "TRUE"


def spaces_in_scope(wh: Warehouse, filters: SyncFilters) -> list[str]:
    """Ids of the stored, live spaces the space-key filters let in (keys are case-sensitive)."""
    params: list = []
    space_ok = _in_out("s.key", filters.space_keys_in, filters.space_keys_not_in, params)
    return [row[0] for row in wh.run(f"SELECT id FROM spaces s WHERE deleted_at IS NULL AND ({space_ok}) "
                                     "ORDER BY id::BIGINT", params)]


def scope_spaces(wh: Warehouse, filters: SyncFilters) -> None:
    """Mark every stored space in or out of the space-key filters."""
    params: list = []
    space_ok = _in_out("s.key", filters.space_keys_in, filters.space_keys_not_in, params)
    wh.run(f"UPDATE spaces s SET in_scope = ({space_ok}) WHERE in_scope IS DISTINCT FROM ({space_ok})", params * 2)


# Whose rows, besides its own and the filters, a table's scope follows from: spaces (their keys),
# containers (comments, attachments), and the tree (pages and folders: the mend rewrites both
# tables' ancestor paths). In order: a table comes after those it follows from, the tree's pair
# aside (neither reads the other's scope, only its paths).
SCOPE_INPUTS: dict[str, tuple[str, ...]] = {
    "spaces": (), "pages": ("spaces", "folders"), "folders": ("spaces", "pages"), "blogposts": ("spaces",),
    "comments": ("pages", "blogposts"), "attachments": ("pages", "blogposts")}


def scope_follows(changed: str) -> list[str]:
    """The tables whose scope may change when `changed`'s rows do: it, and what follows from it."""
    affected = {changed}
    for table, inputs in SCOPE_INPUTS.items():
        if affected.intersection(inputs):
            affected.add(table)
    return [table for table in SCOPE_INPUTS if table in affected]


def apply_scope(wh: Warehouse, filters: SyncFilters, tz: ZoneInfo,
                tables: Collection[str] = tuple(SCOPE_INPUTS)) -> None:
    """Mark every stored row of `tables` in or out of the sync filters' scope."""
    if "spaces" in tables:
        scope_spaces(wh, filters)

    def content(table: str, id_in: list[str], id_out: list[str], tree: bool) -> None:
        params: list = []
        ids = _in_out(f"{table}.id", id_in, id_out, params, list_column=f"{table}.ancestor_ids" if tree else None)
        modified = _date_condition(f"{table}.modified_at", filters.modified, tz, params)
        created = _date_condition(f"{table}.created_at", filters.created, tz, params)
        wh.run(f"""
            UPDATE {table} SET in_scope = s.in_scope
            FROM (SELECT {table}.id,
                         coalesce(sp.in_scope, FALSE) AND ({ids}) AND ({modified}) AND ({created}) AS in_scope
                  FROM {table} LEFT JOIN spaces sp ON sp.id = {table}.space_id) s
            WHERE {table}.id = s.id AND {table}.in_scope IS DISTINCT FROM s.in_scope""", params)

    if "pages" in tables:
        content("pages", filters.page_ids_in, filters.page_ids_not_in, tree=True)
    if "folders" in tables:
        content("folders", filters.page_ids_in, filters.page_ids_not_in, tree=True)
    if "blogposts" in tables:
        content("blogposts", filters.blogpost_ids_in, filters.blogpost_ids_not_in, tree=False)
    for table in ("comments", "attachments"):
        if table not in tables:
            continue
        wh.run(f"""
            UPDATE {table} SET in_scope = c.in_scope
            FROM (SELECT t.id, coalesce(p.in_scope, b.in_scope, FALSE) AS in_scope FROM {table} t
                  LEFT JOIN pages p ON t.container_type = 'page' AND p.id = t.container_id
                  LEFT JOIN blogposts b ON t.container_type = 'blogpost' AND b.id = t.container_id) c
            WHERE {table}.id = c.id AND {table}.in_scope IS DISTINCT FROM c.in_scope""")
