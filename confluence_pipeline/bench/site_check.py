"""The benchmarks' ground truth: the site as the emulator holds it against the tables as the lake
holds them (rows missing, extra and stale, and duplicate keys)."""

from __future__ import annotations

import json
from typing import Any

from ..storage.lake import Lake, open_lake
from ..storage.schema import TABLES


def expected_rows(ws, known_trashed_folders: frozenset[str] = frozenset(),
                  known_trashed_comments: frozenset[str] = frozenset(),
                  reconciled: bool = False) -> dict[str, dict[str, tuple]]:
    """Per table, id -> the fields the sync must reproduce, derived from the emulator's state (what
    an administrator sees of the site).
    `known_trashed_folders`: folders trashed after a sync had seen them (found again by id);
    `known_trashed_comments` likewise for comments; `reconciled`: a reconciliation read the trash
    of every live page and blog post, which holds their trashed root comments."""
    with ws.lock:
        items = list(ws.content.values())
        spaces = {s.id: (s.key, s.name, s.type, s.status) for s in ws.spaces.values()}

        def of(type_: str) -> list:
            return [c for c in items if c.type == type_ and c.status != "draft"]

        pages = {c.id: (c.space_id, c.status, c.title, c.version.number, c.parent_id) for c in of("page")}
        blogposts = {c.id: (c.space_id, c.status, c.title, c.version.number) for c in of("blogpost")}
        # Folders have no listing: CQL finds them, and it never shows the trash.
        folders = {c.id: (c.space_id, c.status, c.title, c.version.number, c.parent_id) for c in of("folder")
                   if c.status != "trashed" or c.id in known_trashed_folders}

        # The site-wide comment lists show current comments; footer comments read resolutionStatus "open".
        def comment_known(c) -> bool:
            if c.status == "current" or c.id in known_trashed_comments:
                return True
            container = ws.container_of(c)
            live = ("current", "archived") if container is not None and container.type == "page" else ("current",)
            return (reconciled and c.status == "trashed" and c.parent_comment_id is None
                    and container is not None and container.status in live)

        comments = {c.id: (c.status, c.version.number, c.container_id, c.parent_comment_id, c.comment_kind,
                           c.resolution_status or "open") for c in of("comment") if comment_known(c)}
        attachments = {c.id: (c.status, c.title, c.version.number, c.container_id) for c in of("attachment")}
        labels = {(c.id, label_id): (ws.labels[label_id].name,) for c in items
                  if c.type in ("page", "blogpost") and c.status in ("current", "archived")
                  for label_id in c.label_ids}
        ancestors = {c.id: [a.id for a in ws.ancestors(c)] for c in items
                     if c.id in pages or c.id in folders}  # what the sync can see, as above
    return {"spaces": spaces, "pages": pages, "blogposts": blogposts, "folders": folders, "comments": comments,
            "attachments": attachments, "labels": labels, "ancestors": ancestors}


# What the lake holds, in the shape of expected_rows: the key columns first, rows not purged.
STORED = {
    "spaces": "SELECT id, key, name, type, status FROM spaces WHERE deleted_at IS NULL",
    "pages": "SELECT id, space_id, status, title, version, parent_id FROM pages WHERE status <> 'purged'",
    "blogposts": "SELECT id, space_id, status, title, version FROM blogposts WHERE status <> 'purged'",
    "folders": "SELECT id, space_id, status, title, version, parent_id FROM folders WHERE status <> 'purged'",
    "comments": "SELECT id, status, version, container_id, parent_comment_id, kind, resolution_status "
                "FROM comments WHERE status <> 'purged'",
    "attachments": "SELECT id, status, title, version, container_id FROM attachments WHERE status <> 'purged'",
    "labels": "SELECT content_id, label_id, name FROM labels WHERE deleted_at IS NULL",
    "ancestors": "SELECT id, ancestor_ids FROM pages WHERE status <> 'purged' "
                 "UNION ALL SELECT id, ancestor_ids FROM folders WHERE status <> 'purged'",
}


def stored_rows(con) -> dict[str, dict]:
    """The lake's rows in the shape of expected_rows, from a connection with the lake attached."""
    out: dict[str, dict] = {}
    for table, sql in STORED.items():
        rows = con.execute(sql).fetchall()
        if table == "labels":
            out[table] = {(r[0], r[1]): r[2:] for r in rows}
        elif table == "ancestors":
            out[table] = {r[0]: list(r[1] or []) for r in rows}
        else:
            out[table] = {r[0]: r[1:] for r in rows}
    return out


def compare_with_site(lake: Lake, ws) -> dict[str, Any]:
    """Rows missing, extra and stale against the site, and duplicate keys (count(*) - count(distinct
    key)) in every table but sync_state (a log by design); all must be 0."""
    with open_lake(lake, read_only=True) as con:
        stored = stored_rows(con)
        duplicates = {}
        for name, table in TABLES.items():
            if name == "sync_state":
                continue
            key = ", ".join(f'"{k}"' for k in table.key)
            n = con.execute(f'SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT {key} FROM "{name}")) '
                            f'FROM "{name}"').fetchone()[0]
            if n:
                duplicates[name] = int(n)
    result: dict[str, Any] = {"missing": 0, "extra": 0, "stale": 0, "duplicates": sum(duplicates.values()),
                              "duplicates_by_table": duplicates, "examples": {}}
    for table, want in expected_rows(ws).items():
        have = stored[table]
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        stale = sorted(k for k in set(want) & set(have) if want[k] != have[k])
        result["missing"] += len(missing)
        result["extra"] += len(extra)
        result["stale"] += len(stale)
        if missing or extra or stale:
            result["examples"][table] = {"missing": missing[:3], "extra": extra[:3],
                                         "stale": {str(k): [want[k], have[k]] for k in stale[:3]}}
    return result


def differs(comparison: dict[str, Any]) -> bool:
    """Whether a comparison found anything that must be 0."""
    return any(comparison[k] for k in ("missing", "extra", "stale", "duplicates"))


def comparison_line(c: dict[str, Any]) -> str:
    line = f"missing {c['missing']}, extra {c['extra']}, stale {c['stale']}, duplicates {c['duplicates']}"
    if c["duplicates_by_table"]:
        line += f" {c['duplicates_by_table']}"
    if c["examples"]:
        line += f"\n      e.g. {json.dumps(c['examples'], default=str)[:600]}"
    return line
