"""Content sync: fetch what changed in a range of modification windows and store it.

One function per asset, each plain Python over a `ConfluenceClient` and a warehouse path, so
Dagster assets, the CLI and tests all run the same code.

How a range is fetched. v2 lists sorted by `-modified-date` are read until an item is older
than the range's start, so a run costs ceil(changed/250) calls plus one, whatever the size of
the site; timestamps are exact (no CQL minute rounding), and the latest window, run again and
again, starts from the stored watermark instead of midnight. Folders have no v2 listing and
come from CQL, read with a day of overlap (CQL dates are in the caller's unknown time zone)
and then filtered exactly. Labels are read for the pages and blog posts of the range with one
CQL call per 250 items (`expand=content.metadata.labels`). CQL searches include archived
content and archived spaces, as v2 listings do.

The space filter is pushed into the listings (space-id, CQL `space in`); a listing refused for
one space is split until that space is alone, reported, and the watermark stays where it was.
The watermark is kept with the span it covers and the filters it was reached under: a run
reaching now starts from it only when that span covers the run's range, and when the filters
change the next run reaching now reads from the beginning.

Pages and folders whose place changed without a new version (the children of a trashed page,
the descendants of a page moved to another space), and ancestors not stored (left out by the
date filters, or in windows not synced yet), are read by id in bulk: see `_mend_tree`.

Deletions never come from timestamps. Each run lists `status=trashed` (pages, blog posts,
attachments) and re-checks items stored as trashed that left the trash: found again means
restored, gone means purged. Comments have no site-wide trash listing: a CQL count per batch of
spaces tells when some left or came back, and only then are they looked for (`_comments_deleted`).
`reconcile()` lists every id to catch purges that skipped the trash's listing, folders put in
the trash (CQL never shows the trash) and comments trashed before the first sync, and is run by
the demo and the reconciliation schedule.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from ..confluence.client import ConfluenceClient
from ..confluence.cql import cql_date
from ..confluence.errors import ConfluenceError, NotFound, PermissionDenied
from ..confluence.models import Attachment, ContentV1
from ..confluence.transport import RETRY_CAUSES
from ..settings import Settings
from ..storage.schema import TABLES
from ..storage.warehouse import Warehouse, WriteCounts
from . import audit
from . import rows as R
from .scope import apply_scope, refresh_tree, spaces_in_scope
from .windows import EPOCH, TimeRange, Windows, window_start

OVERLAP = timedelta(minutes=5)  # re-read before the watermark: listings are eventually consistent
CQL_OVERLAP = timedelta(days=1)  # CQL dates are read in the account's (unknown) time zone
FLUSH_ROWS = 2000  # rows held in memory before they are written: memory stays flat
DOWNLOAD_WORKERS = 4  # attachment files fetched at once: a download waits on the network, not on us


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

    def metadata(self) -> dict[str, Any]:
        return {"rows_fetched": self.fetched, "rows_inserted": self.counts.inserted,
                "rows_updated": self.counts.updated, "rows_deleted": self.deleted,
                "rows_out_of_scope": self.out_of_scope, "api_calls": self.calls, "api_points": self.points,
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


# -- spaces ------------------------------------------------------------------------------------

def sync_spaces(ctx: SyncContext, *, full_pass: bool = False) -> AssetReport:
    """Every space the account can see (current, archived, personal); vanished ones marked deleted.
    Between full reads (daily, or asked for) the spaces are listed only when the audit log names
    a space change other than its permissions (created, archived, deleted, renamed), or cannot
    tell (not readable)."""
    report = AssetReport("spaces")
    with measured_step(ctx, report) as wh:
        full = audit.full_read_due(wh, "spaces", ctx.now, full_pass)
        records = None if full else audit.since_last(wh, "spaces")
        if records is not None and not any(r.about("space") and not r.permission for r in records):
            with wh.transaction():
                report.out_of_scope = _scope(ctx, wh, report, "spaces")  # the filters may have changed
                audit.read_done(wh, "spaces", ctx.now, False)
            return report
        rows = [R.space_row(s, ctx.site_url, ctx.now) for s in ctx.client.spaces(description_format="plain")]
        report.fetched = len(rows)
        with wh.transaction():
            report.counts = wh.upsert("spaces", rows)
            gone = wh.ids("spaces", "deleted_at IS NULL") - {r["id"] for r in rows}
            report.deleted = wh.mark("spaces", gone, status="deleted", deleted_at=ctx.now)
            report.out_of_scope = _scope(ctx, wh, report, "spaces")
            audit.read_done(wh, "spaces", ctx.now, records is None)
    return report


def _wrote(report: AssetReport) -> bool:
    """Whether a step changed rows so far. Scope follows from the rows and the filters alone and
    every step that changed rows recomputes it: one that did not, skips it (it updates every
    table). So does the pages step's tree mend: what other steps change in the tree, the folders
    step's mend (over pages and folders, every run) finds."""
    return bool(report.fetched or report.deleted or report.counts.inserted or report.counts.updated)


