"""The labels asset: the labels of the pages and blog posts of a range, read with one CQL call
per 250 items (`expand=content.metadata.labels`), each item's label set replaced whole."""

from __future__ import annotations

from typing import Iterator

from ..confluence.models import ContentV1
from ..storage.warehouse import Warehouse, WriteCounts
from . import rows as R
from .listings import read_ahead, search_content
from .staging import FLUSH_ROWS
from .step import AssetReport, SyncContext, measured_step
from .watermark import advance_watermark, fetch_bounds
from .windows import TimeRange

LABELS_EXPAND = ("content.metadata.labels",)


def sync_labels(ctx: SyncContext, rng: TimeRange) -> AssetReport:
    """Labels of the pages and blog posts stored for the range (250 items per CQL call)."""
    report = AssetReport("labels", windows=rng.keys)
    with measured_step(ctx, report) as wh:
        since, until = fetch_bounds(ctx, wh, "labels", rng)
        report.since = since
        ids = sorted(wh.ids("pages", "modified_at >= ? AND modified_at < ? AND deleted_at IS NULL", [since, until])
                     | wh.ids("blogposts", "modified_at >= ? AND modified_at < ? AND deleted_at IS NULL",
                              [since, until]), key=int)
        with wh.transaction():
            replace_labels(ctx, wh, ids, report)
            labels_follow_content(wh)
            if rng.includes_now(ctx.now):
                advance_watermark(ctx, wh, "labels", since)
    return report


def replace_labels(ctx: SyncContext, wh: Warehouse, ids: list[str], report: AssetReport) -> None:
    """Read the labels of `ids` (250 per CQL call) and replace each item's label set whole, so
    labels removed from an item disappear. Written every FLUSH_ROWS items: memory stays flat.
    The calls go one at a time, each sent while this thread writes what the one before found."""

    def found() -> Iterator[tuple[int, ContentV1 | None]]:  # (batch start, content); None ends a batch
        for start in range(0, len(ids), FLUSH_ROWS):
            for call in range(start, min(start + FLUSH_ROWS, len(ids)), 250):
                for content in search_content(ctx, f"id in ({','.join(ids[call:call + 250])})", LABELS_EXPAND):
                    yield start, content
            yield start, None

    contents: list[ContentV1] = []
    for start, content in read_ahead(found()):
        if content is not None:
            contents.append(content)
            continue
        batch = ids[start:start + FLUSH_ROWS]
        windows = dict(wh.run("SELECT id, window_key FROM pages WHERE id IN (SELECT unnest(?)) UNION ALL "
                              "SELECT id, window_key FROM blogposts WHERE id IN (SELECT unnest(?))", [batch, batch]))
        rows = [row for c in contents for row in R.label_rows(c, ctx.now, windows.get(c.id))]
        contents = []
        report.fetched += len(rows)
        old = set(wh.run("SELECT content_id, label_id FROM labels WHERE content_id IN (SELECT unnest(?))", [batch]))
        new = {(r["content_id"], r["label_id"]) for r in rows}
        wh.run("DELETE FROM labels WHERE content_id IN (SELECT unnest(?))", [batch])
        wh.upsert("labels", rows)
        report.counts += WriteCounts(inserted=len(new - old), unchanged=len(new & old))
        report.deleted += len(old - new)


def labels_follow_content(wh: Warehouse) -> None:
    """A label row is deleted while its page or blog post is (trashed or purged), and back with it."""
    wh.run("""UPDATE labels SET deleted_at = c.deleted_at
              FROM (SELECT id, deleted_at FROM pages UNION ALL SELECT id, deleted_at FROM blogposts) c
              WHERE c.id = labels.content_id AND labels.deleted_at IS DISTINCT FROM c.deleted_at""")
