"""The content graph end to end, over real HTTP into a temporary DuckDB file: a full sync equals the
site, and after a round of changes an incremental sync (plus reconciliation) equals it again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from confluence_pipeline.storage.warehouse import Warehouse
from confluence_pipeline.emulator import mutations
from confluence_pipeline.emulator.workspace import Workspace
from confluence_pipeline.sync import scope
from confluence_pipeline.sync.watermark import OVERLAP
from confluence_pipeline.sync.windows import Windows
from conftest import (START_DATE, WINDOWED, assert_attachment_files, assert_equals_site, make_pipeline,
                      start_emulator, today)


@pytest.fixture(scope="module")
def emu():
    emulator = start_emulator(seed=11, scale=300)
    yield emulator
    emulator.stop()


def test_a_full_sync_equals_what_an_administrator_sees(pipeline, monkeypatch):
    # breadcrumbs are written a batch of rows at a time (10,000 a statement): here 7, so many batches
    monkeypatch.setattr(scope, "TREE_BATCH", 7)
    results = pipeline.sync()

    assert all(r.success for r in results)
    assert_equals_site(pipeline)
    assert_attachment_files(pipeline)
    ws = pipeline.emu.ws
    windows = Windows(ZoneInfo("UTC"), START_DATE.isoformat())
    with pipeline.warehouse() as wh:
        pages = wh.run("SELECT id, body_storage, web_url, window_key, ancestor_titles FROM pages")
        spaces_in_archived = wh.run("SELECT count(*) FROM pages p JOIN spaces s ON s.id = p.space_id "
                                    "WHERE s.status = 'archived'")[0][0]
    for page_id, body, web_url, window_key, titles in pages:
        item = ws.content[page_id]
        assert body == item.body
        assert web_url.startswith(f"{ws.site.url}/wiki/spaces/")
        assert window_key == windows.key(item.modified_at)
        assert titles == [a.title for a in ws.ancestors(item)]
    assert spaces_in_archived > 0  # archived spaces' content is synced too
    used = {window for *_, window, _ in pages}
    assert {START_DATE.isoformat(), (START_DATE + timedelta(days=1)).isoformat()} <= used
    # each materialization names the lake snapshot it committed: the copy as of it holds its rows
    event = next(e for e in results[1].get_asset_materialization_events() if e.asset_key.path == ["pages"])
    snapshot = event.materialization.metadata["snapshot_id"].value
    with Warehouse(pipeline.settings.lake, as_of=snapshot) as wh:
        assert wh.count("pages") == len(pages)
    assert list((pipeline.data_dir / "lake").rglob("*.parquet"))  # the tables' data is Parquet


def _pick(ws: Workspace) -> dict[str, Any]:
    """Content to change, chosen from the generated site by shape (same seed, same picks)."""
    pages = sorted((c for c in ws.content.values() if c.type == "page" and c.status == "current"),
                   key=lambda c: c.numeric_id)
    homepages = {s.homepage_id for s in ws.spaces.values()}
    inner = [c for c in pages if c.id not in homepages and ws.children(c.id)]
    mover = next(c for c in inner if any(ws.children(k.id) for k in ws.children(c.id)))
    subtree = {mover.id} | {c.id for c in ws.content.values() if mover in ws.ancestors(c)}
    above = {a.id for a in ws.ancestors(mover)}
    parent_to_trash = next(c for c in inner if c.id not in subtree | above)
    busy = {mover.id, parent_to_trash.id} | subtree | above | {k.id for k in ws.children(parent_to_trash.id)}
    leaves = [c for c in pages if not ws.children(c.id) and c.id not in busy | homepages]
    with_files = next(c for c in leaves if ws.attachments_of(c.id) and ws.comments_of(c.id))
    leaves.remove(with_files)
    folder = next(c for c in ws.content.values() if c.type == "folder" and c.status == "current"
                  and c.id not in busy and not any(a.id in busy for a in ws.ancestors(c)))
    trashed_pages = sorted((c for c in ws.content.values() if c.type == "page" and c.status == "trashed"),
                           key=lambda c: c.numeric_id)
    attachments = sorted((c for c in ws.content.values() if c.type == "attachment"), key=lambda c: c.numeric_id)
    blogposts = sorted((c for c in ws.content.values() if c.type == "blogpost" and c.status == "current"),
                       key=lambda c: c.numeric_id)
    comments = [c for c in ws.content.values() if c.type == "comment" and c.status == "current"
                and c.container_id not in busy | {with_files.id}]
    inline = next(c for c in comments if c.comment_kind == "inline" and c.resolution_status == "open"
                  and c.version.number == 1)
    footer = next(c for c in comments if c.comment_kind == "footer" and not ws.comments_of(c.id))
    # roots without replies on pages that stay live, to trash, restore and purge one by one
    roots = [c for c in comments if c.parent_comment_id is None and not ws.comments_of(c.id)
             and c.id not in {inline.id, footer.id} and ws.container_of(c).type == "page"
             and ws.container_of(c).status == "current"]
    footers = [c for c in roots if c.comment_kind == "footer"]
    return {
        "mover": mover, "target_space": next(s for s in ws.spaces.values() if s.status == "current"
                                             and s.id != mover.space_id),
        "parent_to_trash": parent_to_trash, "leaf": leaves[0], "new_parent": leaves[1], "edited": leaves[2],
        "with_files": with_files, "folder": folder, "restore_page": trashed_pages[0], "purge_page": trashed_pages[1],
        "edited_file": next(a for a in attachments if a.status == "current" and a.version.number == 1
                            and a.container_id not in busy | {with_files.id}),
        "trashed_file": next(a for a in reversed(attachments) if a.status == "current"
                             and a.container_id not in busy | {with_files.id}),
        "restore_file": next(a for a in attachments if a.status == "trashed"),
        "edited_post": blogposts[0], "trashed_post": blogposts[1], "inline": inline, "deleted_comment": footer,
        "trashed_footer": footers[0], "restored_comment": footers[1],
        "trashed_inline": next(c for c in roots if c.comment_kind == "inline"),
    }


def test_after_changes_an_incremental_sync_and_reconciliation_equal_the_site_again(tmp_path, monkeypatch):
    emu = start_emulator(seed=11, scale=300)
    try:
        pipeline = make_pipeline(emu, tmp_path, monkeypatch)
        assert all(r.success for r in pipeline.sync())
        ws = emu.ws
        pick = _pick(ws)
        moved_below = [c.id for c in ws.content.values() if pick["mover"] in ws.ancestors(c)]
        lifted = [c.id for c in ws.children(pick["parent_to_trash"].id)]
        assert moved_below and lifted

        mutations.move(ws, pick["mover"].id, space_id=pick["target_space"].id)  # a subtree to another space
        mutations.move(ws, pick["leaf"].id, parent_id=pick["new_parent"].id)
        mutations.edit(ws, pick["edited"].id, title="Edited: release checklist", body="<p>Edited body</p>")
        mutations.trash(ws, pick["parent_to_trash"].id)  # its children move up to its parent
        mutations.restore(ws, pick["restore_page"].id)
        mutations.purge(ws, pick["purge_page"].id)  # from the trash the last sync saw
        gone_with_page = [a.id for a in ws.attachments_of(pick["with_files"].id)]
        mutations.trash(ws, pick["with_files"].id)
        purged = mutations.purge(ws, pick["with_files"].id)  # trashed and purged between two syncs
        mutations.trash(ws, pick["folder"].id)  # no listing shows a trashed folder: found by id
        new_page = mutations.create(ws, type="page", space_id=pick["target_space"].id, title="A brand new page",
                                    body="<p>New</p>")
        comment = mutations.create(ws, type="comment", title="c", body="<p>First!</p>", container_id=new_page.id)
        mutations.create(ws, type="comment", title="c", body="<p>A reply</p>", parent_comment_id=comment.id)
        mutations.create(ws, type="comment", title="c", body="<p>Inline</p>", container_id=new_page.id,
                         comment_kind="inline", inline_original_selection="New")
        new_file = mutations.create(ws, type="attachment", title="notes.txt", container_id=new_page.id,
                                    data=b"fresh bytes")
        mutations.edit(ws, pick["edited_file"].id, data=b"a new version of the file")
        mutations.trash(ws, pick["trashed_file"].id)
        mutations.restore(ws, pick["restore_file"].id)
        mutations.edit(ws, pick["edited_post"].id, title="Edited post")
        mutations.trash(ws, pick["trashed_post"].id)
        mutations.edit(ws, pick["inline"].id, resolution_status="resolved")
        mutations.trash(ws, pick["deleted_comment"].id)  # trashed and purged between two syncs
        mutations.purge(ws, pick["deleted_comment"].id)
        trashed_comments = frozenset(pick[k].id for k in ("trashed_footer", "trashed_inline", "restored_comment"))
        for comment_id in trashed_comments:
            mutations.trash(ws, comment_id)

        watermark = pipeline.state("watermark:pages")
        latest = pipeline.materialize(WINDOWED, today(), today())  # the latest window again: from the watermark
        assert latest.success
        with pipeline.warehouse() as wh:  # comments: the count per space batch saw them go, before any reconciliation
            assert wh.run("SELECT status, deleted_at IS NOT NULL FROM comments WHERE id = ?",
                          [pick["deleted_comment"].id]) == [("purged", True)]
            trashed_at = dict(wh.run("SELECT id, deleted_at FROM comments WHERE status = 'trashed' "
                                     "AND id IN (SELECT unnest(?))", [sorted(trashed_comments)]))
            assert set(trashed_at) == trashed_comments and all(trashed_at.values())
        since = latest.asset_materializations_for_node("pages")[0].metadata["fetched_since"].value
        assert since == (datetime.fromisoformat(watermark) - OVERLAP).isoformat()
        assert pipeline.state("watermark:pages") > watermark
        report = pipeline.reconcile()  # the purge the trash listing never saw
        assert report.deleted >= 2

        assert_equals_site(pipeline, known_trashed_folders=frozenset({pick["folder"].id}), reconciled=True)
        assert_attachment_files(pipeline)
        with pipeline.warehouse() as wh:
            for table, ids in (("pages", [pick["purge_page"].id, pick["with_files"].id]),
                               ("attachments", gone_with_page), ("comments", [pick["deleted_comment"].id])):
                rows = wh.run(f"SELECT status, deleted_at IS NOT NULL FROM {table} WHERE id IN (SELECT unnest(?))",
                              [ids])
                assert rows and all(r == ("purged", True) for r in rows), table
            moved = wh.run("SELECT DISTINCT space_id FROM pages WHERE id IN (SELECT unnest(?))", [moved_below])
            assert moved == [(pick["target_space"].id,)]
            assert wh.run("SELECT local_path FROM attachments WHERE id = ?", [new_file.id]) == [
                (str(pipeline.data_dir / "attachments" / new_file.id),)]
            # an author known from version 1 stays when version 2 (which does not name it) arrives
            for table, item in (("comments", pick["inline"]), ("attachments", pick["edited_file"])):
                assert wh.run(f"SELECT version, author_id, created_at IS NOT NULL FROM {table} WHERE id = ?",
                              [item.id]) == [(2, item.author_id, True)], table
        assert set(gone_with_page) <= set(purged) and gone_with_page

        mutations.restore(ws, pick["restored_comment"].id)  # the count grows back: found by the next run
        again = pipeline.materialize(WINDOWED, today(), today())
        assert again.success
        assert_equals_site(pipeline, known_trashed_folders=frozenset({pick["folder"].id}), reconciled=True)
        with pipeline.warehouse() as wh:
            assert wh.run("SELECT status, deleted_at FROM comments WHERE id = ?",
                          [pick["restored_comment"].id]) == [("current", None)]
            assert wh.run("SELECT deleted_at FROM comments WHERE id = ?", [pick["trashed_footer"].id]) == [
                (trashed_at[pick["trashed_footer"].id],)]  # the first time it was seen in the trash is kept
        pipeline.reconcile()  # the second reads no trash: it looks for the stored trashed comments only
        assert_equals_site(pipeline, known_trashed_folders=frozenset({pick["folder"].id}), reconciled=True)
    finally:
        emu.stop()
