"""Directory sync: groups, their members, space permissions, content restrictions, users and the
audit log; everything the access model (`confluence_pipeline.access`) decides from.

Plain Python over a `ConfluenceClient` and the warehouse, like `sync.content`.

What each read costs. Groups: one call per 200. Members: one call per group (and per 200
members). Space permissions: one call per space (and per 250 assignments). Restrictions: one
CQL search per 100 items, read and update principals expanded, archived spaces and archived
pages included (through `cqlcontext`); only items the batch could not show and principal lists
longer than an expansion shows are read one item at a time. Users: the v1 user search lists
everyone (up to 10,000), ids found anywhere else (authors, principals, members) join them, and
v2 users-bulk reads them all, 250 per call.

Between full reads (the reconciliation job, daily, or every run when the audit log cannot be
read) groups, members, space permissions and users re-read only what the audit log names since
their last read (`sync.audit`), so a run with nothing to do lists none of them.

Restrictions change without a new content version, so a run reads the restrictions of the items
stored (fetched by a content sync) since their restrictions were last read, of items whose last
read failed, and of items named by restriction changes in the audit log since the last run (when
the account may read it). A full pass reads every item: on demand (`full_pass`), and by itself
when the last one is older than `FULL_PASS_EVERY`.

Every read that fails is written to `directory_reads` (ok = FALSE) and reported; the access
model then denies whatever depends on it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from ..confluence.client import RESTRICTION_BATCH, RESTRICTION_EXPAND
from ..confluence.errors import ApiError, NotFound, PermissionDenied
from ..confluence.models import AuditRecord, ContentRestriction, ContentV1
from ..storage.schema import TABLES
from ..storage.warehouse import Warehouse, WriteCounts
from . import audit
from .step import AssetReport, SyncContext, measured_step
from .windows import TimeRange

FULL_PASS_EVERY = audit.FULL_PASS_EVERY
SEARCH_RESTRICTION_EXPAND = tuple(f"content.{e}" for e in RESTRICTION_EXPAND)
PER_ITEM_LIMIT = 100  # principals per list in GET /content/{id}/restriction (its default limit)
SKIPPABLE = (PermissionDenied, NotFound, ApiError)  # one object fails; the rest of the read goes on
RESTRICTABLE = ("pages", "blogposts", "folders")


@dataclass
class DirectoryReport(AssetReport):
    """An asset report with the figures particular to one directory asset."""

    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        base = {k: v for k, v in super().metadata().items()
                if k not in ("rows_out_of_scope", "fetched_since") and (k != "windows" or v)}
        return {**base, **self.extra}


def _record_reads(wh: Warehouse, kind: str, ok: Iterable[str], failed: dict[str, str], now: datetime) -> None:
    rows = [{"kind": kind, "id": i, "ok": True, "detail": None, "read_at": now} for i in ok]
    rows += [{"kind": kind, "id": i, "ok": False, "detail": detail[:500], "read_at": now}
             for i, detail in failed.items()]
    wh.upsert("directory_reads", rows)


def _replace(wh: Warehouse, table: str, column: str, keys: list[str],
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


# -- groups and members --------------------------------------------------------------------------

def _changes(ctx: SyncContext, wh: Warehouse, report: DirectoryReport, asset: str,
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


# Group records that need the group list read again: any but a membership change of a known group.
def _membership(record: audit.AuditRecord) -> bool:
    summary = record.summary.lower()
    return "to group" in summary or "from group" in summary or "membership" in summary


def sync_groups(ctx: SyncContext, *, full_pass: bool = False) -> DirectoryReport:
    """Every group of the site; groups that are gone are marked deleted. An incremental run
    lists them only when the audit log names a group created, deleted or unknown."""
    report = DirectoryReport("groups")
    with measured_step(ctx, report) as wh:
        records = _changes(ctx, wh, report, "groups", full_pass)
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
        records = _changes(ctx, wh, report, "group_members", full_pass)
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
            report.counts, report.deleted = _replace(wh, "group_members", "group_id", loaded, rows)
            wh.run("DELETE FROM group_members WHERE group_id IN (SELECT id FROM groups WHERE deleted_at IS NOT NULL)")
            wh.run("UPDATE groups SET members_loaded = FALSE WHERE id IN (SELECT unnest(?::VARCHAR[]))",
                   [sorted(failed)])
            wh.upsert("groups", [{"id": g, "members_loaded": True, "member_count": n} for g, n in counts.items()])
            wh.set_state("failures:group_members", report.failures)
            audit.read_done(wh, "group_members", ctx.now, records is None)
        report.extra.update(groups_read=len(loaded), groups_failed=len(failed))
    return report


# -- space permissions ----------------------------------------------------------------------------

_UNREAD_SPACES = """deleted_at IS NULL AND (key IN (SELECT unnest(?::VARCHAR[])) OR name IN (SELECT unnest(?::VARCHAR[]))
    OR id NOT IN (SELECT r.id FROM directory_reads r WHERE r.kind = 'space_permissions' AND r.ok))"""


def sync_space_permissions(ctx: SyncContext, *, full_pass: bool = False) -> DirectoryReport:
    """The permission assignments of each stored space (v2 /spaces/{id}/permissions): of every
    space in a full read, else of the spaces the audit log names (by key or name) since the last
    read and those never read or whose last read failed."""
    report = DirectoryReport("space_permissions")
    with measured_step(ctx, report) as wh:
        records = _changes(ctx, wh, report, "space_permissions", full_pass)
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
            report.counts, report.deleted = _replace(wh, "space_permissions", "space_id", loaded, rows)
            _record_reads(wh, "space_permissions", loaded, failed, ctx.now)
            wh.set_state("failures:space_permissions", report.failures)
            audit.read_done(wh, "space_permissions", ctx.now, records is None)
        report.extra.update(spaces_read=len(loaded), spaces_failed=len(failed))
    return report


# -- content restrictions --------------------------------------------------------------------------

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
            report.counts, report.deleted = _replace(wh, "content_restrictions", "content_id", sorted(read.rows),
                                                     rows)
            _record_reads(wh, "restrictions", read.rows, read.failed, ctx.now)
            if full:
                wh.set_state("restrictions:full_pass_at", ctx.now.isoformat())
            audit.consumed(wh, "content_restrictions")
            wh.set_state("failures:content_restrictions", report.failures)
        restricted = sum(1 for item_rows in read.rows.values() if any(r["operation"] == "read" for r in item_rows))
        report.extra.update(full_pass=full, items_read=len(read.rows), items_failed=len(read.failed),
                            items_from_audit=len(hinted or {}), read_restricted_items=restricted,
                            batched_calls=calls["batched"], single_item_calls=calls["single"])
    return report


# -- users -------------------------------------------------------------------------------------

_KNOWN_ACCOUNTS = """
    SELECT account_id FROM group_members
    UNION SELECT principal_id FROM space_permissions WHERE principal_type = 'user'
    UNION SELECT principal_id FROM content_restrictions WHERE principal_type = 'user'
    UNION SELECT author_id FROM spaces
    UNION SELECT unnest([author_id, owner_id, version_author_id]) FROM pages
    UNION SELECT unnest([author_id, version_author_id]) FROM blogposts
    UNION SELECT unnest([author_id, version_author_id]) FROM folders
    UNION SELECT unnest([author_id, version_author_id]) FROM comments
    UNION SELECT unnest([author_id, version_author_id]) FROM attachments"""


def _sync_identity(ctx: SyncContext) -> str:
    auth = ctx.settings.auth
    return f"{ctx.site_url}|{auth.mode}|{auth.email or auth.client_id or ''}"


def sync_users(ctx: SyncContext, *, full_pass: bool = False) -> DirectoryReport:
    """Every user the site lists, and every account id found in content and permissions, read
    in bulk; the account the pipeline syncs as (user/current) is marked `is_sync_account`.
    Between full reads (the reconciliation, daily, or when the credentials changed) only the
    account ids found that are not stored yet are read: profile changes and deactivations wait
    for the full read."""
    report = DirectoryReport("users")
    with measured_step(ctx, report) as wh:
        full = audit.full_read_due(wh, "users", ctx.now, full_pass) or wh.get_state("users:identity") != _sync_identity(ctx)
        report.extra["read"] = "full" if full else "new account ids only"
        if not full:
            new = sorted(r[0] for r in wh.run(f"SELECT * FROM ({_KNOWN_ACCOUNTS}) k(id) WHERE id IS NOT NULL "
                                                "AND id NOT IN (SELECT account_id FROM users)"))
            rows = [_user_row(ctx, user, None) for user in ctx.client.users(new)] if new else []
            report.fetched = len(rows)
            if rows:
                with wh.transaction():
                    report.counts = wh.upsert("users", rows)
            report.extra["account_ids_looked_up"] = len(new)
            return report
        try:
            sync_account: str | None = ctx.client.current_user().account_id
        except SKIPPABLE as exc:
            sync_account = None
            report.failures.append(f"the syncing account could not be identified ({exc}): its own access is "
                                   "decided like anyone else's")
        v1_emails: dict[str, str] = {}
        listed = True
        try:
            for hit in ctx.client.search_users("type = user"):
                if hit.user is not None and hit.user.account_id:
                    v1_emails[hit.user.account_id] = hit.user.email or ""
        except SKIPPABLE as exc:
            listed = False
            report.failures.append(f"user search: {exc} (users are still read from the ids found in content, "
                                   "groups and permissions; none is marked deleted)")
        ids = set(v1_emails) | {r[0] for r in wh.run(_KNOWN_ACCOUNTS) if r[0]} | ({sync_account} - {None})
        rows = [{**_user_row(ctx, user, v1_emails.get(user.account_id)),
                 "is_sync_account": user.account_id == sync_account} for user in ctx.client.users(sorted(ids))]
        report.fetched = len(rows)
        with wh.transaction():
            report.counts = wh.upsert("users", rows)
            if listed:
                stored = {r[0] for r in wh.run("SELECT account_id FROM users WHERE deleted_at IS NULL")}
                report.deleted = wh.mark("users", stored - {r["account_id"] for r in rows}, deleted_at=ctx.now,
                                         key="account_id")
            wh.set_state("failures:users", report.failures)
            if listed:
                wh.set_state("users:full_pass_at", ctx.now.isoformat())
                wh.set_state("users:identity", _sync_identity(ctx))
        report.extra.update(account_ids_looked_up=len(ids), listed_by_user_search=len(v1_emails))
    return report


def _user_row(ctx: SyncContext, user: Any, v1_email: str | None) -> dict[str, Any]:
    """A user's row; `is_sync_account` is the full read's to set (an incremental one keeps it)."""
    return {"account_id": user.account_id, "display_name": user.display_name, "public_name": user.public_name,
           "email": user.email or v1_email or None, "account_type": user.account_type,
           "account_status": user.account_status, "active": user.account_status == "active",
           "is_external_collaborator": user.is_external_collaborator, "personal_space_id": user.personal_space_id,
           "synced_at": ctx.now, "deleted_at": None}


# -- audit log --------------------------------------------------------------------------------

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
            report.counts, report.deleted = _replace(wh, "audit_log", "window_key", rng.keys, list(rows.values()))
            wh.set_state("audit:access", {"ok": True, "detail": "", "at": ctx.now.isoformat()})
            audit.note_read(wh, rng.start, min(rng.end, ctx.now))
        report.extra = {"audit_access": True, "duplicates_dropped": len(records) - len(rows)}
    return report
