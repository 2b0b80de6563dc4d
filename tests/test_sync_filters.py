"""Sync filters, each operator: space keys In / Not In (case-sensitive), page ids In / Not In with all
descendants, blog post ids In / Not In, modified and created dates Is After / Is Before / Is Between
(local days of the configured time zone). A changed filter takes effect on the next sync: what falls
out of scope is marked in_scope = false and kept, what comes in is fetched, whatever its age."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from confluence_pipeline.emulator import mutations
from confluence_pipeline.emulator.model import Content
from confluence_pipeline.emulator.workspace import Workspace
from conftest import ANCHOR, WINDOWED, Pipeline, differences, expected_rows, stored_rows

TZ = ZoneInfo("Asia/Tokyo")  # local days that are not UTC days
SCOPED = ("spaces", "pages", "folders", "blogposts", "comments", "attachments")


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=TZ)


def _dates_allow(moment: datetime, bounds: dict[str, date]) -> bool:
    """Is After D: from the day after D; Is Before D: before D; both: Is Between."""
    after, before = bounds.get("after"), bounds.get("before")
    return ((after is None or moment >= _day_start(after + timedelta(days=1)))
            and (before is None or moment < _day_start(before)))


def expected_scope(ws: Workspace, filters: dict[str, Any]) -> dict[str, set[str]]:
    """Ids in scope per table, from the emulator's state and the filters' meaning (not the sync's code)."""
    keys_in, keys_out = filters.get("space_keys_in", []), filters.get("space_keys_not_in", [])
    spaces = {s.id for s in ws.spaces.values() if (not keys_in or s.key in keys_in) and s.key not in keys_out}

    def ids_allow(item: Content, ids_in: list[str], ids_out: list[str]) -> bool:
        lineage = {item.id} | ({a.id for a in ws.ancestors(item)} if item.type in ("page", "folder") else set())
        return (not ids_in or bool(lineage & set(ids_in))) and not lineage & set(ids_out)

    def allowed(item: Content) -> bool:
        prefix = "page" if item.type in ("page", "folder") else "blogpost"
        return (item.space_id in spaces
                and ids_allow(item, filters.get(f"{prefix}_ids_in", []), filters.get(f"{prefix}_ids_not_in", []))
                and _dates_allow(item.modified_at, filters.get("modified", {}))
                and _dates_allow(item.created_at, filters.get("created", {})))

    scope = {"spaces": spaces}
    for type_, table in (("page", "pages"), ("folder", "folders"), ("blogpost", "blogposts")):
        scope[table] = {c.id for c in ws.content.values() if c.type == type_ and allowed(c)}
    containers = scope["pages"] | scope["blogposts"]
    for type_, table in (("comment", "comments"), ("attachment", "attachments")):
        scope[table] = {c.id for c in ws.content.values() if c.type == type_ and c.container_id in containers}
    return scope


def assert_scope(pipeline: Pipeline, filters: dict[str, Any]) -> dict[str, set[str]]:
    """Stored rows are in scope exactly when the filters say so, and the files of attachments in
    scope are downloaded; returns the stored ids per table."""
    ws = pipeline.emu.ws
    truth, want = expected_rows(ws), expected_scope(ws, filters)
    stored_ids = {}
    with pipeline.warehouse() as wh:
        for table in SCOPED:
            rows = dict(wh.run(f"SELECT id, in_scope FROM {table}"))
            assert {i for i, in_scope in rows.items() if in_scope} == want[table] & set(truth[table]), table
            stored_ids[table] = set(rows)
    current = {i for i, (status, *_) in truth["attachments"].items() if status == "current"}
    assert want["attachments"] & current <= downloaded(pipeline)
    assert want["pages"] and want["pages"] != set(truth["pages"])  # the filter both keeps and drops pages
    return stored_ids


def downloaded(pipeline: Pipeline) -> set[str]:
    return {p.name for p in (pipeline.data_dir / "attachments").iterdir()}


def _tree_root(ws: Workspace, space_id: str) -> Content:
    """A page of the space with pages (and at least two levels) below it, not its homepage."""
    homepage = ws.spaces[space_id].homepage_id
    return next(c for c in sorted(ws.content.values(), key=lambda c: c.numeric_id)
                if c.type == "page" and c.space_id == space_id and c.id != homepage and c.status == "current"
                and any(ws.children(k.id) for k in ws.children(c.id)))


def test_each_filter_and_operator_and_changing_them(pipeline):
    ws = pipeline.emu.ws
    by_size = sorted((s for s in ws.spaces.values() if s.status == "current" and s.type == "global"),
                     key=lambda s: -sum(c.space_id == s.id for c in ws.content.values()))
    big, other = by_size[0], by_size[1]
    posts = sorted((c for c in ws.content.values() if c.type == "blogpost"), key=lambda c: c.numeric_id)
    big_posts = [p.id for p in posts if p.space_id == big.id]
    day = ANCHOR.date()

    steps: list[dict[str, Any]] = [
        {"space_keys_in": [big.key, other.key.lower()],  # keys are case-sensitive: `other` stays out
         "page_ids_not_in": [_tree_root(ws, big.id).id],
         "blogpost_ids_in": big_posts[:2] + [p.id for p in posts if p.space_id == other.id][:1]},
        {"space_keys_not_in": [big.key], "page_ids_in": [_tree_root(ws, other.id).id],
         "blogpost_ids_not_in": [p.id for p in posts if p.space_id == other.id][:1],
         "modified": {"after": day - timedelta(days=600)}},
        {"created": {"after": day - timedelta(days=900), "before": day - timedelta(days=200)},
         "modified": {"before": day - timedelta(days=100)}},
        {"modified": {"after": day - timedelta(days=500), "before": day - timedelta(days=1)},
         "created": {"after": day - timedelta(days=700)}},
        {"created": {"before": day - timedelta(days=300)}},
    ]
    pipeline.configure(filters=steps[0], timezone_name=TZ.key)
    assert all(r.success for r in pipeline.sync())
    stored = assert_scope(pipeline, steps[0])
    with pipeline.warehouse() as wh:  # the space filter is pushed into the API: other spaces' pages never come
        assert wh.run("SELECT DISTINCT space_id FROM pages") == [(big.id,)]
    assert downloaded(pipeline) <= expected_scope(ws, steps[0])["attachments"]  # filters decide what is downloaded

    for filters in steps[1:]:
        pipeline.configure(filters=filters, timezone_name=TZ.key)
        # the next sync: the latest window of the content assets (spaces are not run again)
        assert pipeline.materialize(WINDOWED, pipeline.today(), pipeline.today()).success
        now_stored = assert_scope(pipeline, filters)
        assert all(stored[t] <= now_stored[t] for t in SCOPED)  # out of scope means marked, never dropped
        stored = now_stored
    with pipeline.warehouse() as wh:
        assert wh.count("pages", "NOT in_scope AND status = 'current'") > 0

    pipeline.configure(filters={}, timezone_name=TZ.key)
    assert pipeline.materialize(WINDOWED, pipeline.today(), pipeline.today()).success
    with pipeline.warehouse() as wh:
        assert differences(expected_rows(ws), stored_rows(wh)) == {}
        assert all(wh.count(t, "NOT in_scope") == 0 for t in SCOPED)


def test_a_page_moved_to_a_space_outside_the_filter_leaves_the_scope(pipeline):
    """The listings by space id no longer show a page moved away: the next run still sees that it
    left, with its subtree, and marks it out of scope (kept, with its new space)."""
    ws = pipeline.emu.ws
    spaces = sorted((s for s in ws.spaces.values() if s.status == "current" and s.type == "global"),
                    key=lambda s: -sum(c.space_id == s.id for c in ws.content.values()))
    kept, outside = spaces[0], spaces[1]
    filters = {"space_keys_in": [kept.key]}
    pipeline.configure(filters=filters, timezone_name=TZ.key)
    assert all(r.success for r in pipeline.sync())
    mover = _tree_root(ws, kept.id)
    subtree = {c.id for c in ws.content.values() if c.type == "page" and mover in ws.ancestors(c)}
    mutations.move(ws, mover.id, space_id=outside.id)

    assert pipeline.materialize(WINDOWED, pipeline.today(), pipeline.today()).success
    assert_scope(pipeline, filters)
    with pipeline.warehouse() as wh:
        rows = wh.run("SELECT id, space_id, in_scope FROM pages WHERE id IN (SELECT unnest(?))",
                      [sorted(subtree | {mover.id})])
    assert {r[0] for r in rows} == subtree | {mover.id}
    assert {(space_id, in_scope) for _, space_id, in_scope in rows} == {(outside.id, False)}

    # with the filters changed too, the next run reads its spaces from the beginning: the same holds
    second = _tree_root(ws, kept.id)
    mutations.move(ws, second.id, space_id=outside.id)
    filters = {"space_keys_in": [kept.key, "NO-SUCH-SPACE"]}
    pipeline.configure(filters=filters, timezone_name=TZ.key)
    assert pipeline.materialize(WINDOWED, pipeline.today(), pipeline.today()).success
    assert_scope(pipeline, filters)
    with pipeline.warehouse() as wh:
        assert wh.run("SELECT space_id, in_scope FROM pages WHERE id = ?", [second.id]) == [(outside.id, False)]
