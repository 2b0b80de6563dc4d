"""Tables derived from other tables alone, and from settings and code: documents, the search
index, content_access, the tree's paths. A build records the lake snapshot it read (`set_built`);
the next run builds again only when a snapshot since then wrote one of its inputs or the settings
or code differ (`built_from`). A run with nothing to do then costs them a look at the snapshot
list, not a comparison of every row (seconds at scale 100,000).

A build's own writes to its inputs (the tree mend writes the paths it reads) count as changes:
the run after one builds once more and finds nothing to do.
"""

from __future__ import annotations

from typing import Callable, Collection, TypeVar

from .lake import ALIAS
from .warehouse import Warehouse

# What a snapshot did, as the catalog records it (`ducklake_snapshot_changes`, "kind:value,..."):
# the kinds that can alter a table's rows, each naming a table id. The others keep every row:
# compaction, flushing inlined rows to files, macros, views. The catalog's table is read rather
# than `ducklake_snapshots()`, which reads every snapshot the lake keeps (50 ms at 3,000 of them,
# and a schedule every 5 minutes makes over 4,000 a day): the filter on the id reaches the catalog.
_ROW_KINDS = ("inserted_into_table", "deleted_from_table", "inlined_insert", "inlined_delete",
              "altered_table", "dropped_table")
_ROW_CHANGES = f"(?:{'|'.join(_ROW_KINDS)}):(\\d+)"
_METADATA = f"__ducklake_metadata_{ALIAS}"
T = TypeVar("T")


def read_snapshot(wh: Warehouse) -> int:
    """The snapshot `wh` reads: inside a transaction, the one it started from."""
    return int(wh.run(f"SELECT id FROM ducklake_current_snapshot('{ALIAS}')")[0][0])


def tables_changed_since(wh: Warehouse, snapshot: int) -> set[str] | None:
    """The tables (of `wh`'s schema) whose rows a snapshot after `snapshot` may have changed; None
    when the lake no longer keeps `snapshot` (expired: what came after it may be gone too)."""
    kept = wh.run(f"SELECT count(*) FROM {_METADATA}.ducklake_snapshot WHERE snapshot_id = ?", [snapshot])
    if not kept[0][0]:
        return None
    written = {table_id for (table_id,) in wh.run(
        f"SELECT DISTINCT unnest(regexp_extract_all(changes_made, '{_ROW_CHANGES}', 1)) "
        f"FROM {_METADATA}.ducklake_snapshot_changes WHERE snapshot_id > ?", [snapshot])}
    names = {str(table_id): name for table_id, name in wh.run(
        f"SELECT t.table_id, t.table_name FROM ducklake_table_info('{ALIAS}') t "
        f"JOIN {_METADATA}.ducklake_schema s ON s.schema_id = t.schema_id "
        "AND s.end_snapshot IS NULL WHERE s.schema_name = ?", [wh.lake.schema])}
    return {names[table_id] for table_id in written if table_id in names}


def built_from(wh: Warehouse, name: str, inputs: Collection[str], version: str) -> int | None:
    """The snapshot `name` was last built from, when building it again would change nothing: no
    snapshot since wrote one of `inputs`, and `version` (of the settings and code it also follows
    from) is the same. None: build it."""
    built = wh.get_state(f"built:{name}")
    if built is None or built["version"] != version:
        return None
    changed = tables_changed_since(wh, built["snapshot"])
    return built["snapshot"] if changed is not None and changed.isdisjoint(inputs) else None


def set_built(wh: Warehouse, name: str, snapshot: int, version: str) -> None:
    """Record that `name` was built from `snapshot` (`read_snapshot` at the build's start)."""
    wh.set_state(f"built:{name}", {"snapshot": snapshot, "version": version})


def update(wh: Warehouse, name: str, inputs: Collection[str], version: str, build: Callable[[int], T],
           unchanged: Callable[[int], T]) -> T:
    """`name` brought up to date in a transaction of its own: `build(snapshot)`, the snapshot being
    the one the transaction reads, then recorded with `version`; or, when building again would
    change nothing, `unchanged(the snapshot it was built from)`."""
    with wh.transaction():
        read_from = read_snapshot(wh)
        last = built_from(wh, name, inputs, version)
        if last is not None:
            return unchanged(last)
        result = build(read_from)
        set_built(wh, name, read_from, version)
        return result
