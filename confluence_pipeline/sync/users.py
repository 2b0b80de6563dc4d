"""The users asset: every user the site lists and every account id found in content and
permissions, read in bulk; between full reads only the account ids not stored yet."""

from __future__ import annotations

from typing import Any

from . import audit
from .directory import SKIPPABLE, DirectoryReport
from .step import SyncContext, measured_step


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
