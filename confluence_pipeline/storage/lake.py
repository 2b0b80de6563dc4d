"""The lakehouse the copy lives in: a DuckLake catalog and Parquet data files, opened with DuckDB.

The catalog (which files make up which table at which snapshot) lives in a SQL database: a
SQLite file under the data directory by default, PostgreSQL in deployments. The data is Parquet
under `<data dir>/lake/` or on S3-compatible object storage. Every committed transaction is one
snapshot: a reader attaches the catalog and sees the last committed snapshot (or any older one),
it never waits for a writer and never blocks one; writers to different tables commit side by side.

DuckDB's `ducklake`, `sqlite_scanner`, `postgres_scanner` and `httpfs` extensions are loaded
from the signed binaries that the `duckdb-extension-*` wheels carry (so nothing is downloaded at
run time); without a wheel, DuckDB's own `INSTALL` is the fallback. Unsigned extensions are
never allowed.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import duckdb
from filelock import FileLock

ALIAS = "lake"
_WHEELS = {"ducklake": "duckdb_extension_ducklake", "sqlite_scanner": "duckdb_extension_sqlite_scanner",
           "postgres_scanner": "duckdb_extension_postgres_scanner", "httpfs": "duckdb_extension_httpfs"}
# DuckDB's own memory; beyond it, joins, sorts and temporary tables spill to the work folder.
MEMORY_LIMIT = os.environ.get("CONFLUENCE_DUCKDB_MEMORY_LIMIT", "512MB")


class LakeError(RuntimeError):
    """The lake cannot be opened or written; the message names the catalog and the fix."""


class LakeNotFound(LakeError):
    """Nothing has been synced into this lake yet."""


class WriteConflict(LakeError):
    """Another writer changed the same rows first: the transaction was rolled back, retry it."""


@dataclass(frozen=True)
class S3:
    """S3-compatible object storage; the keys come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."""

    endpoint: str | None = None  # host[:port]; None: AWS
    region: str = "us-east-1"
    url_style: Literal["path", "vhost"] = "vhost"
    use_ssl: bool = True


@dataclass(frozen=True)
class Lake:
    """Where one copy lives: its catalog, its data files, and local room to spill."""

    catalog: str  # "sqlite:<file>" or "postgres:<libpq connection string or URI>"
    data_path: str  # a folder, or s3://bucket/prefix/
    work_dir: Path  # spill space for big merges and sorts
    s3: S3 | None = None
    schema: str = "main"  # one schema per site when several share a catalog
    legacy_file: Path | None = None  # the single DuckDB file of earlier versions, copied in once

    @classmethod
    def local(cls, data_dir: str | Path) -> "Lake":
        """The embedded default: data/catalog.sqlite and data/lake/."""
        data = Path(data_dir).resolve()
        return cls(catalog=f"sqlite:{data / 'catalog.sqlite'}", data_path=f"{data / 'lake'}/", work_dir=data / "tmp",
                   legacy_file=data / "confluence.duckdb")

    @property
    def kind(self) -> str:
        return self.catalog.split(":", 1)[0]

    @property
    def catalog_file(self) -> Path | None:
        return Path(self.catalog.split(":", 1)[1]) if self.kind == "sqlite" else None

    def writer_lock(self) -> FileLock | None:
        """On a SQLite catalog, write transactions take turns: SQLite lets one commit of two that
        overlapped fail ("database is locked"), whatever tables they wrote. PostgreSQL takes
        concurrent commits and reports real conflicts, so it needs none."""
        file = self.catalog_file
        return FileLock(f"{file}.writer.lock") if file is not None else None

    def describe(self) -> str:
        """The catalog, for messages (a password in a connection string is masked)."""
        return re.sub(r"(password=|://[^:/@]+:)[^\s@]+", r"\1***", self.catalog)

    def attach_sql(self, *, read_only: bool = False, snapshot: int | None = None, alias: str = ALIAS) -> str:
        """The ATTACH statement (what the duckdb CLI needs too, after LOAD ducklake)."""
        options = [f"DATA_PATH {_quote(self.data_path)}", "OVERRIDE_DATA_PATH TRUE"]
        if self.kind == "sqlite":  # WAL: readers never wait for the writer, nor it for them
            options += ["META_JOURNAL_MODE 'WAL'", "META_BUSY_TIMEOUT 60000"]
        if read_only or snapshot is not None:
            options.append("READ_ONLY")
        if snapshot is not None:
            options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
        return f"ATTACH {_quote('ducklake:' + self.catalog)} AS {alias} ({', '.join(options)})"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load a signed extension from its wheel, or install it the usual way."""
    try:
        module = importlib.import_module(_WHEELS[name])
    except ImportError:
        con.execute(f"INSTALL {name}")
        con.execute(f"LOAD {name}")
        return
    binary = next(Path(module.__file__).parent.glob("extensions/*/*.duckdb_extension"))
    con.execute(f"LOAD {_quote(str(binary))}")


def open_lake(lake: Lake, *, read_only: bool = False, as_of: int | str | datetime | None = None
              ) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached as `lake` and its schema as the default.

    `as_of` (a snapshot id, or a time: the last snapshot at or before it) opens the copy as it
    was then, read-only."""
    if lake.kind not in ("sqlite", "postgres"):
        raise LakeError(f"Catalog {lake.describe()!r} is neither sqlite:<file> nor postgres:<connection>: "
                        "fix storage.catalog (or CONFLUENCE_CATALOG)")
    if lake.catalog_file is not None and not lake.catalog_file.exists():
        if read_only or as_of is not None:
            raise LakeNotFound(f"No synced data at {lake.catalog_file}: run `confluence-pipeline sync` (or `demo`) "
                               "first, or point CONFLUENCE_DATA_DIR at the data directory")
        lake.catalog_file.parent.mkdir(parents=True, exist_ok=True)
    if not read_only and not lake.data_path.startswith("s3://"):
        Path(lake.data_path).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"allow_unsigned_extensions": False, "autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        if not read_only:
            lake.work_dir.mkdir(parents=True, exist_ok=True)
            con.execute(f"SET temp_directory = {_quote(str(lake.work_dir))}")
        load_extension(con, "ducklake")
        load_extension(con, "sqlite_scanner" if lake.kind == "sqlite" else "postgres_scanner")
        if lake.data_path.startswith("s3://"):
            _s3_secret(con, lake.s3 or S3())
        snapshot = None if as_of is None else _snapshot_at(con, lake, as_of)
        try:
            con.execute(lake.attach_sql(read_only=read_only, snapshot=snapshot))
        except duckdb.Error as exc:
            raise _attach_error(lake, exc) from None
        if lake.schema != "main":
            if not read_only:
                con.execute(f'CREATE SCHEMA IF NOT EXISTS {ALIAS}."{lake.schema}"')
        con.execute(f'USE {ALIAS}."{lake.schema}"')
    except BaseException:
        con.close()
        raise
    return con


# One DuckDB instance per process and lake, with the extensions loaded and the lake attached for
# writing: loading the two extensions costs about 0.6 s, and a sync opens the lake in every step.
_SHARED: dict[tuple[int, Lake], tuple[duckdb.DuckDBPyConnection, object]] = {}
_SHARED_LOCK = threading.Lock()


def _catalog_identity(lake: Lake) -> object:
    """What tells the catalog attached earlier from one that replaced it (a SQLite file moved aside)."""
    file = lake.catalog_file
    if file is None:
        return None
    try:
        stat = file.stat()
    except OSError:
        return "missing"
    return stat.st_dev, stat.st_ino


def writer_connection(lake: Lake) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A connection of its own (own transaction, temporary tables, default schema) to this
    process's DuckDB instance that has `lake` attached for writing, and whether the lake was
    attached just now (then once-per-attach work, such as migrating, is due). The instance is
    kept for the process; a catalog file replaced since is attached again."""
    key = (os.getpid(), lake)
    with _SHARED_LOCK:
        entry = _SHARED.get(key)
        if entry is not None and entry[1] != _catalog_identity(lake):
            entry[0].close()
            entry = None
        fresh = entry is None
        if entry is None:
            base = open_lake(lake)
            entry = _SHARED[key] = (base, _catalog_identity(lake))
        con = entry[0].cursor()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f'USE {ALIAS}."{lake.schema}"')
    except BaseException:
        con.close()
        raise
    return con, fresh


def attached_connection(lake: Lake) -> duckdb.DuckDBPyConnection | None:
    """A connection of its own to this process's instance with `lake` attached, when a writer
    attached it already (a read in the same process then costs no extension load), else None."""
    with _SHARED_LOCK:
        entry = _SHARED.get((os.getpid(), lake))
        if entry is None or entry[1] != _catalog_identity(lake):
            return None
        con = entry[0].cursor()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f'USE {ALIAS}."{lake.schema}"')
    return con


def forget_writer_connection(lake: Lake) -> None:
    """Close this process's shared instance of `lake` (the next writer attaches it again)."""
    with _SHARED_LOCK:
        entry = _SHARED.pop((os.getpid(), lake), None)
    if entry is not None:
        entry[0].close()


def _s3_secret(con: duckdb.DuckDBPyConnection, s3: S3) -> None:
    load_extension(con, "httpfs")
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        raise LakeError("The lake's data path is on S3 but AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set: "
                        "set them in the environment (never in confluence.yaml)")
    options = {"KEY_ID": key, "SECRET": secret, "REGION": s3.region, "URL_STYLE": s3.url_style,
               "USE_SSL": s3.use_ssl}
    if os.environ.get("AWS_SESSION_TOKEN"):
        options["SESSION_TOKEN"] = os.environ["AWS_SESSION_TOKEN"]
    if s3.endpoint:
        options["ENDPOINT"] = s3.endpoint
    body = ", ".join(f"{k} {v if isinstance(v, bool) else _quote(str(v))}" for k, v in options.items())
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET lake_s3 (TYPE s3, {body})")


def _snapshot_at(con: duckdb.DuckDBPyConnection, lake: Lake, as_of: int | str | datetime) -> int:
    """The snapshot id that `as_of` names: an id as such, a time as the last snapshot at or before it."""
    if isinstance(as_of, int) or (isinstance(as_of, str) and as_of.strip().isdigit()):
        return int(as_of)
    when = as_of if isinstance(as_of, datetime) else parse_time(as_of)
    con.execute(lake.attach_sql(read_only=True, alias="lake_history"))
    try:
        row = con.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('lake_history') WHERE snapshot_time <= ?",
                          [when]).fetchone()
    finally:
        con.execute("DETACH lake_history")
    if row is None or row[0] is None:
        raise LakeError(f"The lake has no snapshot at or before {when.isoformat()}: its history starts later "
                        "(see `confluence-pipeline snapshots`)")
    return int(row[0])


def parse_time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LakeError(f"{text!r} is neither a snapshot id nor an ISO time such as 2026-12-01 or "
                        "2026-12-01T09:00:00+00:00") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _attach_error(lake: Lake, exc: duckdb.Error) -> LakeError:
    first = str(exc).splitlines()[0]
    if lake.kind == "postgres":
        return LakeError(f"Cannot open the lake's catalog on PostgreSQL ({lake.describe()}): {first}. Check that "
                         "the server is up and storage.catalog (CONFLUENCE_CATALOG) names a reachable database; "
                         "nothing was written")
    if "SNAPSHOT" in first.upper() or "snapshot" in first:
        return LakeError(f"{first}: pick one listed by `confluence-pipeline snapshots`")
    return LakeError(f"The lake's catalog {lake.catalog_file} cannot be read ({first}). If the file is damaged, "
                     "move it aside and run `confluence-pipeline sync --from <sync.start_date>`: a full sync "
                     "rebuilds everything from Confluence")