def _scope(ctx: SyncContext, wh: Warehouse, report: AssetReport, table: str) -> int:
    """Mark every stored row in or out of the filters' scope (`apply_scope`, an update of every
    table) and return the rows of `table` out of scope. Scope follows from the rows and the
    filters alone, and every step that changed either applied it: a step that wrote nothing
    under the same filters skips it."""
    applied = ctx.settings.filters.model_dump_json() + ctx.settings.sync.timezone
    if not _wrote(report) and wh.get_state("scope:applied") == applied:
        return wh.count(table, "in_scope = FALSE") if table != "labels" else 0
    out = apply_scope(wh, ctx.settings.filters, ctx.tz).get(table, 0)
    if wh.get_state("scope:applied") != applied:
        wh.set_state("scope:applied", applied)
    return out


# -- listings ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Listing:
    table: str
    fetch: Callable[..., Iterator[Any]]  # (client, space_ids | None) -> items, newest first
    to_row: Callable[..., dict[str, Any]]
    trashed: Callable[..., Iterator[Any]] | None = None  # (client, space_ids | None) -> items in the trash
    by_ids: Callable[[ConfluenceClient, list[str]], Iterator[Any]] | None = None
    per_space: bool = True


def _pages(c: ConfluenceClient, space_ids: list[str] | None) -> Iterator[Any]:
    return c.pages(space_ids=space_ids, status=["current", "archived"], body_format="storage",
                   sort="-modified-date")


def _blogposts(c: ConfluenceClient, space_ids: list[str] | None) -> Iterator[Any]:
    return c.blogposts(space_ids=space_ids, status=["current"], body_format="storage", sort="-modified-date")


def _attachments(c: ConfluenceClient, space_ids: list[str] | None) -> Iterator[Any]:
    return c.attachments(status=["current", "archived"], sort="-modified-date")


LISTINGS: dict[str, list[Listing]] = {
    "pages": [Listing("pages", _pages, R.page_row,
                      trashed=lambda c, s: c.pages(space_ids=s, status=["trashed"], body_format="storage"),
                      by_ids=lambda c, ids: c.pages(ids=ids, status=["current", "archived"], body_format="storage"))],
    "blogposts": [Listing("blogposts", _blogposts, R.blogpost_row,
                          trashed=lambda c, s: c.blogposts(space_ids=s, status=["trashed"], body_format="storage"),
                          by_ids=lambda c, ids: c.blogposts(ids=ids, status=["current"], body_format="storage"))],
    "comments": [
        Listing("comments", lambda c, s: c.footer_comments(body_format="storage", sort="-modified-date"),
                lambda item, *a: R.comment_row(item, "footer", *a), per_space=False),
        Listing("comments", lambda c, s: c.inline_comments(body_format="storage", sort="-modified-date"),
                lambda item, *a: R.comment_row(item, "inline", *a), per_space=False),
    ],
    "attachments": [Listing("attachments", _attachments, R.attachment_row,
                            trashed=lambda c, s: c.attachments(status=["trashed"]),
                            by_ids=lambda c, ids: _attachments_by_id(c, ids), per_space=False)],
}


def _space_batches(ctx: SyncContext, wh: Warehouse) -> list[list[str] | None]:
    """Push the space filter into the API as space-id (100 per call); None: the whole site.
    The spaces in scope are those of the filters now, whether or not `spaces` ran since they changed."""
    filters = ctx.settings.filters
    if not filters.space_keys_in and not filters.space_keys_not_in:
        return [None]
    ids = spaces_in_scope(wh, filters)
    return [ids[i:i + 100] for i in range(0, len(ids), 100)]


