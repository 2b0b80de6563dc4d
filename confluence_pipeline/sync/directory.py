"""Directory sync: groups, their members, space permissions, content restrictions, users and the
audit log; everything the access model (`confluence_pipeline.access`) decides from.

Plain Python over a `ConfluenceClient` and the warehouse, like `sync.content`. Each asset has
its own module (`sync.groups`, `sync.space_permissions`, `sync.restrictions`, `sync.users`,
`sync.audit_log`); this one holds what they share: their report, how a step decides between a
full read and what the audit log names, and how what was read replaces what was stored.

What each read costs. Groups: one call per 200. Members: one call per group (and per 200
members). Space permissions: one call per space (and per 250 assignments). Restrictions: one
CQL search per 100 items, read and update principals expanded, archived spaces and archived
pages included (through `cqlcontext`); only items the batch could not show and principal lists
longer than an expansion shows are read one item at a time. Users: the v1 user search lists
everyone (up to 10,000), ids found anywhere else (authors, principals, members) join them, and
v2 users-bulk reads them all, 250 per call.

Between full reads (the reconciliation job, daily, or every run when the audit log cannot be
read) groups, members, space permissions and users re-read only what the audit log names since
their last read (`sync.audit`), so a run with nothing to do lists none of them. Restrictions
are read as `sync.restrictions` says.

Every read that fails is written to `directory_reads` (ok = FALSE) and reported; the access
model then denies whatever depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from ..confluence.errors import ApiError, NotFound, PermissionDenied
from ..storage.schema import TABLES
from ..storage.warehouse import Warehouse, WriteCounts
from . import audit
from .step import AssetReport, SyncContext

SKIPPABLE = (PermissionDenied, NotFound, ApiError)  # one object fails; the rest of the read goes on


@dataclass
class DirectoryReport(AssetReport):
    """An asset report with the figures particular to one directory asset."""

    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        base = {k: v for k, v in super().metadata().items()
                if k not in ("rows_out_of_scope", "fetched_since") and (k != "windows" or v)}
        return {**base, **self.extra}


def record_reads(wh: Warehouse, kind: str, ok: Iterable[str], failed: dict[str, str], now: datetime) -> None:
    rows = [{"kind": kind, "id": i, "ok": True, "detail": None, "read_at": now} for i in ok]
    rows += [{"kind": kind, "id": i, "ok": False, "detail": detail[:500], "read_at": now}
             for i, detail in failed.items()]
    wh.upsert("directory_reads", rows)


def replace_rows(wh: Warehouse, table: str, column: str, keys: list[str],
                 rows: list[dict[str, Any]]) -> tuple[WriteCounts, int]:
    """Rows of `table` whose `column` is one of `keys` become exactly `rows`; returns what was
    inserted or kept, and how many rows went away."""
    key = TABLES[table].key
    columns = ", ".join(f'"{c}"' for c in key)
    where = f'"{column}" IN (SELECT unnest(?::VARCHAR[]))'
    old = set(wh.run(f'SELECT {columns} FROM "{table}" WHERE {where}', [keys]))
    new = {tuple(row[c] for c in key) for row in rows}
    wh.run(f'DELETE FROM "{table}" WHERE {where}', [keys])
    wh.upsert(table, rows)
    return WriteCounts(inserted=len(new - old), unchanged=len(new & old)), len(old - new)


def changes_since_last_read(ctx: SyncContext, wh: Warehouse, report: DirectoryReport, asset: str,
                            full_pass: bool) -> list[audit.AuditRecord] | None:
    """The audit records since `asset` last read, or None when it re-reads everything (and why,
    in the step's metadata as `read`)."""
    if audit.full_read_due(wh, asset, ctx.now, full_pass):
        report.extra["read"] = "full (reconciliation or daily full pass)"
        return None
    records = audit.since_last(wh, asset)
    if records is None:
        report.extra["read"] = ("full: the audit log is not readable (Confluence Administrator, paid plan) or "
                                "does not cover the time since the last read")
        return None
    report.extra["read"] = f"what {len(records)} audit records since the last read name"
    return records
