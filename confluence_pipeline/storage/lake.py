"""Landing Parquet: what each run fetched, kept per (asset, window) as history.

    data/lake/<asset>/window=<YYYY-MM-DD>/<run id>-<n>.parquet

A run stages its files and publishes them only after its DuckDB transaction committed, so a
run that dies leaves no landing rows the warehouse does not have. A run that covers whole
windows (a backfill, a re-run) replaces those windows' files; an incremental run adds its own.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

STAGING = "_staging"


class LakeWriter:
    def __init__(self, lake_dir: Path, asset: str, run_id: str, replace_windows: set[str]) -> None:
        self.root = Path(lake_dir) / asset
        self.run_id = run_id
        self.replace_windows = replace_windows
        self.staging = self.root / STAGING / run_id
        self._parts = 0
        self._written: set[str] = set()

    def add(self, window: str, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        folder = self.staging / f"window={window}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(data, folder / f"{self.run_id}-{self._parts}.parquet", compression="zstd")
        self._parts += 1
        self._written.add(window)

    def commit(self) -> None:
        """Publish staged files; whole-window runs first clear the windows they cover."""
        for window in sorted(self.replace_windows | self._written):
            target = self.root / f"window={window}"
            if window in self.replace_windows and target.exists():
                shutil.rmtree(target)
            staged = self.staging / f"window={window}"
            if staged.exists():
                target.mkdir(parents=True, exist_ok=True)
                for file in staged.iterdir():
                    os.replace(file, target / file.name)
        self.abort()

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def clean_stale_staging(lake_dir: Path) -> None:
    """Remove what killed runs left staged (their DuckDB writes were rolled back too)."""
    for staging in Path(lake_dir).glob(f"*/{STAGING}"):
        shutil.rmtree(staging, ignore_errors=True)

