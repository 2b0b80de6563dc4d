"""Current state in the lake: one row per object, the highest version wins.

Every write of a materialization goes through one `Warehouse.transaction()`: it commits one
DuckLake snapshot, so a run that dies half-way leaves the copy as it was before the run, and
readers see either the whole of it or none.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import count
from typing import Any, Iterable, Iterator, Sequence

import duckdb
import pyarrow as pa

from .lake import (ALIAS, Lake, WriteConflict, attached_connection, forget_writer_connection, open_lake,
                   writer_connection)
from .legacy import copy_legacy, keep_legacy_landing
from .schema import TABLES, Table

_ARROW = {"VARCHAR": pa.string(), "INTEGER": pa.int32(), "BIGINT": pa.int64(), "BOOLEAN": pa.bool_(),
          "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"), "VARCHAR[]": pa.list_(pa.string()), "DOUBLE": pa.float64()}
# How DuckLake words a commit that another writer's commit made impossible.
_CONFLICT_WORDS = ("conflict", "failed to commit ducklake transaction")
# The columns whose change makes an existing row count as "updated" in run metadata.
_TRACKED = ("version", "status", "title", "parent_id", "space_id", "container_id", "deleted_at", "in_scope", "key",
            "name", "homepage_id")


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema([(name, _ARROW[type_]) for name, type_ in table.columns])


def to_arrow(table: Table, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows (dicts; missing keys are NULL) as an Arrow table of the table's exact schema."""
    columns = {name: [row.get(name) for row in rows] for name in table.column_names}
    return pa.table(columns, schema=arrow_schema(table))


@dataclass
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: "WriteCounts") -> "WriteCounts":
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


