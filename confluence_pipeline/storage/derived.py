"""Tables derived from other tables alone, and from settings and code: documents, the search
index, content_access, the tree's paths. A build records the lake snapshot it read (`set_built`);
the next run builds again only when a snapshot since then wrote one of its inputs or the settings
or code differ (`built_from`). A run with nothing to do then costs them a look at the snapshot
list, not a comparison of every row (seconds at scale 100,000).

A build's own writes to its inputs (the tree mend writes the paths it reads) count as changes:
the run after one builds once more and finds nothing to do.
"""

from __future__ import annotations

from typing import Collection

from .lake import ALIAS
from .warehouse import Warehouse

# The changes a snapshot lists (`ducklake_snapshots`) that can alter a table's rows, each naming
# table ids. The others keep every row: compaction, flushing inlined rows to files, macros, views.
_ROW_CHANGES = ("tables_inserted_into", "tables_deleted_from", "inlined_insert", "inlined_delete",
                "tables_altered", "tables_dropped")


def read_snapshot(wh: Warehouse) -> int:
    """The snapshot `wh` reads: inside a transaction, the one it started from."""
    return int(wh.run(f"SELECT id FROM ducklake_current_snapshot('{ALIAS}')")[0][0])


def tables_changed_since(wh: Warehouse, snapshot: int) -> set[str] | None:
    """The tables (of `wh`'s schema) whose rows a snapshot after `snapshot` may have changed; None
    when the lake no longer keeps `snapshot` (expired: what came after it may be gone too)."""
    rows = wh.run(f"SELECT snapshot_id, changes FROM ducklake_snapshots('{ALIAS}') WHERE snapshot_id >= ?",
                  [snapshot])
    if not any(snapshot_id == snapshot for snapshot_id, _ in rows):
        return None
    names = {str(table_id): name for table_id, name in wh.run(
        f"SELECT t.table_id, t.table_name FROM ducklake_table_info('{ALIAS}') t "
        f"JOIN __ducklake_metadata_{ALIAS}.ducklake_schema s ON s.schema_id = t.schema_id "
        "AND s.end_snapshot IS NULL WHERE s.schema_name = ?", [wh.lake.schema])}
    return {names[table_id] for snapshot_id, changes in rows if snapshot_id > snapshot
            for kind in _ROW_CHANGES for table_id in changes.get(kind) or () if table_id in names}


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
