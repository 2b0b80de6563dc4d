"""Lake maintenance: fewer, larger files; history kept for the retention period; nothing orphaned.

Each sync commits snapshots made of small Parquet files (and small changes inlined in the
catalog). Maintenance, run by its own Dagster job and schedule (or `confluence-pipeline
maintain`), in this order:
1. drops superseded sync_state rows, writes inlined rows out to Parquet and merges adjacent small files (readers see the same rows);
2. expires snapshots older than the retention period (`storage.retention_days`): time travel and
   the change feed reach back that far;
3. deletes the files that only expired snapshots or merged-away files used;
4. deletes orphaned files: Parquet that no snapshot knows, written by runs killed before their
   commit, once older than a grace period (a running writer's files are younger than that), and
   spill files such runs left in the work folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .lake import ALIAS, Lake, WriteConflict
from .warehouse import Warehouse

ORPHAN_GRACE = timedelta(hours=1)  # longer than any write transaction stays open


@dataclass
class MaintenanceReport:
    state_rows_dropped: int = 0  # sync_state rows a newer row of the same key superseded
    rows_flushed: int = 0
    files_merged: int = 0  # small files rewritten into...
    files_created: int = 0  # ...these
    snapshots_expired: int = 0
    snapshots_before: int = 0
    snapshots_after: int = 0
    old_files_deleted: int = 0
    orphans_deleted: int = 0
    spill_files_deleted: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    duration_s: float = 0.0
    orphan_paths: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        return {"state_rows_dropped": self.state_rows_dropped, "rows_flushed": self.rows_flushed, "files_merged": self.files_merged,
                "files_created": self.files_created, "snapshots_expired": self.snapshots_expired,
                "snapshots_before": self.snapshots_before, "snapshots_after": self.snapshots_after,
                "old_files_deleted": self.old_files_deleted, "orphans_deleted": self.orphans_deleted,
                "spill_files_deleted": self.spill_files_deleted, "data_bytes_before": self.bytes_before,
                "data_bytes_after": self.bytes_after, "duration_s": round(self.duration_s, 3)}

    def summary(self) -> str:
        return (f"merged {self.files_merged} files into {self.files_created}, flushed {self.rows_flushed} inlined "
                f"rows, expired {self.snapshots_expired} snapshots ({self.snapshots_before} -> "
                f"{self.snapshots_after}), deleted {self.old_files_deleted} unused and {self.orphans_deleted} "
                f"orphaned files and {self.spill_files_deleted} spill files; data {self.bytes_before:,} -> "
                f"{self.bytes_after:,} bytes")


def maintain(lake: Lake, *, retention: timedelta, orphan_grace: timedelta = ORPHAN_GRACE,
             now: datetime | None = None) -> MaintenanceReport:
    """Compact, expire and clean the lake; returns what was done (see the module's docstring)."""
    now = now or datetime.now(timezone.utc)
    report = MaintenanceReport()
    started = time.perf_counter()
    with Warehouse(lake, writer="lake_maintenance") as wh:
        con = wh.con

        def call(sql: str, params: list | None = None) -> list[tuple]:
            return con.execute(f"CALL {sql}", params or []).fetchall()

        report.snapshots_before = _snapshot_count(con)
        report.bytes_before = _data_bytes(con)
        report.state_rows_dropped = _compact_sync_state(wh)
        report.rows_flushed = sum(r[2] for r in call(f"ducklake_flush_inlined_data('{ALIAS}')"))
        merged = call(f"ducklake_merge_adjacent_files('{ALIAS}')")
        report.files_merged = sum(r[2] for r in merged)
        report.files_created = sum(r[3] for r in merged)
        report.snapshots_expired = len(call(f"ducklake_expire_snapshots('{ALIAS}', older_than => ?)",
                                            [now - retention]))
        report.old_files_deleted = len(call(f"ducklake_cleanup_old_files('{ALIAS}', cleanup_all => true)"))
        orphans = call(f"ducklake_delete_orphaned_files('{ALIAS}', older_than => ?)", [now - orphan_grace])
        report.orphans_deleted = len(orphans)
        report.orphan_paths = [r[0] for r in orphans[:20]]
        report.snapshots_after = _snapshot_count(con)
        report.bytes_after = _data_bytes(con)
    report.spill_files_deleted = _delete_old_spill_files(lake, now - orphan_grace)
    report.duration_s = time.perf_counter() - started
    return report


def _compact_sync_state(wh: Warehouse) -> int:
    """Drop superseded sync_state rows (see Warehouse.set_state); should a writer append meanwhile
    and the commit conflict, the next maintenance run does it instead."""
    try:
        with wh.transaction():
            return int(wh.run("""DELETE FROM sync_state s WHERE EXISTS (SELECT 1 FROM sync_state n
                WHERE n."key" = s."key" AND n.updated_at > s.updated_at)""")[0][0])
    except WriteConflict:
        return 0


def _snapshot_count(con: Any) -> int:
    return int(con.execute(f"SELECT count(*) FROM ducklake_snapshots('{ALIAS}')").fetchone()[0])


def _data_bytes(con: Any) -> int:
    """Bytes of the data files the current snapshot reads."""
    meta = f"__ducklake_metadata_{ALIAS}"
    row = con.execute(f"""SELECT (SELECT coalesce(sum(file_size_bytes), 0) FROM {meta}.ducklake_data_file
                                  WHERE end_snapshot IS NULL)
                               + (SELECT coalesce(sum(file_size_bytes), 0) FROM {meta}.ducklake_delete_file
                                  WHERE end_snapshot IS NULL)""").fetchone()
    return int(row[0])


def _delete_old_spill_files(lake: Lake, before: datetime) -> int:
    """DuckDB's spill files that killed writers left behind (a live writer's are younger)."""
    if not lake.work_dir.exists():
        return 0
    deleted = 0
    for path in lake.work_dir.rglob("*"):
        if path.is_file() and datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) < before:
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted
