"""Landing Parquet: what each (asset, window) fetched, as history.

data/lake/<asset>/window=<YYYY-MM-DD>/part.parquet. Re-running a window replaces its file
atomically (write beside, fsync, rename), so a reader never sees half a file and a re-run
leaves exactly one copy of that window's rows.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def window_path(lake_dir: Path, asset: str, window_key: str) -> Path:
    return Path(lake_dir) / asset / f"window={window_key}" / "part.parquet"


def write_window(lake_dir: Path, asset: str, window_key: str, data: pa.Table) -> Path:
    path = window_path(lake_dir, asset, window_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".part.{os.getpid()}.tmp")
    pq.write_table(data, tmp, compression="zstd")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_asset(lake_dir: Path, asset: str) -> pa.Table:
    """Every window of one asset, with the `window` column from the directory names."""
    return pq.read_table(Path(lake_dir) / asset, partitioning="hive")
