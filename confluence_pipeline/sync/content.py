"""Content sync: fetch what changed in a range of modification windows and store it.

One function per asset, each plain Python over a `ConfluenceClient` and a warehouse path, so
Dagster assets, the CLI and tests all run the same code.

How a range is fetched. v2 lists sorted by `-modified-date` are read until an item is older
than the range's start, so a run costs ceil(changed/250) calls plus one, whatever the size of
the site; timestamps are exact (no CQL minute rounding), and the latest window, run again and
again, starts from the stored watermark instead of midnight. Folders have no v2 listing and
come from CQL, read with a day of overlap (CQL dates are in the caller's unknown time zone)
and then filtered exactly. Labels are read for the pages and blog posts of the range with one
CQL call per 250 items (`expand=metadata.labels`).

Deletions never come from timestamps. Each run lists `status=trashed` (pages, blog posts,
attachments) and re-checks items stored as trashed that left the trash: found again means
restored, gone means purged. `reconcile()` lists every id to catch purges that skipped the
trash's listing, and is run by the demo and the reconciliation schedule.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from ..confluence.client import ConfluenceClient
from ..confluence.cql import cql_date
from ..confluence.errors import ConfluenceError, PermissionDenied
from ..settings import Settings
from ..storage.lake import LakeWriter, clean_stale_staging
from ..storage.schema import TABLES
from ..storage.warehouse import Warehouse, WriteCounts, to_arrow
from . import rows as R
from .scope import apply_scope, refresh_tree
from .windows import TimeRange, Windows

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)  # re-read before the watermark: listings are eventually consistent
CQL_OVERLAP = timedelta(days=1)  # CQL dates are read in the account's (unknown) time zone
FLUSH_ROWS = 2000  # rows held in memory before they are written: memory stays flat


@dataclass
class SyncContext:
    client: ConfluenceClient
    settings: Settings
    site_url: str
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    progress: Callable[[str], None] = lambda message: None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.sync.timezone)

    @property
    def windows(self) -> Windows:
        return Windows(self.tz, self.settings.sync.start_date.isoformat())

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    def warehouse(self) -> Warehouse:
        return Warehouse(self.settings.duckdb_path)


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
    duration_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    since: datetime | None = None

    def metadata(self) -> dict[str, Any]:
        return {"rows_fetched": self.fetched, "rows_inserted": self.counts.inserted,
                "rows_updated": self.counts.updated, "rows_deleted": self.deleted,
                "rows_out_of_scope": self.out_of_scope, "api_calls": self.calls, "api_points": self.points,
                "windows": f"{self.windows[0]}..{self.windows[-1]}" if len(self.windows) > 1 else
                (self.windows[0] if self.windows else ""),
                "fetched_since": self.since.isoformat() if self.since else "",
                "duration_s": round(self.duration_s, 3), "failures": len(self.failures)}


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
        self.report.duration_s = time.perf_counter() - self.t0


# -- spaces ------------------------------------------------------------------------------------

def sync_spaces(ctx: SyncContext) -> AssetReport:
    """Every space the account can see (current, archived, personal); vanished ones marked deleted."""
    report = AssetReport("spaces")
    with _Measure(ctx, report), ctx.warehouse() as wh:
        rows = [R.space_row(s, ctx.site_url, ctx.now) for s in ctx.client.spaces(description_format="plain")]
        report.fetched = len(rows)
        with wh.transaction():
            report.counts = wh.upsert("spaces", rows)
            gone = wh.ids("spaces", "deleted_at IS NULL") - {r["id"] for r in rows}
            report.deleted = wh.mark("spaces", gone, status="deleted", deleted_at=ctx.now)
            report.out_of_scope = apply_scope(wh, ctx.settings.filters, ctx.tz)["spaces"]
    return report


# -- listings ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Listing:
    table: str
    fetch: Callable[..., Iterator[Any]]  # (client, space_ids | None) -> items, newest first
    to_row: Callable[..., dict[str, Any]]
    trashed: Callable[[ConfluenceClient], Iterator[Any]] | None = None
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
                      trashed=lambda c: c.pages(status=["trashed"], body_format="storage"),
                      by_ids=lambda c, ids: c.pages(ids=ids, status=["current", "archived"], body_format="storage"))],
    "blogposts": [Listing("blogposts", _blogposts, R.blogpost_row,
                          trashed=lambda c: c.blogposts(status=["trashed"], body_format="storage"),
                          by_ids=lambda c, ids: c.blogposts(ids=ids, status=["current"], body_format="storage"))],
    "comments": [
        Listing("comments", lambda c, s: c.footer_comments(body_format="storage", sort="-modified-date"),
                lambda item, *a: R.comment_row(item, "footer", *a), per_space=False),
        Listing("comments", lambda c, s: c.inline_comments(body_format="storage", sort="-modified-date"),
                lambda item, *a: R.comment_row(item, "inline", *a), per_space=False),
    ],
    "attachments": [Listing("attachments", _attachments, R.attachment_row,
                            trashed=lambda c: c.attachments(status=["trashed"]), per_space=False)],
}


def _space_batches(ctx: SyncContext, wh: Warehouse) -> list[list[str] | None]:
    """Push the space filter into the API as space-id (100 per call); None: the whole site."""
    filters = ctx.settings.filters
    if not filters.space_keys_in and not filters.space_keys_not_in:
        return [None]
    ids = sorted(wh.ids("spaces", "in_scope AND deleted_at IS NULL"), key=int)
    return [ids[i:i + 100] for i in range(0, len(ids), 100)]


def _fetch_bounds(ctx: SyncContext, wh: Warehouse, asset: str, rng: TimeRange) -> tuple[datetime, datetime]:
    """[since, until): the range, or from the watermark when the range reaches now."""
    since, until = rng.start, rng.end
    modified_after = ctx.settings.filters.modified.after
    if rng.includes_now(ctx.now):
        until = ctx.now + timedelta(days=1)  # anything stamped up to now (clocks drift)
        watermark = wh.get_state(f"watermark:{asset}")
        if watermark and datetime.fromisoformat(watermark) - OVERLAP > since:
            since = datetime.fromisoformat(watermark) - OVERLAP
    if modified_after:
        since = max(since, datetime.combine(modified_after + timedelta(days=1), datetime.min.time(), tzinfo=ctx.tz))
    return since, until


class _Writer:
    """Rows in batches: landing Parquet (staged) and DuckDB upserts inside one transaction."""

    def __init__(self, wh: Warehouse, lake: LakeWriter, table: str, report: AssetReport) -> None:
        self.wh, self.lake, self.table, self.report = wh, lake, table, report
        self.buffer: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self.buffer.append(row)
        self.report.fetched += 1
        if len(self.buffer) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        schema = TABLES[self.table]
        by_window: dict[str, list[dict[str, Any]]] = {}
        for row in self.buffer:
            by_window.setdefault(row.get("window_key") or "unknown", []).append(row)
        for window, rows in by_window.items():
            self.lake.add(window, to_arrow(schema, rows))
        self.report.counts += self.wh.upsert(self.table, self.buffer)
        self.buffer = []


def sync_content(ctx: SyncContext, asset: str, rng: TimeRange) -> AssetReport:
    """Fetch pages, blog posts, comments or attachments modified in `rng` and store them."""
    report = AssetReport(asset, windows=rng.keys)
    run_id = uuid.uuid4().hex[:12]
    with _Measure(ctx, report), ctx.warehouse() as wh:
        since, until = _fetch_bounds(ctx, wh, asset, rng)
        report.since = since
        whole_windows = set() if since > rng.start else set(rng.keys)
        clean_stale_staging(ctx.data_dir / "lake")
        lake = LakeWriter(ctx.data_dir / "lake", asset, run_id, whole_windows)
        try:
            with wh.transaction():
                writer = _Writer(wh, lake, asset, report)
                downloads: list[dict[str, Any]] = []
                for listing in LISTINGS[asset]:
                    batches = _space_batches(ctx, wh) if listing.per_space else [None]
                    for batch in batches:
                        try:
                            for item in listing.fetch(ctx.client, batch):
                                modified = item.version.created_at if item.version else None
                                if modified is None or modified >= until:
                                    continue
                                if modified < since:
                                    break
                                row = listing.to_row(item, ctx.windows, ctx.now, ctx.site_url)
                                writer.add(row)
                                if asset == "attachments":
                                    downloads.append(row)
                        except PermissionDenied as exc:
                            report.failures.append(f"spaces {batch}: {exc}")
                    writer.flush()
                    report.deleted += _sync_trash(ctx, wh, listing, writer, report)
                if asset == "attachments":
                    _download(ctx, wh, downloads, report)
                report.out_of_scope = apply_scope(wh, ctx.settings.filters, ctx.tz).get(asset, 0)
                if asset == "pages":
                    refresh_tree(wh)
                    report.out_of_scope = apply_scope(wh, ctx.settings.filters, ctx.tz)["pages"]
                wh.set_state(f"failures:{asset}", report.failures)
                if rng.includes_now(ctx.now) and not report.failures:
                    wh.set_state(f"watermark:{asset}", ctx.now.isoformat())
        except BaseException:
            lake.abort()
            raise
        lake.commit()
    return report


def _sync_trash(ctx: SyncContext, wh: Warehouse, listing: Listing, writer: _Writer, report: AssetReport) -> int:
    """Trashed items (status and deleted_at), restores and purges of what was in the trash."""
    if listing.trashed is None:
        return 0
    table = listing.table
    trashed = [listing.to_row(item, ctx.windows, ctx.now, ctx.site_url) for item in listing.trashed(ctx.client)]
    trashed_ids = {row["id"] for row in trashed}
    known_trashed = wh.ids(table, "status = 'trashed'")
    for row in trashed:
        row["deleted_at"] = ctx.now
    if trashed:
        report.counts += wh.upsert(table, trashed)
        # keep the first time it was seen in the trash
        wh.run(f"UPDATE {table} SET deleted_at = least(deleted_at, ?) WHERE id IN (SELECT unnest(?))",
                       [ctx.now, list(trashed_ids)])
    left = sorted(known_trashed - trashed_ids)
    deleted = len(trashed_ids - known_trashed)
    if left:
        found = {}
        if listing.by_ids is not None:
            found = {item.id: item for item in listing.by_ids(ctx.client, left)}
        restored = [listing.to_row(item, ctx.windows, ctx.now, ctx.site_url) for item in found.values()]
        if restored:
            wh.run(f"UPDATE {table} SET deleted_at = NULL WHERE id IN (SELECT unnest(?))",
                           [[r["id"] for r in restored]])
            report.counts += wh.upsert(table, restored)
        purged = [i for i in left if i not in found]
        deleted += _mark_purged(ctx, wh, table, purged)
    return deleted


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


def _download(ctx: SyncContext, wh: Warehouse, rows: list[dict[str, Any]], report: AssetReport) -> None:
    """Save new and changed attachments' bytes as data/attachments/<id> (never by file name)."""
    folder = ctx.data_dir / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    stored = {r[0]: r[1] for r in wh.con.execute(
        "SELECT id, downloaded_version FROM attachments WHERE id IN (SELECT unnest(?))",
        [[row["id"] for row in rows]]).fetchall()}
    for row in rows:
        dest = folder / row["id"]
        if not row.get("container_id") or (stored.get(row["id"]) == row["version"] and dest.exists()):
            continue
        try:
            ctx.client.download_attachment(row["container_id"], row["id"], dest, version=row["version"])
        except ConfluenceError as exc:
            report.failures.append(f"attachment {row['id']}: {exc}")
            continue
        wh.run("UPDATE attachments SET local_path = ?, downloaded_version = ? WHERE id = ?",
                       [str(dest), row["version"], row["id"]])


