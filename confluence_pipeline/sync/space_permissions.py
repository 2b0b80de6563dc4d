"""The space_permissions asset: the permission assignments of each stored space, read again
between full reads only for the spaces the audit log names and those not read yet."""

from __future__ import annotations

from typing import Any

from . import audit
from .directory import (SKIPPABLE, DirectoryReport, changes_since_last_read, record_reads,
                        replace_rows)
from .step import SyncContext, measured_step


_UNREAD_SPACES = """deleted_at IS NULL AND (key IN (SELECT unnest(?::VARCHAR[])) OR name IN (SELECT unnest(?::VARCHAR[]))
    OR id NOT IN (SELECT r.id FROM directory_reads r WHERE r.kind = 'space_permissions' AND r.ok))"""


def sync_space_permissions(ctx: SyncContext, *, full_pass: bool = False) -> DirectoryReport:
    """The permission assignments of each stored space (v2 /spaces/{id}/permissions): of every
    space in a full read, else of the spaces the audit log names (by key or name) since the last
    read and those never read or whose last read failed."""
    report = DirectoryReport("space_permissions")
    with measured_step(ctx, report) as wh:
        records = changes_since_last_read(ctx, wh, report, "space_permissions", full_pass)
        if records is None:
            space_ids = sorted(wh.ids("spaces", "deleted_at IS NULL"), key=lambda s: (len(s), s))
        else:
            named = sorted({r.name for r in records if r.about("space") and r.permission})
            space_ids = sorted(wh.ids("spaces", _UNREAD_SPACES, [named, named]), key=lambda s: (len(s), s))
        rows: list[dict[str, Any]] = []
        loaded: list[str] = []
        failed: dict[str, str] = {}
        for space_id in space_ids:
            try:
                permissions = list(ctx.client.space_permissions(space_id))
            except SKIPPABLE as exc:
                failed[space_id] = str(exc)
                report.failures.append(f"space {space_id}: {exc}")
                continue
            loaded.append(space_id)
            rows += [{"space_id": space_id, "id": p.id, "principal_type": p.principal.type.lower().replace("_", "-"),
                      "principal_id": p.principal.id, "operation": p.operation.key,
                      "target_type": p.operation.target_type, "synced_at": ctx.now} for p in permissions]
        report.fetched = len(rows)
        with wh.transaction():
            report.counts, report.deleted = replace_rows(wh, "space_permissions", "space_id", loaded, rows)
            record_reads(wh, "space_permissions", loaded, failed, ctx.now)
            wh.set_state("failures:space_permissions", report.failures)
            audit.read_done(wh, "space_permissions", ctx.now, records is None)
        report.extra.update(spaces_read=len(loaded), spaces_failed=len(failed))
    return report
