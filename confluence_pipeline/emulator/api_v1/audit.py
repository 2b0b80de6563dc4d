"""The audit log (Confluence administrators only)."""

from __future__ import annotations

from typing import Any

from ..http import BadRequest, Ctx, Reply, epoch_ms
from ..model import AuditRecord
from ..workspace import Workspace
from ..routes import route
from .common import offset_page

AUDIT_LIMIT = 1000  # default and silent maximum
# Java ChronoUnit durations (MONTHS and YEARS are the estimated ones), in nanoseconds.
_YEAR_NS = 31_556_952 * 10**9
AUDIT_UNIT_NS = {"NANOS": 1, "MICROS": 10**3, "MILLIS": 10**6, "SECONDS": 10**9, "MINUTES": 60 * 10**9,
                 "HOURS": 3600 * 10**9, "HALF_DAYS": 43_200 * 10**9, "DAYS": 86_400 * 10**9,
                 "WEEKS": 604_800 * 10**9, "MONTHS": _YEAR_NS // 12, "YEARS": _YEAR_NS,
                 "DECADES": 10 * _YEAR_NS, "CENTURIES": 100 * _YEAR_NS}


def audit_json(ws: Workspace, record: AuditRecord) -> dict[str, Any]:
    user = ws.users.get(record.author_id) if record.author_id else None
    if user is None:  # the system, as airbyte's sandbox recorded it
        author: dict[str, Any] = {"type": "user", "displayName": "System", "operations": None,
                                  "isExternalCollaborator": False, "accountType": "",
                                  "publicName": "Unknown user", "externalCollaborator": False}
    else:
        author = {"type": "user", "displayName": user.display_name, "operations": None,
                  "accountId": user.account_id, "accountType": user.account_type,
                  "isExternalCollaborator": user.is_external_collaborator,
                  "publicName": user.public_name, "externalCollaborator": user.is_external_collaborator,
                  "isGuest": user.is_external_collaborator}
    name, object_type = record.affected_object
    return {
        "author": author,
        "remoteAddress": record.remote_address,
        "creationDate": epoch_ms(record.creation_date),
        "summary": record.summary,
        "description": record.description,
        "category": record.category,
        "sysAdmin": record.sys_admin,
        "superAdmin": record.super_admin,
        "affectedObject": {"name": name, "objectType": object_type},
        "changedValues": [{"name": n, "oldValue": old, "newValue": new}
                          for n, old, new in record.changed_values],
        "associatedObjects": [{"name": n, "objectType": t} for n, t in record.associated_objects],
    }


def _audit_text(ws: Workspace, record: AuditRecord) -> str:
    author = ws.users.get(record.author_id) if record.author_id else None
    parts = [record.summary, record.description, record.category, record.affected_object[0],
             author.display_name if author else "System"]
    parts += [name for name, _ in record.associated_objects]
    parts += [value for change in record.changed_values for value in change]
    return "\n".join(parts).lower()


def _audit_list(ctx: Ctx, since_ms: int | None, until_ms: int | None) -> Reply:
    if ctx.user is None or not ctx.user.is_admin:
        return Reply(None, status=403)
    needle = (ctx.raw("searchString") or "").lower()
    records = [r for r in ctx.ws.audit
               if (since_ms is None or epoch_ms(r.creation_date) >= since_ms)
               and (until_ms is None or epoch_ms(r.creation_date) <= until_ms)
               and (not needle or needle in _audit_text(ctx.ws, r))]
    records.sort(key=lambda r: r.creation_date, reverse=True)
    page, envelope = offset_page(ctx, records, default_limit=AUDIT_LIMIT, max_limit=AUDIT_LIMIT,
                                  strict=False)
    return Reply({"results": [audit_json(ctx.ws, r) for r in page], **envelope})


def _epoch_ms_param(ctx: Ctx, name: str) -> int | None:
    value = ctx.raw(name)
    if not value:
        return None
    if not value.isdigit():
        raise BadRequest(f"Invalid value for parameter '{name}': '{value}' is not a time in "
                         "epoch milliseconds")
    return int(value)


@route("v1", "GET", "/wiki/rest/api/audit", "getAuditRecords")
def get_audit_records(ctx: Ctx) -> Reply:
    """Records newest first; `startDate` and `endDate` (epoch ms) both inclusive."""
    return _audit_list(ctx, _epoch_ms_param(ctx, "startDate"), _epoch_ms_param(ctx, "endDate"))


@route("v1", "GET", "/wiki/rest/api/audit/since", "getAuditRecordsForTimePeriod")
def get_audit_records_since(ctx: Ctx) -> Reply:
    """Records of the last `number` `units` (ChronoUnit names; months and years as Java estimates them)."""
    number = ctx.int_param("number", 3, minimum=0)
    units = ctx.enum_param("units", AUDIT_UNIT_NS, "MONTHS")
    now_ms = epoch_ms(ctx.ws.clock.now())
    return _audit_list(ctx, now_ms - number * AUDIT_UNIT_NS[units] // 10**6, now_ms)
