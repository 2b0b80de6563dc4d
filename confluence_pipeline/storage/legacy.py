"""Moving an earlier version's copy into the lake: its single DuckDB file's tables (copied once, on
the lake's creation) and its landing Parquet (moved aside, so that maintenance never takes it for
the lake's orphaned files)."""

from __future__ import annotations

import duckdb

from .lake import Lake
from .schema import TABLES


def keep_legacy_landing(lake: Lake) -> None:
    """Earlier versions kept landing Parquet in <data dir>/lake/<asset>/window=.../, where the lake
    puts its files now: before the first write, that history moves to <data dir>/landing/, so
    that the lake's maintenance never takes it for orphaned files."""
    legacy = lake.legacy_file
    if legacy is None or not legacy.exists() or (lake.catalog_file and lake.catalog_file.exists()):
        return
    old = legacy.parent / "lake"
    if any(old.glob("*/window=*")):
        old.rename(legacy.parent / "landing")


def copy_legacy(con: duckdb.DuckDBPyConnection) -> None:
    """The tables of an earlier version's single DuckDB file (attached as `legacy`), copied into
    the new lake; the search index and the access macros are rebuilt by the next sync."""
    old: dict[str, set[str]] = {}
    for table_name, column in con.execute("SELECT table_name, column_name FROM information_schema.columns "
                                          "WHERE table_catalog = 'legacy' AND table_schema = 'main'").fetchall():
        old.setdefault(table_name, set()).add(column)
    for table in TABLES.values():
        if table.name in old:
            columns = ", ".join(f'"{c}"' for c in table.column_names if c in old[table.name])
            con.execute(f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM legacy.main."{table.name}"')