def _listed(ctx: SyncContext, wh: Warehouse, listing: Listing, fetch: Callable[..., Iterator[Any]],
            report: AssetReport, since: datetime | None = None, until: datetime | None = None) -> Iterator[Any]:
    """What `fetch` lists (newest first) modified in [since, until), space batch by space batch.

    A listing answered with 403 is split until the space that fails is alone: that space is
    reported (so the watermark stays), and every other space is still synced.
    """
    pending = _space_batches(ctx, wh) if listing.per_space else [None]
    while pending:
        batch = pending.pop(0)
        try:
            for item in fetch(ctx.client, batch):
                modified = item.version.created_at if item.version else None
                if until is not None and (modified is None or modified >= until):
                    continue
                if since is not None and modified is not None and modified < since:
                    break
                yield item
            report.failures += ctx.client.take_skipped()  # malformed objects: recorded, tried again next run
        except PermissionDenied as exc:
            spaces = batch if batch is not None else spaces_in_scope(wh, ctx.settings.filters)
            if listing.per_space and len(spaces) > 1:
                pending[:0] = [spaces[:len(spaces) // 2], spaces[len(spaces) // 2:]]
            else:
                where = f"space {spaces[0]}" if listing.per_space and spaces else "the site"
                report.failures.append(f"{listing.table} of {where}: {exc}")


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


def _advance_watermark(ctx: SyncContext, wh: Warehouse, asset: str, since: datetime) -> None:
    """Every change in [since, now) is stored now: the covered span grows when it joins the last one."""
    covered = _Coverage.load(wh, asset)
    start = since
    if covered and covered.filters == _filters_state(ctx) and since <= covered.watermark:
        start = min(since, covered.start)
    wh.set_state(f"covered_from:{asset}", start.isoformat())
    wh.set_state(f"watermark:{asset}", ctx.now.isoformat())
    wh.set_state(f"filters:{asset}", _filters_state(ctx))


def _fetch_bounds(ctx: SyncContext, wh: Warehouse, asset: str, rng: TimeRange) -> tuple[datetime, datetime]:
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


class _Writer:
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


def sync_content(ctx: SyncContext, asset: str, rng: TimeRange) -> AssetReport:
    """Fetch pages, blog posts, comments or attachments modified in `rng` and store them."""
    report = AssetReport(asset, windows=rng.keys)
    with measured_step(ctx, report) as wh:
        since, until = _fetch_bounds(ctx, wh, asset, rng)
        report.since = since
        writer = _Writer(ctx, wh, asset, report)
        for listing in LISTINGS[asset]:
            for item in _listed(ctx, wh, listing, listing.fetch, report, since, until):
                writer.add(listing.to_row(item, ctx.windows, ctx.now, ctx.site_url))
        trash_records = audit.since_last(wh, f"trash_{asset}")
        with wh.transaction():
            # first: an update after the merge's deletes and inserts in one transaction lost rows (DuckLake)
            for listing in LISTINGS[asset]:
                report.deleted += _purged_unseen(ctx, wh, listing, report)
            writer.merge()
            list_trash = _trash_due(ctx, wh, asset, trash_records, report)
            for listing in LISTINGS[asset]:
                report.counts += _moved_out(ctx, wh, listing, since, until, report)
                if list_trash:
                    report.deleted += _sync_trash(ctx, wh, listing, report)
            if any(listing.trashed for listing in LISTINGS[asset]):
                audit.read_done(wh, f"trash_{asset}", ctx.now, list_trash)
            if asset == "pages":
                report.counts += _mend_tree(ctx, wh, "pages") if _wrote(report) else WriteCounts()
            report.out_of_scope = _scope(ctx, wh, report, asset)
            listed_all = not report.failures
            if asset == "attachments":
                _download(ctx, wh, report)  # what it misses is tried again next run, watermark or not
            wh.set_state(f"failures:{asset}", report.failures)
            if rng.includes_now(ctx.now) and listed_all:
                _advance_watermark(ctx, wh, asset, since)
        if asset == "comments" and not report.failures:
            with wh.transaction():  # its own: counts set against the lake need this run's comments merged
                report.deleted += _comments_deleted(ctx, wh)
    return report


# Pages and folders to read by id: parents that are not stored, and nodes whose place is stale.
_TREE_GAPS = """
    WITH nodes AS (SELECT id, parent_id, parent_type, space_id, status, ancestor_ids, 'page' AS type FROM pages
                   UNION ALL
                   SELECT id, parent_id, parent_type, space_id, status, ancestor_ids, 'folder' FROM folders),
    moved AS (SELECT coalesce(list(DISTINCT p.id), []) AS ids FROM nodes c JOIN nodes p ON p.id = c.parent_id
              WHERE c.status NOT IN ('trashed', 'purged') AND p.status NOT IN ('trashed', 'purged')
                AND c.space_id IS DISTINCT FROM p.space_id)
    SELECT DISTINCT parent_id, coalesce(parent_type, 'page') FROM nodes
    WHERE parent_id IS NOT NULL AND status <> 'purged' AND parent_id NOT IN (SELECT id FROM nodes)
    UNION
    SELECT t.id, t.type FROM nodes t CROSS JOIN moved LEFT JOIN nodes p ON p.id = t.parent_id
    WHERE t.status NOT IN ('trashed', 'purged')
      AND (p.status IN ('trashed', 'purged') OR list_has_any(coalesce(t.ancestor_ids, []), moved.ids))
    ORDER BY 1"""


def _mend_tree(ctx: SyncContext, wh: Warehouse, table: str) -> WriteCounts:
    """Keep the stored page tree whole and in place, then recompute breadcrumbs.

    Breadcrumbs and "under page X" need every page and folder above a stored one, even those
    the date filters leave out or whose window was not synced: they are read by id (in bulk).
    And Confluence lifts the children of a trashed page or folder to its parent, and takes the
    descendants of a page moved to another space along, without new versions, so no listing
    by modification date shows them: they are read again by id too. The pages asset reads pages
    only (the folders asset, after it, reads both). Returns what it wrote to `table`.
    """
    types = ("page",) if table == "pages" else ("page", "folder")
    counts = {"pages": WriteCounts(), "folders": WriteCounts()}
    tried: set[str] = set()
    while True:
        refresh_tree(wh)
        wanted = [(node_id, type_) for node_id, type_ in wh.run(_TREE_GAPS) if node_id not in tried and type_ in types]
        if not wanted:
            return counts[table]
        tried.update(node_id for node_id, _ in wanted)
        pages = [node_id for node_id, type_ in wanted if type_ == "page"]
        folders = [node_id for node_id, type_ in wanted if type_ == "folder"]
        if pages:
            items = ctx.client.pages(ids=pages, status=["current", "archived"], body_format="storage")
            counts["pages"] += wh.upsert("pages", [R.page_row(item, ctx.windows, ctx.now, ctx.site_url)
                                                   for item in items])
        if folders:
            counts["folders"] += wh.upsert("folders", [R.folder_row(item, ctx.windows, ctx.now, ctx.site_url)
                                                       for item in _folders_by_ids(ctx, folders)])


def _moved_out(ctx: SyncContext, wh: Warehouse, listing: Listing, since: datetime, until: datetime,
               report: AssetReport) -> WriteCounts:
    """Stored pages and blog posts moved into a space the space filter leaves out: the listings
    by space id no longer show them, so they are found here and read again by id (for
    `apply_scope` to mark them out of scope, and `_mend_tree` to move their descendants along).

    A run from the beginning listed every space in scope up to `until`, so what it stores in
    scope from before then and did not see this run has left (or is in the trash, which
    `_sync_trash` reads next). A run from a watermark asks CQL what changed outside the filter
    since then: one call while few did."""
    filters = ctx.settings.filters
    if listing.by_ids is None or not (filters.space_keys_in or filters.space_keys_not_in) or report.failures:
        return WriteCounts()
    table = listing.table
    if since <= EPOCH:
        candidates = wh.ids(table, "in_scope AND status IN ('current', 'archived') AND modified_at < ? "
                                   "AND synced_at <> ?", [until, ctx.now])
    else:
        outside = [f"space {op} ({_cql_keys(keys)})"
                   for op, keys in (("in", filters.space_keys_not_in), ("not in", filters.space_keys_in)) if keys]
        cql = (f"type = {table.removesuffix('s')} and ({' or '.join(outside)})"
               f' and lastmodified >= "{cql_date(since - CQL_OVERLAP, timezone.utc)}"')
        changed = {content.id for content in _search(ctx, cql, ())}
        candidates = wh.ids(table, "in_scope AND id IN (SELECT unnest(?::VARCHAR[]))", [sorted(changed)])
    if not candidates:
        return WriteCounts()
    items = listing.by_ids(ctx.client, sorted(candidates, key=int))
    return wh.upsert(table, [listing.to_row(item, ctx.windows, ctx.now, ctx.site_url) for item in items])


def _trash_due(ctx: SyncContext, wh: Warehouse, asset: str, records: list[audit.AuditRecord] | None,
               report: AssetReport) -> bool:
    """Whether to list the trash this run (a listing costs a call per 250 trashed items, and the
    trash only grows): when the audit log cannot tell (not readable), names content trashed,
    restored, deleted or purged since the last listing, a count of live items disagreed, or the
    last listing is older than FULL_PASS_EVERY. A trash and a restore in one interval that the
    log misses cancel out in the counts: the reconciliation's to find, or the next daily listing."""
    return (records is None or report.count_differs or any(r.content_gone_or_back for r in records)
            or audit.full_read_due(wh, f"trash_{asset}", ctx.now, False) or _counts_differ(ctx, wh, asset, report))


def _counts_differ(ctx: SyncContext, wh: Warehouse, asset: str, report: AssetReport) -> bool:
    """After the merge (new items stored): whether a count of live items taken this run differs
    from what the lake holds live, batch by batch; True where no count was taken."""
    if asset not in _COUNTED:
        return False
    statuses = _COUNTED[asset][1]
    for batch in _space_batches(ctx, wh):
        where, params = "status IN (SELECT unnest(?))", [statuses]
        if batch is not None:
            where, params = where + " AND space_id IN (SELECT unnest(?))", [statuses, batch]
        live = report.live_counted.get(repr((where, params)))
        if live is None or live != wh.count(asset, where, params):
            return True
    return False


def _sync_trash(ctx: SyncContext, wh: Warehouse, listing: Listing, report: AssetReport) -> int:
    """Trashed items (status and deleted_at), restores and purges of what was in the trash."""
    if listing.trashed is None:
        return 0
    table = listing.table
    failures = len(report.failures)
    trashed = [listing.to_row(item, ctx.windows, ctx.now, ctx.site_url)
               for item in _listed(ctx, wh, listing, listing.trashed, report)]
    trashed_ids = {row["id"] for row in trashed}
    known_trashed = wh.ids(table, "status = 'trashed'")
    for row in trashed:
        del row["deleted_at"]  # the first time it was seen in the trash is kept
    if trashed:
        report.counts += wh.upsert(table, trashed)
        wh.run(f"UPDATE {table} SET deleted_at = coalesce(deleted_at, ?) WHERE id IN (SELECT unnest(?))",
               [ctx.now, sorted(trashed_ids)])
    # what left the trash was restored or purged; unless part of the trash could not be listed
    left = sorted(known_trashed - trashed_ids) if len(report.failures) == failures else []
    deleted = len(trashed_ids - known_trashed)
    if left:
        found = {item.id: item for item in listing.by_ids(ctx.client, left)} if listing.by_ids else {}
        restored = [listing.to_row(item, ctx.windows, ctx.now, ctx.site_url) for item in found.values()
                    if item.status != "trashed"]
        if restored:
            report.counts += wh.upsert(table, restored)  # their deleted_at is None again
        purged = [i for i in left if i not in found]
        deleted += _mark_purged(ctx, wh, table, purged)
    return deleted


# The CQL type and the statuses its v2 listing shows, of the content whose purges a count can reveal.
_COUNTED = {"pages": ("page", ["current", "archived"]), "blogposts": ("blogpost", ["current"])}


def _purged_unseen(ctx: SyncContext, wh: Warehouse, listing: Listing, report: AssetReport) -> int:
    """Content trashed and purged since the last run, never seen in the trash. Per batch of spaces,
    one CQL count of what is live on the site is set against the rows stored live; only where the
    site has fewer are the ids listed (no bodies) and those missing read by id, to mark purged what
    is gone (with its comments and attachments). A purge hidden by as many new items created since
    the listing is the reconciliation's to find. Under `filters.modified.after` the lake holds less
    than the site, counts cannot tell, and the ids are always listed."""
    if listing.table not in _COUNTED or report.failures:
        return 0
    cql_type, statuses = _COUNTED[listing.table]
    by_date = ctx.settings.filters.modified.after is not None
    purged = 0
    for batch, clause in zip(_space_batches(ctx, wh), _cql_space_clauses(ctx, wh)):
        where, params = "status IN (SELECT unnest(?))", [statuses]
        if batch is not None:
            where, params = where + " AND space_id IN (SELECT unnest(?))", [statuses, batch]
        stored = wh.count(listing.table, where, params)
        if not stored:
            continue
        report.count_differs |= by_date
        if not by_date:
            live = ctx.client.search_count(f"type = {cql_type}{clause}", include_archived_spaces=True,
                                           content_statuses=statuses)
            report.live_counted[repr((where, params))] = live  # set against the lake again after the merge
            if live >= stored:
                continue
            report.count_differs = True
            ctx.progress(f"{listing.table}: the site counts {live} live, the lake {stored}: looking for purges")
        listed = {item.id for item in _ids_listing(ctx.client, listing.table, batch, statuses)}
        missing = sorted(wh.ids(listing.table, where, params) - listed)
        if missing:
            # trashed is not purged: the trash keeps the item (restorable, with its comments and attachments)
            found = {item.id for item in _ids_listing(ctx.client, listing.table, None, [*statuses, "trashed"],
                                                      ids=missing)}
            purged += _mark_purged(ctx, wh, listing.table, [i for i in missing if i not in found])
    return purged


# Comments stored under a page or blog post stored live, with the container's space: CQL counts
# and lists comments whose container is current or archived, so these are what it can be set against.
_COMMENTS_UNDER_LIVE = """
    SELECT c.id, c.status FROM comments c
    JOIN (SELECT id, space_id FROM pages WHERE status IN ('current', 'archived')
          UNION ALL SELECT id, space_id FROM blogposts WHERE status = 'current') k ON k.id = c.container_id
    WHERE c.status IN ('current', 'trashed') AND (? OR k.space_id IN (SELECT unnest(?::VARCHAR[])))"""


def _comments_deleted(ctx: SyncContext, wh: Warehouse) -> int:
    """Comments trashed, restored or purged. The site-wide comment lists show current comments
    only, so per batch of spaces one CQL count of live comments is set against the comments
    stored current; only where they differ are the ids listed (CQL, no bodies): stored current
    ones not listed are trashed or purged (`_comment_fates` tells which), stored trashed ones
    listed were restored. A trashed comment purged later changes no count: reconciliation marks
    it. Under `filters.modified.after` the ids are always listed, as for pages."""
    by_date = ctx.settings.filters.modified.after is not None
    deleted = 0
    for batch, clause in zip(_space_batches(ctx, wh), _cql_space_clauses(ctx, wh)):
        stored = dict(wh.run(_COMMENTS_UNDER_LIVE, [batch is None, batch or []]))
        current = {i for i, status in stored.items() if status == "current"}
        if not stored:
            continue
        if not by_date:
            live = ctx.client.search_count(f"type = comment{clause}", include_archived_spaces=True,
                                           content_statuses=["current", "archived"])
            if live == len(current):
                continue
            ctx.progress(f"comments: the site counts {live} live, the lake {len(current)}: "
                         "looking for deletions")
        listed = {content.id for content in _search(ctx, f"type = comment{clause}", ())}
        restored = sorted(i for i in listed if stored.get(i) == "trashed")
        wh.run("UPDATE comments SET status = 'current', deleted_at = NULL WHERE id IN (SELECT unnest(?))",
               [restored])
        fates = _comment_fates(ctx, wh, sorted(current - listed))
        deleted += _mark_trashed(ctx, wh, [i for i, fate in fates.items() if fate == "trashed"])
        deleted += _mark_purged(ctx, wh, "comments", [i for i, fate in fates.items() if fate == "purged"])
    return deleted


def _comment_fates(ctx: SyncContext, wh: Warehouse, ids: list[str]) -> dict[str, str]:
    """Of stored comments the site's current lists no longer show: id -> 'trashed', 'purged' or
    'current'. A root comment is looked for in its container's list of current and trashed
    comments (one call per container and kind); a reply, which those lists leave out, is read by
    id. Comments whose container cannot be read are left out: the container's fate is its own
    asset's to record."""
    rows = wh.run("SELECT id, kind, container_type, container_id, parent_comment_id FROM comments "
                  "WHERE id IN (SELECT unnest(?)) ORDER BY id", [ids])
    fates: dict[str, str] = {}
    roots: dict[tuple[str, str, str], list[str]] = {}
    for comment_id, kind, container_type, container_id, parent_comment_id in rows:
        if parent_comment_id is None and container_id:
            roots.setdefault((kind, container_type or "page", container_id), []).append(comment_id)
            continue
        try:
            fates[comment_id] = ctx.client.comment(kind, comment_id).status or "current"
        except NotFound:
            fates[comment_id] = "purged"
    for (kind, container_type, container_id), wanted in roots.items():
        listing = ctx.client.footer_comments_of if kind == "footer" else ctx.client.inline_comments_of
        try:
            found = {c.id: c.status or "current" for c in listing(container_type, container_id,
                                                                  status=["current", "trashed"])}
        except (NotFound, PermissionDenied):
            continue
        fates.update({comment_id: found.get(comment_id, "purged") for comment_id in wanted})
    return fates


def _mark_trashed(ctx: SyncContext, wh: Warehouse, ids: list[str]) -> int:
    """Comments found in the trash: status 'trashed'; the first time they were seen there is kept."""
    if not ids:
        return 0
    wh.run("UPDATE comments SET status = 'trashed', deleted_at = coalesce(deleted_at, ?) "
           "WHERE id IN (SELECT unnest(?))", [ctx.now, ids])
    return len(ids)


def _ids_listing(client: ConfluenceClient, table: str, space_ids: list[str] | None, statuses: list[str], *,
                 ids: list[str] | None = None) -> Iterator[Any]:
    listing = client.pages if table == "pages" else client.blogposts
    return listing(ids=ids, space_ids=space_ids, status=statuses)


def _attachments_by_id(client: ConfluenceClient, ids: list[str]) -> Iterator[Attachment]:
    """Attachments one by one (there is no bulk read); gone ones are skipped. Only for the few
    that left the trash: a restore does not change the version, so no listing shows it."""
    for attachment_id in ids:
        try:
            yield client.attachment(attachment_id)
        except NotFound:
            continue


def _mark_purged(ctx: SyncContext, wh: Warehouse, table: str, ids: list[str]) -> int:
    """Purged content keeps its row (status 'purged', deleted_at); attachment bytes are removed."""
    if not ids:
        return 0
    count = wh.mark(table, ids, status="purged")
    wh.run(f"UPDATE {table} SET deleted_at = coalesce(deleted_at, ?) WHERE id IN (SELECT unnest(?))",
                   [ctx.now, ids])
    if table in ("pages", "blogposts"):
        for child in ("comments", "attachments"):
            dependants = sorted(wh.ids(child, "container_id IN (SELECT unnest(?)) AND status <> 'purged'", [ids]))
            _mark_purged(ctx, wh, child, dependants)
    if table == "attachments":
        for attachment_id in ids:
            (ctx.data_dir / "attachments" / attachment_id).unlink(missing_ok=True)
    return count


def _download(ctx: SyncContext, wh: Warehouse, report: AssetReport) -> None:
    """Save the bytes of every attachment in scope whose current version is not saved yet, as
    data/attachments/<id> (never by file name): new, changed, restored and failed before.
    DOWNLOAD_WORKERS files are fetched at once (the client is thread-safe; the warehouse is
    written from this thread only)."""
    folder = ctx.data_dir / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    for partial in folder.glob(".*.part"):  # the client's temporary files, left by a run killed mid-download
        partial.unlink()
    wanted = wh.run("""SELECT id, container_id, version, status FROM attachments
                       WHERE status IN ('current', 'archived') AND in_scope AND container_id IS NOT NULL
                         AND downloaded_version IS DISTINCT FROM version ORDER BY id""")

    def fetch(attachment_id: str, container_id: str, version: int, status: str) -> Path:
        dest = folder / attachment_id
        ctx.client.download_attachment(container_id, attachment_id, dest, version=version, status=status,
                                       max_bytes=ctx.settings.sync.max_attachment_mb * 1024 * 1024)
        return dest

    pool = ThreadPoolExecutor(DOWNLOAD_WORKERS, thread_name_prefix="download")
    try:
        futures = {pool.submit(fetch, *row): row for row in wanted}
        started = time.perf_counter()
        for done, future in enumerate(as_completed(futures), 1):
            if done % FLUSH_ROWS == 0:
                eta = (time.perf_counter() - started) / done * (len(wanted) - done)
                ctx.progress(f"attachments: {done:,}/{len(wanted):,} files downloaded, about {eta:.0f} s to go")
            attachment_id, _, version, _ = futures[future]
            try:
                dest = future.result()
            except ConfluenceError as exc:
                report.failures.append(f"attachment {attachment_id}: {exc}")
                continue
            wh.run("UPDATE attachments SET local_path = ?, downloaded_version = ? WHERE id = ?",
                   [str(dest), version, attachment_id])
    except BaseException as exc:
        if not isinstance(exc, Exception):  # the step interrupted (run cancelled): no thread sits out its wait
            ctx.client.stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# -- folders and labels (CQL) -------------------------------------------------------------------------

FOLDER_EXPAND = tuple(f"content.{e}" for e in ("version", "space", "ancestors", "history", "extensions"))


def _search(ctx: SyncContext, cql: str, expand: tuple[str, ...]) -> Iterator[ContentV1]:
    """Content by CQL, archived content and archived spaces included: CQL leaves them out by
    default, v2 listings do not."""
    for hit in ctx.client.search(cql, expand=expand, limit=250, include_archived_spaces=True,
                                 content_statuses=("current", "archived")):
        if hit.content is not None:
            yield hit.content


def _cql_space_clauses(ctx: SyncContext, wh: Warehouse) -> list[str]:
    """The space filter as CQL: nothing (the whole site), or `space in (...)` per 100 spaces in scope."""
    batches = _space_batches(ctx, wh)
    if batches == [None]:
        return [""]
    keys = dict(wh.run("SELECT id, key FROM spaces"))
    return [f" and space in ({_cql_keys(keys[space_id] for space_id in batch)})" for batch in batches]


def _cql_keys(keys: Iterable[str]) -> str:
    return ",".join(f'"{key}"' for key in keys)


def _folders_by_ids(ctx: SyncContext, ids: list[str]) -> Iterator[ContentV1]:
    for start in range(0, len(ids), 250):
        yield from _search(ctx, f"type = folder and id in ({','.join(ids[start:start + 250])})", FOLDER_EXPAND)


def sync_folders(ctx: SyncContext, rng: TimeRange) -> AssetReport:
    report = AssetReport("folders", windows=rng.keys)
    with measured_step(ctx, report) as wh:
        since, until = _fetch_bounds(ctx, wh, "folders", rng)
        report.since = since
        cql = "type = folder"
        if since > EPOCH:
            cql += f' and lastmodified >= "{cql_date(since - CQL_OVERLAP, timezone.utc)}"'
        writer = _Writer(ctx, wh, "folders", report)
        for space_clause in _cql_space_clauses(ctx, wh):
            for content in _search(ctx, cql + space_clause, FOLDER_EXPAND):
                row = R.folder_row(content, ctx.windows, ctx.now, ctx.site_url)
                if row["modified_at"] and since <= row["modified_at"] < until:
                    writer.add(row)
        with wh.transaction():
            writer.merge()
            # always: pages moved or trashed without a new version (written by the pages step) move
            # folders along, and this mend, over pages and folders, is what finds them
            report.counts += _mend_tree(ctx, wh, "folders")
            report.out_of_scope = _scope(ctx, wh, report, "folders")
            if rng.includes_now(ctx.now):
                _advance_watermark(ctx, wh, "folders", since)
    return report


def sync_labels(ctx: SyncContext, rng: TimeRange) -> AssetReport:
    """Labels of the pages and blog posts stored for the range (250 items per CQL call)."""
    report = AssetReport("labels", windows=rng.keys)
    with measured_step(ctx, report) as wh:
        since, until = _fetch_bounds(ctx, wh, "labels", rng)
        report.since = since
        ids = sorted(wh.ids("pages", "modified_at >= ? AND modified_at < ? AND deleted_at IS NULL", [since, until])
                     | wh.ids("blogposts", "modified_at >= ? AND modified_at < ? AND deleted_at IS NULL",
                              [since, until]), key=int)
        with wh.transaction():
            _replace_labels(ctx, wh, ids, report)
            _labels_follow_content(wh)
            if rng.includes_now(ctx.now):
                _advance_watermark(ctx, wh, "labels", since)
    return report


def _replace_labels(ctx: SyncContext, wh: Warehouse, ids: list[str], report: AssetReport) -> None:
    """Read the labels of `ids` (250 per CQL call) and replace each item's label set whole, so
    labels removed from an item disappear. Written every FLUSH_ROWS items: memory stays flat."""
    for start in range(0, len(ids), FLUSH_ROWS):
        batch = ids[start:start + FLUSH_ROWS]
        windows = dict(wh.run("SELECT id, window_key FROM pages WHERE id IN (SELECT unnest(?)) UNION ALL "
                              "SELECT id, window_key FROM blogposts WHERE id IN (SELECT unnest(?))", [batch, batch]))
        rows: list[dict[str, Any]] = []
        for call in range(0, len(batch), 250):
            cql = f"id in ({','.join(batch[call:call + 250])})"
            for content in _search(ctx, cql, ("content.metadata.labels",)):
                rows.extend(R.label_rows(content, ctx.now, windows.get(content.id)))
        report.fetched += len(rows)
        old = set(wh.run("SELECT content_id, label_id FROM labels WHERE content_id IN (SELECT unnest(?))", [batch]))
        new = {(r["content_id"], r["label_id"]) for r in rows}
        wh.run("DELETE FROM labels WHERE content_id IN (SELECT unnest(?))", [batch])
        wh.upsert("labels", rows)
        report.counts += WriteCounts(inserted=len(new - old), unchanged=len(new & old))
        report.deleted += len(old - new)


# -- reconciliation --------------------------------------------------------------------------------------

def reconcile(ctx: SyncContext) -> AssetReport:
    """List every id (no bodies) and mark stored items that no longer exist as purged; folders
    CQL stopped showing are asked for by id (in the trash, or gone)."""
    report = AssetReport("reconcile")
    with measured_step(ctx, report) as wh:
        listings: dict[str, Iterable[Any]] = {
            "pages": ctx.client.pages(status=["current", "archived", "trashed"]),
            "blogposts": ctx.client.blogposts(status=["current", "trashed"]),
            "attachments": ctx.client.attachments(status=["current", "archived", "trashed"]),
            "comments": _chain(ctx.client.footer_comments(), ctx.client.inline_comments()),
            "folders": _search(ctx, "type = folder", ()),
        }
        with wh.transaction():
            for table, items in listings.items():
                seen = {item.id for item in items}
                report.fetched += len(seen)
                if table == "comments":
                    report.deleted += _reconcile_comments(ctx, wh, seen)
                    continue
                missing = sorted(wh.ids(table, "status <> 'purged'") - seen)
                if table == "folders":
                    missing = _folders_gone(ctx, wh, missing, seen)
                report.deleted += _mark_purged(ctx, wh, table, missing)
            _mend_tree(ctx, wh, "folders")
            # adding or removing a label makes no new version, so only a full re-read sees it
            live = sorted(wh.ids("pages", "deleted_at IS NULL") | wh.ids("blogposts", "deleted_at IS NULL"), key=int)
            labels = AssetReport("labels")
            _replace_labels(ctx, wh, live, labels)
            report.counts += labels.counts
            _labels_follow_content(wh)
    return report


def _reconcile_comments(ctx: SyncContext, wh: Warehouse, seen: set[str]) -> int:
    """Comments set against the site, `seen` being the current ones the site-wide lists show:
    stored comments not listed are looked for by `_comment_fates` (trashed, or purged). The first
    reconciliation also reads the trash of every page and blog post stored live (footer and
    inline: two calls each), which finds comments trashed before the first sync; later ones were
    seen current first. Replies trashed before the first sync stay unknown: the containers' lists
    show root comments only."""
    wh.run("UPDATE comments SET status = 'current', deleted_at = NULL WHERE status = 'trashed' "
           "AND id IN (SELECT unnest(?::VARCHAR[]))", [sorted(seen)])
    stored = wh.ids("comments", "status <> 'purged'")
    containers = [] if wh.get_state("comments_trash_read") else wh.run(
        "SELECT id, 'page' FROM pages WHERE status IN ('current', 'archived') UNION ALL "
        "SELECT id, 'blogpost' FROM blogposts WHERE status = 'current' ORDER BY 1")
    trashed: list[dict[str, Any]] = []
    read_all = True
    for container_id, container_type in containers:
        for kind, listing in (("footer", ctx.client.footer_comments_of),
                              ("inline", ctx.client.inline_comments_of)):
            try:
                trashed += [R.comment_row(item, kind, ctx.windows, ctx.now, ctx.site_url)
                            for item in listing(container_type, container_id, body_format="storage",
                                                status=["trashed"])]
            except (NotFound, PermissionDenied):
                read_all = False
    if containers and read_all:
        wh.set_state("comments_trash_read", ctx.now.isoformat())
    for row in trashed:  # blog posts' lists leave it out; every list that has it reads "open" for footers
        if row["kind"] == "footer":
            row["resolution_status"] = row["resolution_status"] or "open"
    trashed_ids = {row["id"] for row in trashed}
    known_trashed = wh.ids("comments", "status = 'trashed'")
    wh.upsert("comments", [row for row in trashed if row["id"] not in stored])
    fates = _comment_fates(ctx, wh, sorted(stored - seen - trashed_ids))
    trashed_ids |= {i for i, fate in fates.items() if fate == "trashed"}
    _mark_trashed(ctx, wh, sorted(trashed_ids))
    return (len(trashed_ids - known_trashed)
            + _mark_purged(ctx, wh, "comments", [i for i, fate in fates.items() if fate == "purged"]))


def _folders_gone(ctx: SyncContext, wh: Warehouse, missing: list[str], seen: set[str]) -> list[str]:
    """Of the folders CQL no longer shows, mark those in the trash (CQL never shows the trash, so
    each is asked for by id) and return those that are gone; folders back from the trash are current."""
    wh.run("UPDATE folders SET status = 'current', deleted_at = NULL WHERE status = 'trashed' AND id IN "
           "(SELECT unnest(?::VARCHAR[]))", [sorted(seen)])
    gone = []
    for folder_id in missing:
        try:
            folder = ctx.client.folder(folder_id)
        except NotFound:
            gone.append(folder_id)
            continue
        if folder.status == "trashed":
            wh.run("UPDATE folders SET status = 'trashed', deleted_at = coalesce(deleted_at, ?) WHERE id = ?",
                   [ctx.now, folder_id])
    return gone


def _labels_follow_content(wh: Warehouse) -> None:
    """A label row is deleted while its page or blog post is (trashed or purged), and back with it."""
    wh.run("""UPDATE labels SET deleted_at = c.deleted_at
              FROM (SELECT id, deleted_at FROM pages UNION ALL SELECT id, deleted_at FROM blogposts) c
              WHERE c.id = labels.content_id AND labels.deleted_at IS DISTINCT FROM c.deleted_at""")


def _chain(*iterables: Iterable[Any]) -> Iterator[Any]:
    for iterable in iterables:
        yield from iterable
