"""The stored page tree kept whole and in place: pages and folders above stored ones, and
those whose place changed without a new version, read again by id in bulk."""

from __future__ import annotations

from ..storage.derived import built_from, set_built
from ..storage.warehouse import Warehouse, WriteCounts
from . import rows as R
from .listings import folders_by_ids
from .scope import refresh_tree
from .step import SyncContext

TREE_TABLES = ("pages", "folders")


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


def mend_tree(ctx: SyncContext, wh: Warehouse, table: str) -> WriteCounts:
    """Keep the stored page tree whole and in place, then recompute breadcrumbs.

    Breadcrumbs and "under page X" need every page and folder above a stored one, even those
    the date filters leave out or whose window was not synced: they are read by id (in bulk).
    And Confluence lifts the children of a trashed page or folder to its parent, and takes the
    descendants of a page moved to another space along, without new versions, so no listing
    by modification date shows them: they are read again by id too. The pages asset reads pages
    only (the folders asset, after it, reads both). Returns what it wrote to `table`.
    """
    return _mend(ctx, wh, ("page",) if table == "pages" else ("page", "folder"))[0][table]


def keep_tree(ctx: SyncContext, wh: Warehouse, read_from: int, wrote: bool) -> WriteCounts:
    """The folders step's mend, over pages and folders: what the pages step changed in the tree
    (pages moved or trashed without a new version move folders along) it finds. Skipped when this
    step `wrote` neither table and neither changed since the last mend that left no gap (one that
    did, as a parent the account cannot read, is tried again every run). `read_from` is the
    snapshot the step's transaction started from."""
    if not wrote and built_from(wh, "tree", TREE_TABLES, "") is not None:
        return WriteCounts()
    counts, whole = _mend(ctx, wh, ("page", "folder"))
    if whole:
        set_built(wh, "tree", read_from, "")
    return counts["folders"]


def _mend(ctx: SyncContext, wh: Warehouse, types: tuple[str, ...]) -> tuple[dict[str, WriteCounts], bool]:
    """What the mend wrote to each table, and whether it left the tree without gaps."""
    counts = {"pages": WriteCounts(), "folders": WriteCounts()}
    tried: set[str] = set()
    while True:
        refresh_tree(wh)
        gaps = [(node_id, type_) for node_id, type_ in wh.run(_TREE_GAPS) if type_ in types]
        wanted = [(node_id, type_) for node_id, type_ in gaps if node_id not in tried]
        if not wanted:
            return counts, not gaps
        tried.update(node_id for node_id, _ in wanted)
        pages = [node_id for node_id, type_ in wanted if type_ == "page"]
        folders = [node_id for node_id, type_ in wanted if type_ == "folder"]
        if pages:
            items = ctx.client.pages(ids=pages, status=["current", "archived"], body_format="storage")
            counts["pages"] += wh.upsert("pages", [R.page_row(item, ctx.windows, ctx.now, ctx.site_url)
                                                   for item in items])
        if folders:
            counts["folders"] += wh.upsert("folders", [R.folder_row(item, ctx.windows, ctx.now, ctx.site_url)
                                                       for item in folders_by_ids(ctx, folders)])
