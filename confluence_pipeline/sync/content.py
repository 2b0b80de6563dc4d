"""Content sync: fetch what changed in a range of modification windows and store it.

This module holds the step of pages, blog posts, comments and attachments (`sync_content`);
the other content assets have theirs beside it: `sync.spaces`, `sync.folders`, `sync.labels`,
and `sync.reconcile`.

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
date filters, or in windows not synced yet), are read by id in bulk: see `sync.tree`.

Deletions never come from timestamps. Each run lists `status=trashed` (pages, blog posts,
attachments) and re-checks items stored as trashed that left the trash: found again means
restored, gone means purged (`sync.trash`). Comments have no site-wide trash listing: a CQL
count per batch of spaces tells when some left or came back, and only then are they looked for
(`sync.comment_deletions`). `sync.reconcile` lists every id to catch purges that skipped the
trash's listing, folders put in the trash (CQL never shows the trash) and comments trashed
before the first sync, and is run by the demo and the reconciliation schedule.
"""


from __future__ import annotations

from datetime import datetime, timezone

from ..confluence.cql import cql_date
from ..storage.warehouse import Warehouse, WriteCounts
from . import audit
from .comment_deletions import comments_deleted
from .downloads import download_attachments
from .listings import CQL_OVERLAP, LISTINGS, Listing, cql_keys, list_by_space, search_content
from .staging import StagedWriter
from .step import AssetReport, SyncContext, measured_step, rescope, wrote
from .trash import purged_unseen, sync_trash, trash_due
from .tree import mend_tree
from .watermark import advance_watermark, fetch_bounds
from .windows import EPOCH, TimeRange


def sync_content(ctx: SyncContext, asset: str, rng: TimeRange) -> AssetReport:
    """Fetch pages, blog posts, comments or attachments modified in `rng` and store them."""
    report = AssetReport(asset, windows=rng.keys)
    with measured_step(ctx, report) as wh:
        since, until = fetch_bounds(ctx, wh, asset, rng)
        report.since = since
        writer = StagedWriter(ctx, wh, asset, report)
        for listing in LISTINGS[asset]:
            for item in list_by_space(ctx, wh, listing, listing.fetch, report, since, until):
                writer.add(listing.to_row(item, ctx.windows, ctx.now, ctx.site_url))
        trash_records = audit.since_last(wh, f"trash_{asset}")
        with wh.transaction():
            # first: an update after the merge's deletes and inserts in one transaction lost rows (DuckLake)
            for listing in LISTINGS[asset]:
                report.deleted += purged_unseen(ctx, wh, listing, report)
            writer.merge()
            list_trash = trash_due(ctx, wh, asset, trash_records, report)
            for listing in LISTINGS[asset]:
                report.counts += _moved_out(ctx, wh, listing, since, until, report)
                if list_trash:
                    report.deleted += sync_trash(ctx, wh, listing, report)
            if any(listing.trashed for listing in LISTINGS[asset]):
                audit.read_done(wh, f"trash_{asset}", ctx.now, list_trash)
            if asset == "pages":
                report.counts += mend_tree(ctx, wh, "pages") if wrote(report) else WriteCounts()
            report.out_of_scope = rescope(ctx, wh, report, asset)
            listed_all = not report.failures
            if asset == "attachments":
                download_attachments(ctx, wh, report)  # what it misses is tried again next run, watermark or not
            wh.set_state(f"failures:{asset}", report.failures)
            if rng.includes_now(ctx.now) and listed_all:
                advance_watermark(ctx, wh, asset, since)
        if asset == "comments" and not report.failures:
            with wh.transaction():  # its own: counts set against the lake need this run's comments merged
                report.deleted += comments_deleted(ctx, wh)
    return report


def _moved_out(ctx: SyncContext, wh: Warehouse, listing: Listing, since: datetime, until: datetime,
               report: AssetReport) -> WriteCounts:
    """Stored pages and blog posts moved into a space the space filter leaves out: the listings
    by space id no longer show them, so they are found here and read again by id (for
    `apply_scope` to mark them out of scope, and `mend_tree` to move their descendants along).

    A run from the beginning listed every space in scope up to `until`, so what it stores in
    scope from before then and did not see this run has left (or is in the trash, which
    `sync_trash` reads next). A run from a watermark asks CQL what changed outside the filter
    since then: one call while few did."""
    filters = ctx.settings.filters
    if listing.by_ids is None or not (filters.space_keys_in or filters.space_keys_not_in) or report.failures:
        return WriteCounts()
    table = listing.table
    if since <= EPOCH:
        candidates = wh.ids(table, "in_scope AND status IN ('current', 'archived') AND modified_at < ? "
                                   "AND synced_at <> ?", [until, ctx.now])
    else:
        outside = [f"space {op} ({cql_keys(keys)})"
                   for op, keys in (("in", filters.space_keys_not_in), ("not in", filters.space_keys_in)) if keys]
        cql = (f"type = {table.removesuffix('s')} and ({' or '.join(outside)})"
               f' and lastmodified >= "{cql_date(since - CQL_OVERLAP, timezone.utc)}"')
        changed = {content.id for content in search_content(ctx, cql, ())}
        candidates = wh.ids(table, "in_scope AND id IN (SELECT unnest(?::VARCHAR[]))", [sorted(changed)])
    if not candidates:
        return WriteCounts()
    items = listing.by_ids(ctx.client, sorted(candidates, key=int))
    return wh.upsert(table, [listing.to_row(item, ctx.windows, ctx.now, ctx.site_url) for item in items])
