"""What the audit log says changed, for the steps that would otherwise re-read everything.

The `audit_log` asset reads the log once per run (it runs first: a priority tag) and records
here the span of event time its table now holds (`note_read`). A step that keys its reads on
the log asks for the records since its own last read (`since_last`, with AUDIT_OVERLAP: the log
is eventually consistent) and, once done, records how far it got (`consumed`). When the log
cannot be read (403: not a Confluence Administrator, or a free plan) or the table does not
cover the whole span, `since_last` answers None and the step re-reads everything, as without
the audit log.

What the keys match is what real Confluence Cloud writes (one recorded record, FACTS.md):
`{"summary": "User added to group", "category": "Users and groups", "affectedObject":
{"name": <group name>, "objectType": "Group"}, "associatedObjects": [{"objectType": "User"}]}`
and `{"summary": "Space permission added", "category": "Permissions", "affectedObject":
{"name": <space key>, "objectType": "Space"}}`. They match on the affected object's type and
the category, not on the exact summary, so "User removed from group" and "Space permission
removed" count as well.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from ..storage.warehouse import Warehouse

FULL_PASS_EVERY = timedelta(days=1)  # a step keyed on the log re-reads everything at least this often
AUDIT_OVERLAP = timedelta(minutes=5)  # re-read before the last read: the log is eventually consistent
_COVERED = "audit:covered"
# Summaries of content that left the live listings or came back (trashed, restored, deleted, purged).
_CONTENT_TYPES = {"page", "blog post", "blogpost", "folder", "attachment", "comment"}
_GONE_WORDS = ("trash", "restor", "delet", "purg", "remov")


class AuditRecord(NamedTuple):
    summary: str
    category: str
    name: str
    object_type: str

    @property
    def kind(self) -> str:
        return self.object_type.lower()

    def about(self, object_type: str) -> bool:
        return self.kind == object_type.lower()

    @property
    def permission(self) -> bool:
        return "permission" in f"{self.summary} {self.category}".lower()

    @property
    def content_gone_or_back(self) -> bool:
        return self.kind in _CONTENT_TYPES and any(w in self.summary.lower() for w in _GONE_WORDS)


def full_read_due(wh: Warehouse, asset: str, now: datetime, full_pass: bool) -> bool:
    """Whether `asset` re-reads everything this run: asked to (the reconciliation job), never
    did, or its last full read is older than FULL_PASS_EVERY."""
    last = wh.get_state(f"{asset}:full_pass_at")
    return full_pass or not last or now - datetime.fromisoformat(last) >= FULL_PASS_EVERY


def read_done(wh: Warehouse, asset: str, now: datetime, full: bool) -> None:
    """`asset` has read what it had to: a full read starts the FULL_PASS_EVERY clock again."""
    if full:
        wh.set_state(f"{asset}:full_pass_at", now.isoformat())
    consumed(wh, asset)


def note_read(wh: Warehouse, start: datetime, until: datetime) -> None:
    """The audit_log table now holds every record of [start, until): joined to the span held
    before when they meet, so that a consumer may look back across days."""
    held = wh.get_state(_COVERED)
    if held:
        held_from, held_until = datetime.fromisoformat(held["from"]), datetime.fromisoformat(held["until"])
        if start <= held_until and until >= held_from:  # they meet: one span
            start, until = min(start, held_from), max(until, held_until)
        elif until < held_from:  # an older span apart (a backfill): the newer one stays
            return
    wh.set_state(_COVERED, {"from": start.isoformat(), "until": until.isoformat()})


def note_unreadable(wh: Warehouse) -> None:
    """The log could not be read: no consumer may trust the table until it is read again."""
    wh.set_state(_COVERED, None)


def since_last(wh: Warehouse, consumer: str) -> list[AuditRecord] | None:
    """The records since `consumer` last consumed the log, or None when it must re-read
    everything: never consumed, the log unreadable, or the table not covering the span."""
    held = wh.get_state(_COVERED)
    last = wh.get_state(f"audit_consumed:{consumer}")
    if not held or not last:
        return None
    since = datetime.fromisoformat(last) - AUDIT_OVERLAP
    if datetime.fromisoformat(held["from"]) > since:
        return None
    rows = wh.run("SELECT summary, category, affected_name, affected_type FROM audit_log WHERE created_at >= ? "
                  "ORDER BY created_at", [since])
    return [AuditRecord(s or "", c or "", n or "", t or "") for s, c, n, t in rows]


def consumed(wh: Warehouse, consumer: str) -> None:
    """`consumer` has acted on every record the table holds: next time it starts from there.
    Called after a full re-read too, so that the next run can go by the log."""
    held = wh.get_state(_COVERED)
    wh.set_state(f"audit_consumed:{consumer}", held["until"] if held else None)
