"""Reconciliation: every id listed, to catch purges that skipped the trash's listing, folders
put in the trash (CQL never shows the trash) and comments trashed before the first sync; and
every label read again. Run by the demo and the reconciliation schedule."""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from ..confluence.errors import NotFound, PermissionDenied
from ..storage.warehouse import Warehouse
from . import rows as R
from .comment_deletions import comment_fates, mark_comments_trashed
from .labels import labels_follow_content, replace_labels
from .listings import search_content
from .scope import apply_scope
from .step import AssetReport, SyncContext, measured_step
from .trash import mark_purged
from .tree import mend_tree


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
            "folders": search_content(ctx, "type = folder", ()),
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
                report.deleted += mark_purged(ctx, wh, table, missing)
            mend_tree(ctx, wh, "folders")
            # what it stored (trashed comments, pages and folders the mend read by id) is scoped like the rest
            apply_scope(wh, ctx.settings.filters, ctx.tz)
            # adding or removing a label makes no new version, so only a full re-read sees it
            live = sorted(wh.ids("pages", "deleted_at IS NULL") | wh.ids("blogposts", "deleted_at IS NULL"), key=int)
            labels = AssetReport("labels")
            replace_labels(ctx, wh, live, labels)
            report.counts += labels.counts
            labels_follow_content(wh)
    return report


def _reconcile_comments(ctx: SyncContext, wh: Warehouse, seen: set[str]) -> int:
    """Comments set against the site, `seen` being the current ones the site-wide lists show:
    stored comments not listed are looked for by `comment_fates` (trashed, or purged). The first
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
    fates = comment_fates(ctx, wh, sorted(stored - seen - trashed_ids))
    trashed_ids |= {i for i, fate in fates.items() if fate == "trashed"}
    mark_comments_trashed(ctx, wh, sorted(trashed_ids))
    return (len(trashed_ids - known_trashed)
            + mark_purged(ctx, wh, "comments", [i for i, fate in fates.items() if fate == "purged"]))


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


def _chain(*iterables: Iterable[Any]) -> Iterator[Any]:
    for iterable in iterables:
        yield from iterable
