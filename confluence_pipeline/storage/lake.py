"""Landing Parquet: what each run fetched, kept per (asset, window) as history.

    data/lake/<asset>/window=<YYYY-MM-DD>/<run id>-<n>.parquet

A run stages its files and publishes them only after its DuckDB transaction committed, so a
run that dies leaves no landing rows the warehouse does not have. The transaction also records
what is to publish (`LakeWriter.record`), so a run killed between its commit and its publish
has it finished by the next run of the asset (`landing`): none is lost either. A run that covers
whole windows (a backfill, a re-run) replaces those windows' files; an incremental run adds its own.
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .warehouse import Warehouse

STAGING = "_staging"


class LakeWriter:
    def __init__(self, lake_dir: Path, asset: str, run_id: str, replace_windows: set[str]) -> None:
        self.root = Path(lake_dir) / asset
        self.run_id = run_id
        self.replace_windows = replace_windows
        self.staging = self.root / STAGING / run_id
        self._parts = 0

    def add(self, window: str, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        folder = self.staging / f"window={window}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(data, folder / f"{self.run_id}-{self._parts}.parquet", compression="zstd")
        self._parts += 1

    def record(self, wh: Warehouse) -> None:
        """Note in the run's transaction what `commit` will publish, for `landing` to finish it
        should the run die after its transaction committed."""
        wh.set_state(_pending_key(self.root.name), {"run_id": self.run_id,
                                                    "replace_windows": sorted(self.replace_windows)})

    def commit(self) -> None:
        """Publish staged files; whole-window runs first clear the windows they cover."""
        staged_windows = {d.name.removeprefix("window=") for d in self.staging.glob("window=*")}
        for window in sorted(self.replace_windows | staged_windows):
            target = self.root / f"window={window}"
            if window in self.replace_windows and target.exists():
                for old in target.iterdir():  # this run's own files stay: a publish finished again
                    if not old.name.startswith(f"{self.run_id}-"):
                        old.unlink()
            staged = self.staging / f"window={window}"
            if staged.exists():
                target.mkdir(parents=True, exist_ok=True)
                for file in staged.iterdir():
                    os.replace(file, target / file.name)
        self.abort()

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _pending_key(asset: str) -> str:
    return f"lake_publish:{asset}"


@contextmanager
def landing(wh: Warehouse, lake_dir: Path, asset: str, replace_windows: set[str]) -> Iterator[LakeWriter]:
    """The landing files of one run of `asset`: staged while the run works, published when it
    ends well (call `record` inside its transaction), dropped when it fails.

    First, a publish that a committed run did not finish is finished, and what runs that died
    before their commit staged is removed (their warehouse writes were rolled back too)."""
    pending = wh.get_state(_pending_key(asset))
    if pending:
        LakeWriter(lake_dir, asset, pending["run_id"], set(pending["replace_windows"])).commit()
        wh.set_state(_pending_key(asset), None)
    shutil.rmtree(Path(lake_dir) / asset / STAGING, ignore_errors=True)
    lake = LakeWriter(lake_dir, asset, uuid.uuid4().hex[:12], replace_windows)
    try:
        yield lake
    except BaseException:
        lake.abort()
        raise
    lake.commit()
    if wh.get_state(_pending_key(asset)):
        wh.set_state(_pending_key(asset), None)
