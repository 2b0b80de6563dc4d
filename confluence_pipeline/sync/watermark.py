"""Where a content step starts reading. The watermark is kept with the span it covers and the
filters it was reached under: a run reaching now starts from it only when that span covers the
run's range, and when the filters change the next run reaching now reads from the beginning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..storage.warehouse import Warehouse
from .step import SyncContext
from .windows import EPOCH, TimeRange, window_start

OVERLAP = timedelta(minutes=5)  # re-read before the watermark: listings are eventually consistent


def _filters_state(ctx: SyncContext) -> str:
    return ctx.settings.filters.model_dump_json()


@dataclass(frozen=True)
class _Coverage:
    """What is known to be stored: every change in [start, watermark), under `filters`."""

    start: datetime
    watermark: datetime
    filters: str

    @classmethod
    def load(cls, wh: Warehouse, asset: str) -> "_Coverage | None":
        values = [wh.get_state(f"{key}:{asset}") for key in ("covered_from", "watermark", "filters")]
        if None in values:
            return None
        return cls(datetime.fromisoformat(values[0]), datetime.fromisoformat(values[1]), values[2])


def advance_watermark(ctx: SyncContext, wh: Warehouse, asset: str, since: datetime) -> None:
    """Every change in [since, now) is stored now: the covered span grows when it joins the last one."""
    covered = _Coverage.load(wh, asset)
    start = since
    if covered and covered.filters == _filters_state(ctx) and since <= covered.watermark:
        start = min(since, covered.start)
    wh.set_state(f"covered_from:{asset}", start.isoformat())
    wh.set_state(f"watermark:{asset}", ctx.now.isoformat())
    wh.set_state(f"filters:{asset}", _filters_state(ctx))


def fetch_bounds(ctx: SyncContext, wh: Warehouse, asset: str, rng: TimeRange) -> tuple[datetime, datetime]:
    """[since, until): the range; when it reaches now and what it covers is stored up to the
    watermark, from the watermark (the latest window, run again and again, costs the changes).

    A watermark set by a run of the latest window alone does not cover older windows, so a
    backfill reaching now reads them. When the sync filters changed, what they newly let in may
    be of any age: the run reaching now then reads from the beginning (once)."""
    since, until = rng.start, rng.end
    if rng.includes_now(ctx.now):
        until = ctx.now + timedelta(days=1)  # anything stamped up to now (clocks drift)
        covered = _Coverage.load(wh, asset)
        if covered and covered.filters != _filters_state(ctx):
            since = EPOCH
        elif covered and covered.start <= since:
            since = max(since, covered.watermark - OVERLAP)
    modified_after = ctx.settings.filters.modified.after
    if modified_after:  # pushed into the listing: nothing older is fetched
        since = max(since, window_start((modified_after + timedelta(days=1)).isoformat(), ctx.tz))
    return since, until
