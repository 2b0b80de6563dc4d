"""The audit_log asset: the audit records of a range of days, stored once each. What the
records say changed is read by the other steps through `sync.audit`."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from ..confluence.errors import PermissionDenied
from ..confluence.models import AuditRecord
from . import audit
from .directory import DirectoryReport, replace_rows
from .step import SyncContext, measured_step
from .windows import TimeRange


def audit_id(record: AuditRecord) -> str:
    """Audit records have no id: the hash of everything they say stands in for one, so a record
    read twice (overlapping reads, pages shifted by new records) is stored once."""
    payload = record.model_dump(mode="json", by_alias=True, exclude_none=True)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]


def audit_row(record: AuditRecord, window_key: str, now: datetime) -> dict[str, Any]:
    author = record.author
    affected = record.affected_object
    return {"id": audit_id(record), "created_at": record.creation_date,
            "author_id": author.account_id if author else None,
            "author_name": author.display_name if author else None,
            "summary": record.summary, "description": record.description, "category": record.category,
            "remote_address": record.remote_address,
            "affected_name": affected.name if affected else None,
            "affected_type": affected.object_type if affected else None,
            "associated_objects": json.dumps([o.model_dump(by_alias=True) for o in record.associated_objects]),
            "changed_values": json.dumps([c.model_dump(by_alias=True) for c in record.changed_values]),
            "sys_admin": record.sys_admin, "super_admin": record.super_admin,
            "window_key": window_key, "synced_at": now}


def sync_audit(ctx: SyncContext, rng: TimeRange) -> DirectoryReport:
    """Audit records of `rng`'s days (by event time), whole days each run. A site or account
    without audit access (403) is reported, and the asset succeeds with nothing written."""
    report = DirectoryReport("audit_log", windows=rng.keys)
    with measured_step(ctx, report) as wh:
        end = rng.end - timedelta(milliseconds=1)  # endDate is inclusive
        try:
            records = list(ctx.client.audit(start=rng.start, end=end))
        except PermissionDenied as exc:
            report.failures.append(f"audit log not readable: {exc}")
            report.extra = {"audit_access": False}
            with wh.transaction():
                wh.set_state("audit:access", {"ok": False, "detail": str(exc), "at": ctx.now.isoformat()})
                audit.note_unreadable(wh)
            return report
        rows = {}
        for record in records:
            row = audit_row(record, ctx.windows.key(record.creation_date), ctx.now)
            rows[row["id"]] = row
        report.fetched = len(records)
        with wh.transaction():
            report.counts, report.deleted = replace_rows(wh, "audit_log", "window_key", rng.keys, list(rows.values()))
            wh.set_state("audit:access", {"ok": True, "detail": "", "at": ctx.now.isoformat()})
            audit.note_read(wh, rng.start, min(rng.end, ctx.now))
        report.extra = {"audit_access": True, "duplicates_dropped": len(records) - len(rows)}
    return report
