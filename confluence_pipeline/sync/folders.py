"""The folders asset. Folders have no v2 listing and come from CQL, read with a day of overlap
(CQL dates are in the caller's unknown time zone) and then filtered exactly."""

from __future__ import annotations

from datetime import timezone

from ..confluence.cql import cql_date
from ..storage.derived import read_snapshot
from . import rows as R
from .listings import CQL_OVERLAP, FOLDER_EXPAND, cql_space_clauses, search_content
from .staging import StagedWriter
from .step import AssetReport, SyncContext, measured_step, rescope
from .tree import keep_tree
from .watermark import advance_watermark, fetch_bounds
from .windows import EPOCH, TimeRange


def sync_folders(ctx: SyncContext, rng: TimeRange) -> AssetReport:
    report = AssetReport("folders", windows=rng.keys)
    with measured_step(ctx, report) as wh:
        since, until = fetch_bounds(ctx, wh, "folders", rng)
        report.since = since
        cql = "type = folder"
        if since > EPOCH:
            cql += f' and lastmodified >= "{cql_date(since - CQL_OVERLAP, timezone.utc)}"'
        writer = StagedWriter(ctx, wh, "folders", report)
        for space_clause in cql_space_clauses(ctx, wh):
            for content in search_content(ctx, cql + space_clause, FOLDER_EXPAND):
                row = R.folder_row(content, ctx.windows, ctx.now, ctx.site_url)
                if row["modified_at"] and since <= row["modified_at"] < until:
                    writer.add(row)
        with wh.transaction():
            read_from = read_snapshot(wh)
            writer.merge()
            wrote = bool(report.counts.inserted or report.counts.updated)
            report.counts += keep_tree(ctx, wh, read_from, wrote)
            report.out_of_scope = rescope(ctx, wh, report, "folders")
            if rng.includes_now(ctx.now):
                advance_watermark(ctx, wh, "folders", since)
    return report
