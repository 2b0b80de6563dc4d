"""Current state in DuckDB: one row per object, the highest version wins.

Every write of a materialization goes through one `Warehouse.transaction()`, so a run that
dies half-way leaves the file as it was before the run.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import duckdb
import pyarrow as pa

from .schema import TABLES, Table

_ARROW = {"VARCHAR": pa.string(), "INTEGER": pa.int32(), "BIGINT": pa.int64(), "BOOLEAN": pa.bool_(),
          "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"), "VARCHAR[]": pa.list_(pa.string()), "DOUBLE": pa.float64()}
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
    """A DuckDB file with the project's schema. Open with `with Warehouse(path) as wh:`."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._con: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> "Warehouse":
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(self.path), read_only=self.read_only)
        self._con.execute("SET TimeZone = 'UTC'")
        if not self.read_only:
            self.migrate()
        return self

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
                                           "WHERE table_schema = 'main'"):
            existing.setdefault(table_name, set()).add(column)
        for table in TABLES.values():
            if table.name not in existing:
                cols = ", ".join(f'"{c}" {t}' for c, t in table.columns)
                key = ", ".join(f'"{k}"' for k in table.key)
                self.run(f'CREATE TABLE "{table.name}" ({cols}, PRIMARY KEY ({key}))')
                continue
            for column, type_ in table.columns:
                if column not in existing[table.name]:
                    self.run(f'ALTER TABLE "{table.name}" ADD COLUMN "{column}" {type_}')

    # -- writes ------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator["Warehouse"]:
        self.run("BEGIN TRANSACTION")
        try:
            yield self
        except BaseException:
            self.run("ROLLBACK")
            raise
        self.run("COMMIT")

    def upsert(self, table_name: str, rows: Sequence[dict[str, Any]]) -> WriteCounts:
        """Insert new rows and update existing ones; a versioned table never goes back a version.

        Only the columns the rows carry are written: a column that a later step fills (an
        attachment's local_path, say) survives the next upsert of the same object. A column that
        only some rows carry (a comment's author, known from its first version alone) keeps its
        stored value where a row leaves it out.
        """
        table = TABLES[table_name]
        if not rows:
            return WriteCounts()
        present = set().union(*(row.keys() for row in rows))
        partial = present - set.intersection(*(set(row) for row in rows))
        data = to_arrow(table, rows)
        con = self.con
        key = [f'"{k}"' for k in table.key]
        order = 'ORDER BY "version" DESC NULLS LAST' if table.versioned else ""
        con.register("incoming_raw", data)
        try:
            self.run(f"""CREATE OR REPLACE TEMP TABLE incoming AS
                SELECT * EXCLUDE (rn) FROM (
                    SELECT *, row_number() OVER (PARTITION BY {", ".join(key)} {order}) AS rn FROM incoming_raw)
                WHERE rn = 1""")
        finally:
            con.unregister("incoming_raw")
        join = " AND ".join(f"t.{k} = i.{k}" for k in key)
        newer = "i.version >= t.version OR t.version IS NULL" if table.versioned else "TRUE"
        tracked = [c for c in _TRACKED if c in table.column_names and c in present]
        changed = " OR ".join(f'(i."{c}" IS DISTINCT FROM t."{c}"'
                              + (f' AND i."{c}" IS NOT NULL)' if c in partial else ")") for c in tracked) or "FALSE"
        total, inserted, updated = con.execute(f"""
            SELECT count(*), count(*) FILTER (WHERE t.{key[0]} IS NULL),
                   count(*) FILTER (WHERE t.{key[0]} IS NOT NULL AND ({newer}) AND ({changed}))
            FROM incoming i LEFT JOIN "{table.name}" t ON {join}""").fetchall()[0]
        cols = [c for c in table.column_names if c in present or c in table.key]
        updates = ", ".join(f'"{c}" = coalesce(excluded."{c}", "{table.name}"."{c}")' if c in partial
                            else f'"{c}" = excluded."{c}"' for c in cols if c not in table.key)
        where = (f'WHERE excluded.version >= "{table.name}".version OR "{table.name}".version IS NULL'
                 if table.versioned else "")
        self.run(f"""INSERT INTO "{table.name}" ({", ".join(f'"{c}"' for c in cols)})
            SELECT {", ".join(f'"{c}"' for c in cols)} FROM incoming
            ON CONFLICT ({", ".join(key)}) DO UPDATE SET {updates} {where}""")
        self.run("DROP TABLE incoming")
        return WriteCounts(inserted, updated, total - inserted - updated)

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
    def get_state(self, key: str, default: Any = None) -> Any:
        rows = self.run('SELECT value FROM sync_state WHERE "key" = ?', [key])
        return json.loads(rows[0][0]) if rows else default

    def set_state(self, key: str, value: Any) -> None:
        self.upsert("sync_state", [{"key": key, "value": json.dumps(value, default=str),
                                    "updated_at": datetime.now(timezone.utc)}])

    # -- reads -------------------------------------------------------------------------------
    def ids(self, table_name: str, where: str = "TRUE", params: Sequence[Any] = ()) -> set[str]:
        return {r[0] for r in self.con.execute(f'SELECT id FROM "{table_name}" WHERE {where}', list(params)).fetchall()}

    def count(self, table_name: str, where: str = "TRUE", params: Sequence[Any] = ()) -> int:
        return int(self.con.execute(f'SELECT count(*) FROM "{table_name}" WHERE {where}', list(params)).fetchall()[0][0])
