"""Deletions of pages, blog posts and attachments. They never come from timestamps: the trash
is listed when due and items stored as trashed that left it are checked again (found again
means restored, gone means purged); a CQL count of live items per batch of spaces reveals
purges never seen in the trash. Purged rows are kept, marked."""

from __future__ import annotations

from ..storage.warehouse import Warehouse
from . import audit
from .listings import Listing, cql_space_clauses, ids_listing, list_by_space, space_batches
from .step import AssetReport, SyncContext


def trash_due(ctx: SyncContext, wh: Warehouse, asset: str, records: list[audit.AuditRecord] | None,
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
    for batch in space_batches(ctx, wh):
        where, params = "status IN (SELECT unnest(?))", [statuses]
        if batch is not None:
            where, params = where + " AND space_id IN (SELECT unnest(?))", [statuses, batch]
        live = report.live_counted.get(repr((where, params)))
        if live is None or live != wh.count(asset, where, params):
            return True
    return False


def sync_trash(ctx: SyncContext, wh: Warehouse, listing: Listing, report: AssetReport) -> int:
    """Trashed items (status and deleted_at), restores and purges of what was in the trash."""
    if listing.trashed is None:
        return 0
    table = listing.table
    failures = len(report.failures)
    trashed = [listing.to_row(item, ctx.windows, ctx.now, ctx.site_url)
               for item in list_by_space(ctx, wh, listing, listing.trashed, report)]
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
        deleted += mark_purged(ctx, wh, table, purged)
    return deleted


# The CQL type and the statuses its v2 listing shows, of the content whose purges a count can reveal.
_COUNTED = {"pages": ("page", ["current", "archived"]), "blogposts": ("blogpost", ["current"])}


def purged_unseen(ctx: SyncContext, wh: Warehouse, listing: Listing, report: AssetReport) -> int:
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
    for batch, clause in zip(space_batches(ctx, wh), cql_space_clauses(ctx, wh)):
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
        listed = {item.id for item in ids_listing(ctx.client, listing.table, batch, statuses)}
        missing = sorted(wh.ids(listing.table, where, params) - listed)
        if missing:
            # trashed is not purged: the trash keeps the item (restorable, with its comments and attachments)
            found = {item.id for item in ids_listing(ctx.client, listing.table, None, [*statuses, "trashed"],
                                                     ids=missing)}
            purged += mark_purged(ctx, wh, listing.table, [i for i in missing if i not in found])
    return purged


def mark_purged(ctx: SyncContext, wh: Warehouse, table: str, ids: list[str]) -> int:
    """Purged content keeps its row (status 'purged', deleted_at); attachment bytes are removed."""
    if not ids:
        return 0
    count = wh.mark(table, ids, status="purged")
    wh.run(f"UPDATE {table} SET deleted_at = coalesce(deleted_at, ?) WHERE id IN (SELECT unnest(?))",
                   [ctx.now, ids])
    if table in ("pages", "blogposts"):
        for child in ("comments", "attachments"):
            dependants = sorted(wh.ids(child, "container_id IN (SELECT unnest(?)) AND status <> 'purged'", [ids]))
            mark_purged(ctx, wh, child, dependants)
    if table == "attachments":
        for attachment_id in ids:
            (ctx.data_dir / "attachments" / attachment_id).unlink(missing_ok=True)
    return count
