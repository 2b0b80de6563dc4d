"""Fetched rows on their way into their table, a batch at a time: memory stays flat whatever
the size of a run."""

from __future__ import annotations

import time
from typing import Any

from ..storage.warehouse import Warehouse
from .step import AssetReport, SyncContext

FLUSH_ROWS = 2000  # rows held in memory before they are written: memory stays flat


class StagedWriter:
    """Fetched rows in batches, into a warehouse staging table filled outside the transaction and
    merged inside it, so memory holds one batch whatever the run's size."""

    def __init__(self, ctx: SyncContext, wh: Warehouse, table: str, report: AssetReport) -> None:
        self.ctx, self.wh, self.table, self.report = ctx, wh, table, report
        self.started, self.calls_before = time.perf_counter(), ctx.client.stats()["calls"]
        self.staged = wh.stage(table)
        self.buffer: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self.buffer.append(row)
        self.report.fetched += 1
        self.report.fetched_by_window[row.get("window_key") or ""] += 1
        if len(self.buffer) >= FLUSH_ROWS:
            self.flush()
            self.progress()

    def flush(self) -> None:
        if not self.buffer:
            return
        self.staged.add(self.buffer)
        self.buffer = []

    def progress(self) -> None:
        """Where a long listing is, at each batch: steps that run for minutes show they are moving."""
        calls = self.ctx.client.stats()["calls"] - self.calls_before
        self.ctx.progress(f"{self.table}: {self.report.fetched:,} fetched so far, {calls:,} API calls, "
                          f"{time.perf_counter() - self.started:.0f} s")

    def merge(self) -> None:
        """Write what was fetched into the table: call inside the run's transaction."""
        self.flush()
        self.report.counts += self.wh.merge(self.staged)
        self.staged.drop()
