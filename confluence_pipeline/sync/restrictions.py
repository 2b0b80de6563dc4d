"""The content_restrictions asset: who may read and update each page, blog post and folder.

Restrictions change without a new content version, so a run reads the restrictions of the items
stored (fetched by a content sync) since their restrictions were last read, of items whose last
read failed, and of items named by restriction changes in the audit log since the last run (when
the account may read it). A full pass reads every item: on demand (`full_pass`), and by itself
when the last one is older than `FULL_PASS_EVERY`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..confluence.directory import RESTRICTION_BATCH, RESTRICTION_EXPAND
from ..confluence.models import ContentRestriction, ContentV1
from ..storage.warehouse import Warehouse
from . import audit
from .directory import SKIPPABLE, DirectoryReport, record_reads, replace_rows
from .step import SyncContext, measured_step

FULL_PASS_EVERY = audit.FULL_PASS_EVERY
SEARCH_RESTRICTION_EXPAND = tuple(f"content.{e}" for e in RESTRICTION_EXPAND)
PER_ITEM_LIMIT = 100  # principals per list in GET /content/{id}/restriction (its default limit)
RESTRICTABLE = ("pages", "blogposts", "folders")


@dataclass
class RestrictionRead:
    """What a restriction read found: principals per item, and the items it could not read."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # content id -> principal rows
    failed: dict[str, str] = field(default_factory=dict)


def _principal_rows(content_id: str, content_type: str, restriction: ContentRestriction,
                    now: datetime) -> list[dict[str, Any]]:
    base = {"content_id": content_id, "content_type": content_type, "operation": restriction.operation,
            "synced_at": now}
    rows = [{**base, "principal_type": "user", "principal_id": u.account_id,
             "principal_name": u.display_name or u.public_name} for u in restriction.users if u.account_id]
    rows += [{**base, "principal_type": "group", "principal_id": g.id, "principal_name": g.name}
             for g in restriction.groups]
    return rows


def _truncated(restriction: ContentRestriction, default_limit: int) -> bool:
    """Whether a list may hold more principals than it shows (a full page of them)."""
    for listing in (restriction.restrictions.user, restriction.restrictions.group):
        if listing is not None and len(listing.results) >= (listing.limit or default_limit):
            return True
    return False


def read_restrictions(ctx: SyncContext, items: dict[str, str], now: datetime) -> RestrictionRead:
    """Read and update restrictions of `items` (content id -> type): batched CQL first, then one
    item at a time for what the batch could not show."""
    found = RestrictionRead()
    ids = sorted(items, key=lambda i: (len(i), i))
    single: list[str] = []
    for start in range(0, len(ids), RESTRICTION_BATCH):
        batch = ids[start:start + RESTRICTION_BATCH]
        seen: set[str] = set()
        hits = ctx.client.search(f"id in ({','.join(batch)})", expand=SEARCH_RESTRICTION_EXPAND,
                                 limit=RESTRICTION_BATCH, include_archived_spaces=True,
                                 content_statuses=("current", "archived"))
        for hit in hits:
            content: ContentV1 | None = hit.content
            if content is None or content.id not in items or content.restrictions is None:
                continue
            by_op = [content.restrictions.read, content.restrictions.update]
            if any(r is None or _truncated(r, 200) for r in by_op):
                continue  # read alone, below
            seen.add(content.id)
            found.rows[content.id] = [row for r in by_op for row in _principal_rows(content.id, items[content.id],
                                                                                    r, now)]
        single += [i for i in batch if i not in seen]
    for content_id in single:
        try:
            restrictions = ctx.client.restrictions(content_id)
            full = []
            for restriction in restrictions:
                if _truncated(restriction, PER_ITEM_LIMIT):
                    restriction = ctx.client.restriction(content_id, restriction.operation)
                full.append(restriction)
        except SKIPPABLE as exc:
            found.failed[content_id] = str(exc)
            continue
        if {r.operation for r in full} != {"read", "update"}:
            found.failed[content_id] = f"the restriction read of {content_id} did not list both operations"
            continue
        found.rows[content_id] = [row for r in full for row in _principal_rows(content_id, items[content_id], r, now)]
    return found


