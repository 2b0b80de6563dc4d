"""The ways in for readers: a read-only connection, the lake's history, and its change feed.

    import confluence_pipeline
    con = confluence_pipeline.connect()                       # the last committed snapshot
    con.sql("SELECT title FROM pages ORDER BY modified_at DESC LIMIT 5").show()
    old = confluence_pipeline.connect(as_of="2026-11-30")     # the copy as it was then
    for change in confluence_pipeline.changes(since=41):      # what changed after snapshot 41
        print(change.table, change.change, change.key)

Each query sees the last snapshot committed when it starts: a sync that commits meanwhile neither
waits for the reader nor disturbs it. Read at a snapshot (`as_of`) for one unchanging state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb

from .settings import Settings, load_settings
from .storage.lake import ALIAS, Lake, LakeError, open_lake, parse_time
from .storage.schema import TABLES

# Columns that say when a row was written, not what it holds: a row re-written with the same
# content is no change.
WRITE_TIME_COLUMNS = frozenset({"synced_at", "built_at", "indexed_at", "read_at", "updated_at"})
CHANGE_TABLES = tuple(name for name in TABLES if name != "sync_state")


def _settings(data_dir: str | Path | None, settings: Settings | None = None) -> Settings:
    settings = settings or load_settings()
    return settings.model_copy(update={"data_dir": Path(data_dir)}) if data_dir else settings


def connect(data_dir: str | Path | None = None, *, as_of: int | str | datetime | None = None,
            sandboxed: bool = False, settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection with every table in its default schema. `as_of`: a snapshot
    id, or a time (the copy as the last snapshot at or before it left it). Settings as the CLI's
    (confluence.yaml and the environment); `data_dir` overrides where the lake is. `sandboxed`:
    no file but the lake's, no network, no extension installs (see `sandbox`). `settings`: another
    site's (`--site`), instead of confluence.yaml and the environment."""
    lake = _settings(data_dir, settings).lake
    con = open_lake(lake, read_only=True, as_of=as_of)
    if sandboxed:
        try:
            sandbox(con, lake)
        except BaseException:
            con.close()
            raise
    return con


def attach_line(lake: Lake) -> str:
    """What the duckdb CLI (1.5.5, as the package) needs to open the same lake read-only."""
    meta = "sqlite" if lake.kind == "sqlite" else "postgres"
    return (f"INSTALL ducklake; INSTALL {meta}; LOAD ducklake; LOAD {meta}; {lake.attach_sql(read_only=True)}; "
            f"USE {ALIAS}.{lake.schema};")


# What a sandboxed query may run: reads. COPY and EXPORT write files, ATTACH/LOAD/INSTALL reach out.
SANDBOX_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
ALLOW_EXTERNAL_FLAG = "--allow-external"


class SandboxError(LakeError):
    """A query tried to reach outside the lake (files, network, extensions) without the flag."""