# -- folders and labels (CQL) -------------------------------------------------------------------------

FOLDER_EXPAND = ("version", "space", "ancestors", "history")


def sync_folders(ctx: SyncContext, rng: TimeRange) -> AssetReport:
    report = AssetReport("folders", windows=rng.keys)
    run_id = uuid.uuid4().hex[:12]
    with _Measure(ctx, report), ctx.warehouse() as wh:
        since, until = _fetch_bounds(ctx, wh, "folders", rng)
        report.since = since
        lake = LakeWriter(ctx.data_dir / "lake", "folders", run_id, set() if since > rng.start else set(rng.keys))
        cql = "type = folder"
        if since > datetime(2000, 1, 1, tzinfo=timezone.utc):
            cql += f' and lastmodified >= "{cql_date(since - CQL_OVERLAP, timezone.utc)}"'
        try:
            with wh.transaction():
                writer = _Writer(wh, lake, "folders", report)
                for content in ctx.client.search_content(cql, expand=FOLDER_EXPAND, limit=250):
                    row = R.folder_row(content, ctx.windows, ctx.now, ctx.site_url)
                    if row["modified_at"] and since <= row["modified_at"] < until:
                        writer.add(row)
                writer.flush()
                refresh_tree(wh)
                report.out_of_scope = apply_scope(wh, ctx.settings.filters, ctx.tz)["folders"]
                if rng.includes_now(ctx.now):
                    wh.set_state("watermark:folders", ctx.now.isoformat())
        except BaseException:
            lake.abort()
            raise
        lake.commit()
    return report