class Warehouse:
    """The project's tables in a lake. Open with `with Warehouse(lake) as wh:`; a read-only one
    sees the last committed snapshot (or the one `as_of` names) and never waits for a writer.

    `writer` names the snapshots this one commits (the asset, say); `commit_info` is kept with
    them too (the Dagster run id), so a snapshot can be traced to what made it."""

    def __init__(self, lake: Lake, *, read_only: bool = False, as_of: int | str | datetime | None = None,
                 writer: str = "confluence-pipeline", commit_info: str = "") -> None:
        self.lake = lake
        self.read_only = read_only or as_of is not None
        self.as_of = as_of
        self.writer, self.commit_info = writer, commit_info
        self.snapshots: list[int] = []  # what this one committed, in order
        self._con: duckdb.DuckDBPyConnection | None = None
        self._in_transaction = False
        self._state_clock = datetime.min.replace(tzinfo=timezone.utc)
        self._state: dict[str, str] | None = None  # newest value of each sync_state key, once read

    def __enter__(self) -> "Warehouse":
        if self.read_only:
            shared = attached_connection(self.lake) if self.as_of is None else None
            self._con = shared or open_lake(self.lake, read_only=True, as_of=self.as_of)
            return self
        keep_legacy_landing(self.lake)
        self._con, attached = writer_connection(self.lake)  # the process's attached lake: no extension loads
        if attached:  # once per attach: later writers in this process find the tables in place
            try:
                self._migrate_retrying()
            except BaseException:
                self.__exit__()
                forget_writer_connection(self.lake)
                raise
        return self

    def _migrate_retrying(self) -> None:
        for attempt in range(5):
            try:
                self.migrate()
                return
            except WriteConflict:  # another process created the tables at the same moment
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def __exit__(self, *exc: object) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise RuntimeError("Warehouse is not open: use `with Warehouse(path) as wh:`")
        return self._con

    # -- schema ------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Create missing tables and add missing columns; never drops or rewrites data."""
        existing: dict[str, set[str]] = {}
        for table_name, column in self.run("SELECT table_name, column_name FROM information_schema.columns "
                                           "WHERE table_catalog = ? AND table_schema = ?", [ALIAS, self.lake.schema]):
            existing.setdefault(table_name, set()).add(column)
        missing = [t for t in TABLES.values() if t.name not in existing or
                   any(c not in existing[t.name] for c in t.column_names)]
        if not missing:
            return
        legacy = self.lake.legacy_file
        from_legacy = not existing and legacy is not None and legacy.exists()
        if from_legacy:
            self.run(f"ATTACH '{str(legacy).replace(chr(39), chr(39) * 2)}' AS legacy (READ_ONLY)")
        with self.transaction():  # one snapshot for the whole schema change
            for table in missing:
                if table.name not in existing:  # a lake has no key constraints: `merge` keeps keys unique
                    self.create_table(table.name, table.columns)
                    continue
                for column, type_ in table.columns:
                    if column not in existing[table.name]:
                        self.run(f'ALTER TABLE "{table.name}" ADD COLUMN "{column}" {type_}')
            if from_legacy:
                copy_legacy(self.con)
        if from_legacy:  # kept, renamed: the lake has all of it now, and nothing is deleted
            self.run("DETACH legacy")
            legacy.rename(legacy.with_name(legacy.name + ".migrated"))

    def create_table(self, name: str, columns: Sequence[tuple[str, str]]) -> None:
        """CREATE TABLE unless the transaction's snapshot holds it (another writer made it), with its
        statistics in the catalog from the start. Call inside a transaction.

        The ducklake extension (the build for DuckDB 1.5.5) caches a table's statistics once the
        catalog holds a row of them, which the first commit of a row writes. Until then, planning
        a statement on the table reads them from the catalog again for every column it touches:
        70 catalog queries, 0.1 s, for an UPDATE of an empty `comments`, and a first sync makes
        dozens of such statements while tables are still empty. A row inserted and deleted in the
        creating transaction writes the statistics (0 rows) and leaves no row in any snapshot."""
        if self.has_table(name):  # the passing row below is for a table this transaction makes, and no other
            return
        definitions = ", ".join(f'"{column}" {type_}' for column, type_ in columns)
        self.run(f'CREATE TABLE "{name}" ({definitions})')
        self.run(f'INSERT INTO "{name}" VALUES ({", ".join(_placeholder(t) for _, t in columns)})')
        self.run(f'DELETE FROM "{name}"')

    # -- writes ------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator["Warehouse"]:
        """One snapshot: everything written inside, or (on any error) nothing. A commit that lost a
        race with another writer of the same table raises WriteConflict: run the work again."""
        lock = self.lake.writer_lock()
        # per connection, and the connection is the process's: a transaction that wrote nothing
        # leaves an earlier writer's snapshot there, which is not this one's
        last = self._last_committed()
        with lock if lock is not None else nullcontext():
            self.run("BEGIN TRANSACTION")
            self._in_transaction = True
            try:
                yield self
                self.run(f"CALL {ALIAS}.set_commit_message(?, ?, extra_info => ?)",
                         [self.writer, self.writer, self.commit_info])
                self.run("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, duckdb.Error) and any(w in str(exc).lower() for w in _CONFLICT_WORDS):
                    raise WriteConflict(f"{self.writer}: another writer changed the same table first "
                                        f"({str(exc).splitlines()[0]}); nothing was written, run it again") from exc
                raise
            finally:
                self._in_transaction = False
        snapshot = self._last_committed()
        if snapshot is not None and snapshot != last:
            self.snapshots.append(snapshot)

    def _last_committed(self) -> int | None:
        rows = self.run(f"SELECT id FROM ducklake_last_committed_snapshot('{ALIAS}')")
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def _rollback(self) -> None:
        self._state = None
        try:
            self.run("ROLLBACK")
        except duckdb.Error:  # a failed COMMIT has already ended the transaction
            pass

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """Statements that must apply together: inside the caller's transaction, or their own."""
        if self._in_transaction:
            yield
        else:
            with self.transaction():
                yield

    def upsert(self, table_name: str, rows: Sequence[dict[str, Any]]) -> WriteCounts:
        """Insert new rows and update existing ones (see `merge`): for the few rows at hand."""
        if not rows:
            return WriteCounts()
        staged = self.stage(table_name)
        try:
            staged.add(rows)
            return self.merge(staged)
        finally:
            staged.drop()

    def insert(self, table_name: str, data: pa.Table) -> None:
        """Append rows (an Arrow table of `arrow_schema(TABLES[table_name])`) whose keys the table
        does not hold (deleted before, say): no merge to pay for."""
        if not data.num_rows:
            return
        table = TABLES[table_name]
        self.con.register("inserted_batch", data)
        try:
            columns = ", ".join(f'"{c}"' for c in table.column_names)
            self.run(f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM inserted_batch')
        finally:
            self.con.unregister("inserted_batch")

    def stage(self, table_name: str) -> "Staged":
        """A temporary table gathering rows for `table_name` batch by batch, to `merge` at once."""
        return Staged(self, TABLES[table_name])

    def merge(self, staged: "Staged") -> WriteCounts:
        """Insert the staged rows that are new and replace those that are newer; a versioned table
        never goes back a version, and of one id staged twice the higher version (else the later) wins.

        Only the columns the rows carry are written: a column that a later step fills (an
        attachment's local_path, say) survives the next merge of the same object. A column that
        only some rows carry (a comment's author, known from its first version alone) keeps its
        stored value where a row leaves it out.

        Replacing is a delete and an insert of whole rows in set-based statements: DuckDB writes
        large inserts to the file as it goes, where an update would hold every new value in memory
        until the commit, so a full sync of any size runs in the same memory.
        """
        table = staged.table
        if not staged.rows:
            return WriteCounts()
        present, partial = staged.present, staged.partial
        key = [f'"{k}"' for k in table.key]
        join = " AND ".join(f"t.{k} = i.{k}" for k in key)
        rank = 'struct_pack(v := coalesce("version", -1), r := "_rid")' if table.versioned else '"_rid"'
        newer = f"t.{key[0]} IS NULL OR i.version >= t.version OR t.version IS NULL" if table.versioned else "TRUE"
        tracked = [c for c in _TRACKED if c in table.column_names and c in present]
        changed = " OR ".join(f'(i."{c}" IS DISTINCT FROM t."{c}"'
                              + (f' AND i."{c}" IS NOT NULL)' if c in partial else ")") for c in tracked) or "FALSE"

        def value(column: str) -> str:
            if column in table.key or (column in present and column not in partial):
                return f'i."{column}"'
            return f'coalesce(i."{column}", t."{column}")' if column in present else f't."{column}"'

        columns = ", ".join(f'"{c}"' for c in table.column_names)
        with self._atomic():
            self.run(f"""CREATE OR REPLACE TEMP TABLE merging AS
                WITH winners AS (
                    SELECT arg_max("_rid", {rank}) AS "_rid" FROM "{staged.name}" GROUP BY {", ".join(key)})
                SELECT {", ".join(f'{value(c)} AS "{c}"' for c in table.column_names)},
                       t.{key[0]} IS NULL AS "_new", ({changed}) AS "_changed"
                FROM "{staged.name}" i SEMI JOIN winners w ON w."_rid" = i."_rid"
                LEFT JOIN "{table.name}" t ON {join}
                WHERE {newer}""")
            inserted, updated = self.run('SELECT count(*) FILTER ("_new"), count(*) FILTER (NOT "_new" AND "_changed") '
                                         "FROM merging")[0]
            self.run(f'DELETE FROM "{table.name}" t USING merging i WHERE {join} AND NOT i."_new"')
            self.run(f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM merging')
            self.run("DROP TABLE merging")
        return WriteCounts(inserted, updated, staged.keys() - inserted - updated)

    def mark(self, table_name: str, ids: Iterable[str], *, status: str | None = None,
             deleted_at: datetime | None = None, in_scope: bool | None = None, key: str = "id") -> int:
        """Set status / deleted_at / in_scope on rows by id; returns how many rows changed."""
        ids = list(ids)
        if not ids:
            return 0
        sets, params = [], []
        for column, value in (("status", status), ("deleted_at", deleted_at), ("in_scope", in_scope)):
            if value is not None:
                sets.append(f'"{column}" = ?')
                params.append(value)
        if not sets:
            return 0
        condition = " OR ".join(f'"{c}" IS DISTINCT FROM ?' for c, v in (("status", status), ("deleted_at", deleted_at),
                                                                        ("in_scope", in_scope)) if v is not None)
        cond_params = [v for v in (status, deleted_at, in_scope) if v is not None]
        result = self.run(
            f'UPDATE "{table_name}" SET {", ".join(sets)} WHERE "{key}" IN (SELECT unnest(?)) AND ({condition})',
            [*params, ids, *cond_params])
        return int(result[0][0]) if result else 0

    def run(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Execute and consume a statement (DuckDB wants every result finished before the next)."""
        return self.con.execute(sql, list(params or [])).fetchall()

    # -- sync state (watermarks) -------------------------------------------------------------
    # sync_state is a log: a write appends, the newest row of a key is its value. Every step
    # writes state, and appends never conflict where replacing rows would make any two writers
    # of one lake collide; maintenance drops the rows that newer ones superseded.
    # A step reads a dozen keys: the newest value of every key is read once per connection (each
    # query scans the log's files), and a rollback forgets what this connection wrote.
    def get_state(self, key: str, default: Any = None) -> Any:
        if self._state is None:
            self._state = {k: v for k, v in self.run(
                'SELECT "key", arg_max(value, updated_at) FROM sync_state GROUP BY "key"')}
        value = self._state.get(key)
        return json.loads(value) if value is not None else default

    def set_state(self, key: str, value: Any) -> None:
        now = datetime.now(timezone.utc)
        self._state_clock = now = max(now, self._state_clock + timedelta(microseconds=1))  # newest stays last
        text = json.dumps(value, default=str)
        with self._atomic():
            self.run('INSERT INTO sync_state ("key", value, updated_at) VALUES (?, ?, ?)', [key, text, now])
            if self._state is not None:
                self._state[key] = text

    # -- reads -------------------------------------------------------------------------------
    def ids(self, table_name: str, where: str = "TRUE", params: Sequence[Any] = ()) -> set[str]:
        return {r[0] for r in self.con.execute(f'SELECT id FROM "{table_name}" WHERE {where}', list(params)).fetchall()}

    def has_table(self, table_name: str) -> bool:
        return bool(self.run("SELECT count(*) FROM information_schema.tables WHERE table_catalog = ? "
                             "AND table_schema = ? AND table_name = ?", [ALIAS, self.lake.schema, table_name])[0][0])

    def count(self, table_name: str, where: str = "TRUE", params: Sequence[Any] = ()) -> int:
        return int(self.con.execute(f'SELECT count(*) FROM "{table_name}" WHERE {where}', list(params)).fetchall()[0][0])


def _placeholder(column_type: str) -> str:
    """A value for `create_table`'s passing row: NULL, or a zero of the type where NULL is not allowed."""
    base = column_type.upper().replace("NOT NULL", "").strip()
    if base == column_type.upper().strip():
        return "NULL"
    return f"CAST({'[]' if base.endswith('[]') else 0} AS {base})"


_STAGED = count(1)


class Staged:
    """Rows bound for one table, gathered in a temporary table batch by batch (`add`), then
    written by `Warehouse.merge`. Add outside a transaction: a temporary table spills to disk
    beyond DuckDB's memory limit, where a transaction's own appends stay in memory; and it
    vanishes with the connection, so a run that dies leaves nothing behind."""

    def __init__(self, wh: Warehouse, table: Table) -> None:
        self.wh, self.table = wh, table
        self.name = f"staged_{table.name}_{next(_STAGED)}"
        self.rows = 0
        self.present: set[str] = set()  # columns some row carried
        self._carried_by_all: set[str] | None = None
        cols = ", ".join(f'"{c}" {t}' for c, t in table.columns)
        wh.run(f'CREATE TEMP TABLE "{self.name}" ({cols}, "_rid" BIGINT)')

    @property
    def partial(self) -> set[str]:
        """Columns that some rows carried and others left out."""
        return self.present - (self._carried_by_all or set())

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        for row in rows:
            self.present.update(row)
            self._carried_by_all = set(row) if self._carried_by_all is None else self._carried_by_all & row.keys()
        data = to_arrow(self.table, rows).append_column(
            "_rid", pa.array(range(self.rows, self.rows + len(rows)), pa.int64()))
        self.wh.con.register("staged_batch", data)
        try:
            self.wh.run(f'INSERT INTO "{self.name}" SELECT * FROM staged_batch')
        finally:
            self.wh.con.unregister("staged_batch")
        self.rows += len(rows)

    def keys(self) -> int:
        """How many distinct objects are staged."""
        key = ", ".join(f'"{k}"' for k in self.table.key)
        return int(self.wh.run(f'SELECT count(*) FROM (SELECT DISTINCT {key} FROM "{self.name}")')[0][0])

    def drop(self) -> None:
        self.wh.run(f'DROP TABLE IF EXISTS "{self.name}"')
