"""The spaces asset: every space the account can see, listed again only when due or when the
audit log names a space change."""

from __future__ import annotations

from . import audit
from . import rows as R
from .step import AssetReport, SyncContext, measured_step, rescope


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
                report.out_of_scope = rescope(ctx, wh, report, "spaces")  # the filters may have changed
                audit.read_done(wh, "spaces", ctx.now, False)
            return report
        rows = [R.space_row(s, ctx.site_url, ctx.now) for s in ctx.client.spaces(description_format="plain")]
        report.fetched = len(rows)
        with wh.transaction():
            report.counts = wh.upsert("spaces", rows)
            gone = wh.ids("spaces", "deleted_at IS NULL") - {r["id"] for r in rows}
            report.deleted = wh.mark("spaces", gone, status="deleted", deleted_at=ctx.now)
            report.out_of_scope = rescope(ctx, wh, report, "spaces")
            audit.read_done(wh, "spaces", ctx.now, records is None)
    return report