def sync_labels(ctx: SyncContext, rng: TimeRange) -> AssetReport:
    """Labels of the pages and blog posts stored for the range (250 items per CQL call)."""
    report = AssetReport("labels", windows=rng.keys)
    with _Measure(ctx, report), ctx.warehouse() as wh:
        since, until = _fetch_bounds(ctx, wh, "labels", rng)
        report.since = since
        ids = sorted(wh.ids("pages", "modified_at >= ? AND modified_at < ? AND deleted_at IS NULL", [since, until])
                     | wh.ids("blogposts", "modified_at >= ? AND modified_at < ? AND deleted_at IS NULL",
                              [since, until]), key=int)
        windows = dict(wh.con.execute(
            "SELECT id, window_key FROM pages WHERE id IN (SELECT unnest(?)) UNION ALL "
            "SELECT id, window_key FROM blogposts WHERE id IN (SELECT unnest(?))", [ids, ids]).fetchall())
        rows: list[dict[str, Any]] = []
        for start in range(0, len(ids), 250):
            batch = ids[start:start + 250]
            for content in ctx.client.search_content(f"id in ({','.join(batch)})", expand=("metadata.labels",),
                                                     limit=250):
                rows.extend(R.label_rows(content, ctx.now, windows.get(content.id)))
        report.fetched = len(rows)
        with wh.transaction():
            # an item's label set is replaced whole: labels removed from it disappear
            old = set(wh.con.execute("SELECT content_id, label_id FROM labels WHERE content_id IN (SELECT unnest(?))",
                                     [ids]).fetchall())
            new = {(r["content_id"], r["label_id"]) for r in rows}
            wh.run("DELETE FROM labels WHERE content_id IN (SELECT unnest(?))", [ids])
            wh.upsert("labels", rows)
            report.counts = WriteCounts(inserted=len(new - old), unchanged=len(new & old))
            report.deleted = len(old - new)
            if rng.includes_now(ctx.now):
                wh.set_state("watermark:labels", ctx.now.isoformat())
    return report