def sandbox(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """Lock an open lake connection to the lake's own files: no other file, no network, no
    extension installs or loads, and no way to switch that back on (`lock_configuration`)."""
    allowed = [lake.data_path] if not lake.data_path.startswith("s3://") else []
    if lake.catalog_file is not None:
        allowed.append(f"{lake.catalog_file.parent.resolve()}/")
    con.execute("SET allowed_directories = ?", [allowed])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def check_sandboxed(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse statements other than reads (COPY ... TO, EXPORT, ATTACH, INSTALL, SET, ...)."""
    for statement in con.extract_statements(sql):
        if statement.type not in SANDBOX_STATEMENTS:
            kind = statement.type.name
            raise SandboxError(f"query is sandboxed and runs only SELECT / EXPLAIN, not {kind}: pass "
                               f"{ALLOW_EXTERNAL_FLAG} to allow file, network and extension access")


@dataclass(frozen=True)
class Snapshot:
    id: int
    time: datetime
    writer: str | None  # the asset (or command) that committed it
    run_id: str | None  # the Dagster run
    changes: dict[str, Any]


def snapshots(data_dir: str | Path | None = None, *, limit: int | None = None,
              settings: Settings | None = None) -> list[Snapshot]:
    """The lake's snapshots, newest first."""
    with connect(data_dir, settings=settings) as con:
        rows = con.execute(f"""SELECT snapshot_id, snapshot_time, author, commit_extra_info, changes
            FROM ducklake_snapshots('{ALIAS}') ORDER BY snapshot_id DESC LIMIT ?""", [limit]).fetchall()
    return [Snapshot(r[0], r[1], r[2], r[3] or None, r[4] or {}) for r in rows]


@dataclass(frozen=True)
class Change:
    table: str
    change: str  # insert | update | delete
    key: dict[str, Any]
    row: dict[str, Any]  # the row after the change (before it, for a delete)

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "change": self.change, "key": self.key, "row": self.row}


def changes(since: int | str | datetime, until: int | str | datetime | None = None, *,
            tables: Sequence[str] | None = None, data_dir: str | Path | None = None,
            settings: Settings | None = None) -> Iterator[Change]:
    """Rows inserted, updated and deleted between snapshot `since` and `until` (default: the last),
    table by table, compared by key: a row written again with the same content is no change, and an
    object changed several times in between shows once, as it is at `until`."""
    settings = _settings(data_dir, settings)
    unknown = sorted(set(tables or ()) - set(CHANGE_TABLES))
    if unknown:
        raise LakeError(f"No table {', '.join(unknown)}: pick from {', '.join(CHANGE_TABLES)}")
    with open_lake(settings.lake, read_only=True) as con:
        start = _snapshot_id(con, settings.lake, since)
        end = _snapshot_id(con, settings.lake, until) if until is not None else _current(con)
        if end < start:
            raise LakeError(f"--until (snapshot {end}) is before --since (snapshot {start})")
        for name in tables or CHANGE_TABLES:
            yield from _table_changes(con, settings.lake.schema, name, start, end)


def _current(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute(f"SELECT id FROM {ALIAS}.current_snapshot()").fetchone()[0])


def _snapshot_id(con: duckdb.DuckDBPyConnection, lake: Lake, when: int | str | datetime) -> int:
    if isinstance(when, int) or (isinstance(when, str) and when.strip().isdigit()):
        return int(when)
    moment = when if isinstance(when, datetime) else parse_time(when)
    row = con.execute(f"SELECT max(snapshot_id) FROM ducklake_snapshots('{ALIAS}') WHERE snapshot_time <= ?",
                      [moment]).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _table_changes(con: duckdb.DuckDBPyConnection, schema: str, name: str, start: int, end: int
                   ) -> Iterator[Change]:
    if start == end:
        return
    table = TABLES[name]
    key = ", ".join(f'"{k}"' for k in table.key)
    compared = [c for c in table.column_names if c not in WRITE_TIME_COLUMNS]
    try:
        touched = (f"SELECT DISTINCT {key} FROM ducklake_table_changes('{ALIAS}', '{schema}', '{name}', "
                   f"{start + 1}, {end})")
        con.execute(f"CREATE OR REPLACE TEMP TABLE changed_keys AS {touched}")
    except duckdb.Error:  # the table did not exist then
        return
    if not con.execute("SELECT count(*) FROM changed_keys").fetchone()[0]:
        return
    before, after = _at(con, schema, name, start, key), _at(con, schema, name, end, key)
    join = " AND ".join(f'o."{k}" = n."{k}"' for k in table.key)
    differs = " OR ".join(f'o."{c}" IS DISTINCT FROM n."{c}"' for c in compared)
    first_key = table.key[0]
    cursor = con.execute(f"""
        SELECT CASE WHEN o."{first_key}" IS NULL THEN 'insert' WHEN n."{first_key}" IS NULL THEN 'delete'
                    ELSE 'update' END AS change,
               to_json(CASE WHEN n."{first_key}" IS NULL THEN o ELSE n END) AS row
        FROM ({before}) o FULL OUTER JOIN ({after}) n ON {join}
        WHERE o."{first_key}" IS NULL OR n."{first_key}" IS NULL OR {differs}
        ORDER BY ALL""")
    while batch := cursor.fetchmany(1000):
        for change, row in batch:
            data = json.loads(row)
            yield Change(name, change, {k: data.get(k) for k in table.key}, data)


def _at(con: duckdb.DuckDBPyConnection, schema: str, name: str, snapshot: int, key: str) -> str:
    """The table's rows with a changed key, as snapshot `snapshot` had them (none before it existed)."""
    source = f'"{schema}"."{name}" t AT (VERSION => {snapshot})'
    try:
        con.execute(f"SELECT 1 FROM {source} LIMIT 0").fetchall()
    except duckdb.Error:
        return f'SELECT * FROM "{schema}"."{name}" WHERE FALSE'
    return f"SELECT t.* FROM {source} SEMI JOIN changed_keys k USING ({key})"
