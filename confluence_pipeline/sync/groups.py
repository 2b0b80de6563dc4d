"""The groups and group_members assets: every group of the site, and the members of each,
listed again between full reads only for what the audit log names."""

from __future__ import annotations

from typing import Any

from . import audit
from .directory import SKIPPABLE, DirectoryReport, changes_since_last_read, replace_rows
from .step import SyncContext, measured_step


# Group records that need the group list read again: any but a membership change of a known group.
def _membership(record: audit.AuditRecord) -> bool:
    summary = record.summary.lower()
    return "to group" in summary or "from group" in summary or "membership" in summary


def sync_groups(ctx: SyncContext, *, full_pass: bool = False) -> DirectoryReport:
    """Every group of the site; groups that are gone are marked deleted. An incremental run
    lists them only when the audit log names a group created, deleted or unknown."""
    report = DirectoryReport("groups")
    with measured_step(ctx, report) as wh:
        records = changes_since_last_read(ctx, wh, report, "groups", full_pass)
        if records is not None:
            known = {r[0] for r in wh.run("SELECT name FROM groups WHERE deleted_at IS NULL")}
            if not any(r.about("group") and (r.name not in known or not _membership(r)) for r in records):
                with wh.transaction():
                    audit.read_done(wh, "groups", ctx.now, False)
                report.extra["listed"] = False
                return report
        rows = [{"id": g.id, "name": g.name, "type": g.type, "usage_type": g.usage_type,
                 "managed_by": g.managed_by, "synced_at": ctx.now, "deleted_at": None}
                for g in ctx.client.groups()]
        report.fetched = len(rows)
        with wh.transaction():
            report.counts = wh.upsert("groups", rows)
            gone = wh.ids("groups", "deleted_at IS NULL") - {r["id"] for r in rows}
            report.deleted = wh.mark("groups", gone, deleted_at=ctx.now)
            audit.read_done(wh, "groups", ctx.now, records is None)
        report.extra["listed"] = True
    return report


def sync_group_members(ctx: SyncContext, *, full_pass: bool = False) -> DirectoryReport:
    """The members of each group, one listing per group: of every group in a full read, else of
    the groups the audit log names since the last read and those never read; a group whose
    listing fails grants nobody until it is read again (`groups.members_loaded`)."""
    report = DirectoryReport("group_members")
    with measured_step(ctx, report) as wh:
        records = changes_since_last_read(ctx, wh, report, "group_members", full_pass)
        if records is None:
            group_ids = sorted(wh.ids("groups", "deleted_at IS NULL"))
        else:
            named = sorted({r.name for r in records if r.about("group")})
            group_ids = sorted(wh.ids("groups", "deleted_at IS NULL AND (members_loaded IS NOT TRUE OR name IN "
                                                "(SELECT unnest(?::VARCHAR[])))", [named]))
        rows: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        failed: dict[str, str] = {}
        for group_id in group_ids:
            try:
                members = {m.account_id for m in ctx.client.group_members(group_id) if m.account_id}
            except SKIPPABLE as exc:
                failed[group_id] = str(exc)
                report.failures.append(f"group {group_id}: {exc}")
                continue
            counts[group_id] = len(members)
            rows += [{"group_id": group_id, "account_id": a, "synced_at": ctx.now} for a in sorted(members)]
        report.fetched = len(rows)
        loaded = sorted(counts)
        with wh.transaction():
            report.counts, report.deleted = replace_rows(wh, "group_members", "group_id", loaded, rows)
            wh.run("DELETE FROM group_members WHERE group_id IN (SELECT id FROM groups WHERE deleted_at IS NOT NULL)")
            wh.run("UPDATE groups SET members_loaded = FALSE WHERE id IN (SELECT unnest(?::VARCHAR[]))",
                   [sorted(failed)])
            wh.upsert("groups", [{"id": g, "members_loaded": True, "member_count": n} for g, n in counts.items()])
            wh.set_state("failures:group_members", report.failures)
            audit.read_done(wh, "group_members", ctx.now, records is None)
        report.extra.update(groups_read=len(loaded), groups_failed=len(failed))
    return report
