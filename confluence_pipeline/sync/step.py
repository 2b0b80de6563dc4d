"""What every sync step runs in: its context (client, settings, the lake), its report, and the
measured opening of the lake that fills the report with the step's calls, time and rows; and
the re-marking of scope a content step ends with when it wrote.

Each step is plain Python over a `ConfluenceClient` and a warehouse path, so Dagster assets,
the CLI and tests all run the same code.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

from ..confluence.client import ConfluenceClient
from ..confluence.transport import RETRY_CAUSES
from ..settings import Settings
from ..storage.schema import TABLES
from ..storage.warehouse import Warehouse, WriteCounts
from .scope import apply_scope, scope_follows
from .windows import Windows


@dataclass
class SyncContext:
    client: ConfluenceClient
    settings: Settings
    site_url: str
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    progress: Callable[[str], None] = lambda message: None
    writer: str = "confluence-pipeline"  # who the lake's snapshots name: the asset
    run_id: str = ""  # kept with each snapshot: the Dagster run
    snapshots: list[int] = field(default_factory=list)  # committed by this step, in order

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.sync.timezone)

    @property
    def windows(self) -> Windows:
        return Windows(self.tz, self.settings.sync.start_date.isoformat())

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    @contextmanager
    def warehouse(self) -> Iterator[Warehouse]:
        with Warehouse(self.settings.lake, writer=self.writer, commit_info=self.run_id) as wh:
            try:
                yield wh
            finally:
                self.snapshots.extend(wh.snapshots)


@dataclass
class AssetReport:
    asset: str
    windows: list[str] = field(default_factory=list)
    fetched: int = 0
    counts: WriteCounts = field(default_factory=WriteCounts)
    deleted: int = 0
    out_of_scope: int = 0
    calls: int = 0
    pooled_calls: tuple[int, int] = (0, 1)  # of the calls, those a pool of threads made, and the pool's width
    points: int = 0
    retries: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RETRY_CAUSES, 0))  # by cause
    waited: dict[str, float] = field(default_factory=lambda: {"rate_limit": 0.0, "outage": 0.0})  # seconds
    renewals: int = 0  # OAuth access tokens renewed
    duration_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    since: datetime | None = None
    table_rows: int | None = None  # in the asset's table after the step
    rows_by_window: dict[str, int] = field(default_factory=dict)  # of a step over several windows
    fetched_by_window: Counter[str] = field(default_factory=Counter)
    count_differs: bool = False  # a CQL count of live items disagreed with the lake (something left or came back)
    live_counted: dict[str, int] = field(default_factory=dict)  # where clause -> the site's count of live items

    @property
    def sequential_calls(self) -> int:
        """The calls as many round trips one after another: those in a pool count once per pool width.
        Times the latency, the least time the step can take (`bench sync --latency-ms`)."""
        pooled, width = self.pooled_calls
        return self.calls - pooled + math.ceil(pooled / width)

    def metadata(self) -> dict[str, Any]:
        return {"rows_fetched": self.fetched, "rows_inserted": self.counts.inserted,
                "rows_updated": self.counts.updated, "rows_deleted": self.deleted,
                "rows_out_of_scope": self.out_of_scope, "api_calls": self.calls,
                "api_calls_sequential": self.sequential_calls, "api_points": self.points,
                **{f"api_retries_{cause}": n for cause, n in self.retries.items()},
                **{f"api_wait_{kind}_s": round(s, 3) for kind, s in self.waited.items()},
                "api_token_renewals": self.renewals,
                "windows": f"{self.windows[0]}..{self.windows[-1]}" if len(self.windows) > 1 else
                (self.windows[0] if self.windows else ""),
                "fetched_since": self.since.isoformat() if self.since else "",
                "duration_s": round(self.duration_s, 3), "failures": len(self.failures)}


@contextmanager
def measured_step(ctx: SyncContext, report: AssetReport) -> Iterator[Warehouse]:
    """The lake, open for one asset's step. Afterwards the report holds the calls, points, retries
    and time the step spent and, when it succeeded, the rows its table holds (by window too,
    when the step covered several)."""
    with _Measure(ctx, report), ctx.warehouse() as wh:
        yield wh
        if report.asset in TABLES:
            report.table_rows = wh.count(report.asset)
            if len(report.windows) > 1:
                report.rows_by_window = dict(wh.run(
                    f"SELECT window_key, count(*) FROM {report.asset} WHERE window_key IN (SELECT unnest(?)) "
                    "GROUP BY window_key", [report.windows]))


class _Measure:
    """Calls, points and time spent by one asset."""

    def __init__(self, ctx: SyncContext, report: AssetReport) -> None:
        self.ctx, self.report = ctx, report

    def __enter__(self) -> AssetReport:
        self.t0, self.s0 = time.perf_counter(), self.ctx.client.stats()
        return self.report

    def __exit__(self, *exc: object) -> None:
        s1 = self.ctx.client.stats()
        self.report.calls = s1["calls"] - self.s0["calls"]
        self.report.points = s1["points"] - self.s0["points"]
        self.report.retries = {c: n - self.s0["retries_by_cause"][c] for c, n in s1["retries_by_cause"].items()}
        self.report.waited = {k: s1[f"waited_{k}_seconds"] - self.s0[f"waited_{k}_seconds"]
                              for k in ("rate_limit", "outage")}
        self.report.renewals = s1["token_renewals"] - self.s0["token_renewals"]
        self.report.duration_s = time.perf_counter() - self.t0
        r = self.report
        if not (r.fetched or r.counts.inserted or r.counts.updated or r.deleted or r.failures):
            return  # nothing happened: the materialization's metadata says so, without a log entry per step
        self.ctx.progress(f"{r.asset}: {r.fetched} fetched, {r.counts.inserted} new, {r.counts.updated} updated, "
                          f"{r.deleted} deleted, {r.calls} API calls, {r.duration_s:.1f} s"
                          + (f", {len(r.failures)} failures" if r.failures else ""))


def wrote(report: AssetReport) -> bool:
    """Whether a step changed rows so far. Scope follows from the rows and the filters alone and
    every step that changed rows recomputes it: one that did not, skips it (it updates whole
    tables). So does the pages step's tree mend: what other steps change in the tree, the folders
    step's mend (over pages and folders, every run) finds."""
    return bool(report.fetched or report.deleted or report.counts.inserted or report.counts.updated)


def rescope(ctx: SyncContext, wh: Warehouse, report: AssetReport, table: str) -> int:
    """Mark stored rows in or out of the filters' scope (`apply_scope`) and return the rows of
    `table` out of scope. Scope follows from the rows and the filters alone, and every step that
    changed either applied it: a step that wrote nothing under the same filters skips it, one that
    wrote `table` updates the tables whose scope follows from it (`scope_follows`), and changed
    filters update every table."""
    applied = ctx.settings.filters.model_dump_json() + ctx.settings.sync.timezone
    if wh.get_state("scope:applied") != applied:
        apply_scope(wh, ctx.settings.filters, ctx.tz)
        wh.set_state("scope:applied", applied)
    elif wrote(report):
        apply_scope(wh, ctx.settings.filters, ctx.tz, scope_follows(table))
    return wh.count(table, "in_scope = FALSE")
