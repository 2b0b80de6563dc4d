"""Deletions of comments. Comments have no site-wide trash listing: a CQL count per batch of
spaces tells when some left or came back, and only then are they looked for."""

from __future__ import annotations

from ..confluence.errors import NotFound, PermissionDenied
from ..storage.warehouse import Warehouse
from .listings import cql_space_clauses, search_content, space_batches
from .step import SyncContext
from .trash import mark_purged


# Comments stored under a page or blog post stored live, with the container's space: CQL counts
# and lists comments whose container is current or archived, so these are what it can be set against.
_COMMENTS_UNDER_LIVE = """
    SELECT c.id, c.status FROM comments c
    JOIN (SELECT id, space_id FROM pages WHERE status IN ('current', 'archived')
          UNION ALL SELECT id, space_id FROM blogposts WHERE status = 'current') k ON k.id = c.container_id
    WHERE c.status IN ('current', 'trashed') AND (? OR k.space_id IN (SELECT unnest(?::VARCHAR[])))"""


def comments_deleted(ctx: SyncContext, wh: Warehouse) -> int:
    """Comments trashed, restored or purged. The site-wide comment lists show current comments
    only, so per batch of spaces one CQL count of live comments is set against the comments
    stored current; only where they differ are the ids listed (CQL, no bodies): stored current
    ones not listed are trashed or purged (`comment_fates` tells which), stored trashed ones
    listed were restored. A trashed comment purged later changes no count: reconciliation marks
    it. Under `filters.modified.after` the ids are always listed, as for pages."""
    by_date = ctx.settings.filters.modified.after is not None
    deleted = 0
    for batch, clause in zip(space_batches(ctx, wh), cql_space_clauses(ctx, wh)):
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
        listed = {content.id for content in search_content(ctx, f"type = comment{clause}", ())}
        restored = sorted(i for i in listed if stored.get(i) == "trashed")
        wh.run("UPDATE comments SET status = 'current', deleted_at = NULL WHERE id IN (SELECT unnest(?))",
               [restored])
        fates = comment_fates(ctx, wh, sorted(current - listed))
        deleted += mark_comments_trashed(ctx, wh, [i for i, fate in fates.items() if fate == "trashed"])
        deleted += mark_purged(ctx, wh, "comments", [i for i, fate in fates.items() if fate == "purged"])
    return deleted


def comment_fates(ctx: SyncContext, wh: Warehouse, ids: list[str]) -> dict[str, str]:
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


def mark_comments_trashed(ctx: SyncContext, wh: Warehouse, ids: list[str]) -> int:
    """Comments found in the trash: status 'trashed'; the first time they were seen there is kept."""
    if not ids:
        return 0
    wh.run("UPDATE comments SET status = 'trashed', deleted_at = coalesce(deleted_at, ?) "
           "WHERE id IN (SELECT unnest(?))", [ctx.now, ids])
    return len(ids)