# -- reconciliation --------------------------------------------------------------------------------------

def reconcile(ctx: SyncContext) -> AssetReport:
    """List every id (no bodies) and mark stored items that no longer exist as purged."""
    report = AssetReport("reconcile")
    with _Measure(ctx, report), ctx.warehouse() as wh:
        listings: dict[str, Iterable[Any]] = {
            "pages": ctx.client.pages(status=["current", "archived", "trashed"]),
            "blogposts": ctx.client.blogposts(status=["current", "trashed"]),
            "attachments": ctx.client.attachments(status=["current", "archived", "trashed"]),
            "comments": _chain(ctx.client.footer_comments(), ctx.client.inline_comments()),
            "folders": (c for c in ctx.client.search_content("type = folder", limit=250)),
        }
        with wh.transaction():
            for table, items in listings.items():
                seen = {item.id for item in items}
                report.fetched += len(seen)
                missing = sorted(wh.ids(table, "status NOT IN ('purged')") - seen)
                if table == "comments":  # the global comment lists show current comments only
                    missing = sorted(wh.ids(table, "status = 'current'") - seen)
                report.deleted += _mark_purged(ctx, wh, table, missing)
    return report


def _chain(*iterables: Iterable[Any]) -> Iterator[Any]:
    for iterable in iterables:
        yield from iterable