def _calls_by_kind(ctx: SyncContext) -> dict[str, int]:
    """Restriction reads made so far: batched (CQL search) and one item at a time."""
    by_operation = ctx.client.stats()["by_operation"]

    def calls(*names: str) -> int:
        return sum(by_operation.get(name, {}).get("calls", 0) for name in names)

    return {"batched": calls("searchByCQL"), "single": calls("getRestrictions", "getRestrictionsForOperation")}


def _live_items(wh: Warehouse, where: str = "TRUE", params: list | None = None) -> dict[str, str]:
    """Stored pages, blog posts and folders (not trashed or purged) matching `where`: id -> type."""
    out: dict[str, str] = {}
    for table in RESTRICTABLE:
        type_ = table.rstrip("s")
        for (content_id,) in wh.run(f"SELECT t.id FROM {table} t WHERE t.deleted_at IS NULL AND ({where})",
                                    list(params or [])):
            out[content_id] = type_
    return out


def _audit_hints(wh: Warehouse, report: DirectoryReport) -> dict[str, str] | None:
    """Items whose restrictions the audit log says changed since the last run (matched by title,
    all an audit record names); None when the audit log is not readable or does not cover the
    time since (then restriction-only changes wait for the full pass)."""
    records = audit.since_last(wh, "content_restrictions")
    if records is None:
        report.extra["audit_hints"] = ("unavailable (the audit log is not readable, or does not cover the time "
                                       "since the last read): restriction-only changes wait for the full pass")
        return None
    titles = sorted({r.name for r in records if r.name and "restriction" in f"{r.summary} {r.category}".lower()})
    if not titles:
        return {}
    return _live_items(wh, "t.title IN (SELECT unnest(?::VARCHAR[]))", [titles])


# Items stored (fetched) since their restrictions were last read, or never read successfully.
_UNREAD = """NOT EXISTS (SELECT 1 FROM directory_reads r WHERE r.kind = 'restrictions' AND r.id = t.id AND r.ok
                          AND r.read_at >= t.synced_at)"""


def sync_restrictions(ctx: SyncContext, *, full_pass: bool = False) -> DirectoryReport:
    """Read and update restrictions of the pages, blog posts and folders synced since their last
    read, of those the audit log names, or of all of them in a full pass (module docstring)."""
    report = DirectoryReport("content_restrictions")
    with measured_step(ctx, report) as wh:
        last_full = wh.get_state("restrictions:full_pass_at")
        full = full_pass or not last_full or ctx.now - datetime.fromisoformat(last_full) >= FULL_PASS_EVERY
        hinted: dict[str, str] | None = {}
        if full:
            items = _live_items(wh)
        else:
            items = _live_items(wh, _UNREAD)
            hinted = _audit_hints(wh, report)
            items.update(hinted or {})
        calls_before = _calls_by_kind(ctx)
        read = read_restrictions(ctx, items, ctx.now)
        calls = {kind: n - calls_before[kind] for kind, n in _calls_by_kind(ctx).items()}
        rows = [row for item_rows in read.rows.values() for row in item_rows]
        report.fetched = len(read.rows) + len(read.failed)
        report.failures += [f"{items[i]} {i}: {detail}" for i, detail in sorted(read.failed.items())]
        with wh.transaction():
            report.counts, report.deleted = replace_rows(wh, "content_restrictions", "content_id",
                                                         sorted(read.rows), rows)
            record_reads(wh, "restrictions", read.rows, read.failed, ctx.now)
            if full:
                wh.set_state("restrictions:full_pass_at", ctx.now.isoformat())
            audit.consumed(wh, "content_restrictions")
            wh.set_state("failures:content_restrictions", report.failures)
        restricted = sum(1 for item_rows in read.rows.values() if any(r["operation"] == "read" for r in item_rows))
        report.extra.update(full_pass=full, items_read=len(read.rows), items_failed=len(read.failed),
                            items_from_audit=len(hinted or {}), read_restricted_items=restricted,
                            batched_calls=calls["batched"], single_item_calls=calls["single"])
    return report
