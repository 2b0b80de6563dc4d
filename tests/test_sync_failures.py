"""Failures: a run that dies half-way (a fault storm, or the process killed) leaves no duplicate and no
loss once run again, and no watermark moves; a space whose listing is refused is reported, fails the
`last_sync_complete` check and holds its watermark, while every other space is synced."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.wrappers import Request, Response

from confluence_pipeline.emulator import mutations
from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator
from confluence_pipeline.emulator.http import Forbidden
from confluence_pipeline.readers import changes, snapshots
from confluence_pipeline.runner import failed_steps
from confluence_pipeline.storage.maintenance import maintain
from conftest import WINDOWED, Pipeline, assert_attachment_files, assert_equals_site, make_pipeline, today


def storm_from(emu: Emulator, monkeypatch: pytest.MonkeyPatch, operation: str, nth: int) -> None:
    """From the `nth` request of `operation` on, every request answers 503 (Retry-After: 0), so
    the client's retries run out at once: the run dies at a chosen point."""
    before = emu.limits.before
    seen = Counter()

    def counting(operation_id: str, *, oauth: bool) -> dict[str, str]:
        seen[operation_id] += 1
        if operation_id == operation and seen[operation_id] == nth:
            emu.limits.set_faults(error_rate_5xx=1.0, error_5xx_retry_after=0)
        return before(operation_id, oauth=oauth)

    monkeypatch.setattr(emu.limits, "before", counting)


def snapshots_by(pipeline: Pipeline, asset: str) -> list[int]:
    """The lake snapshots that `asset` committed."""
    return [s.id for s in snapshots(pipeline.data_dir) if s.writer == asset]


def change_some_content(emu: Emulator) -> list[str]:
    ws = emu.ws
    space = next(s for s in ws.spaces.values() if s.status == "current")
    page = next(c for c in ws.content.values() if c.type == "page" and c.status == "current" and c.space_id == space.id
                and c.id != space.homepage_id)
    mutations.edit(ws, page.id, title="Edited before the fault", body="<p>changed</p>")
    created = mutations.create(ws, type="page", space_id=space.id, title="Created before the fault", body="<p>x</p>")
    mutations.create(ws, type="comment", title="c", body="<p>On the new page</p>", container_id=created.id)
    mutations.create(ws, type="attachment", title="report.csv", container_id=created.id, data=b"a,b\n1,2\n")
    return [page.id, created.id]


def test_a_run_that_dies_half_way_then_runs_again_loses_nothing_and_duplicates_nothing(pipeline, monkeypatch):
    assert all(r.success for r in pipeline.sync())
    watermarks = {asset: pipeline.state(f"watermark:{asset}") for asset in WINDOWED}
    committed_before = snapshots_by(pipeline, "pages")
    edited, created = change_some_content(pipeline.emu)

    storm_from(pipeline.emu, monkeypatch, "getPages", 2)  # the pages asset dies after its first listing
    failed = pipeline.materialize(WINDOWED, today(), today(), raise_on_error=False)
    pipeline.emu.limits.clear_faults()
    monkeypatch.undo()
    pipeline.activate()

    assert not failed.success
    stopped = [a for a in WINDOWED if a != "blogposts"]  # pages failed; blog posts do not depend on it
    assert {asset: pipeline.state(f"watermark:{asset}") for asset in stopped} == {a: watermarks[a] for a in stopped}
    with pipeline.warehouse() as wh:  # the pages transaction was rolled back whole
        assert wh.run("SELECT title FROM pages WHERE id = ?", [edited]) != [("Edited before the fault",)]
        assert wh.count("pages", "id = ?", [created]) == 0
    assert snapshots_by(pipeline, "pages") == committed_before  # no snapshot, not even a partial one

    assert pipeline.materialize(WINDOWED, today(), today()).success
    assert_equals_site(pipeline)
    assert_attachment_files(pipeline)
    # the history has the rerun's changes once: an insert of the new page, an update of the edited one
    feed = {(c.key["id"], c.change) for c in changes(committed_before[-1], tables=["pages"], data_dir=pipeline.data_dir)}
    assert {(created, "insert"), (edited, "update")} <= feed
    assert all(pipeline.state(f"watermark:{asset}") > watermarks[asset] for asset in WINDOWED)


def test_a_sync_process_killed_mid_way_then_run_again_loses_nothing_and_duplicates_nothing(emu, tmp_path,
                                                                                          monkeypatch):
    pipeline = make_pipeline(emu, tmp_path, monkeypatch)
    env = {**os.environ, "CONFLUENCE_SITE_URL": emu.base_url, "CONFLUENCE_EMAIL": DEFAULT_EMAIL,
           "CONFLUENCE_API_TOKEN": DEFAULT_API_TOKEN, "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    (tmp_path / "dagster_home").mkdir()
    downloads = emu.limits.stats()["by_operation"].get("downloadAttatchment", {}).get("requests", 0)
    emu.limits.set_faults(latency_ms=30)  # slow enough to be caught in the middle of the downloads
    with open(tmp_path / "sync.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "confluence_pipeline.cli", "sync"], env=env,
                                   stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while emu.limits.stats()["by_operation"].get("downloadAttatchment", {}).get("requests", 0) < downloads + 3:
            assert process.poll() is None, (tmp_path / "sync.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the sync never reached the attachment downloads"
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()
        emu.limits.clear_faults()

    assert process.returncode != 0
    assert pipeline.state("watermark:attachments") is None  # the attachments transaction never committed
    with pipeline.warehouse() as wh:
        assert wh.count("attachments") == 0 and wh.count("pages") > 0  # pages had committed before

    assert all(r.success for r in pipeline.sync())
    assert_equals_site(pipeline)
    assert_attachment_files(pipeline)  # no file left half-written
    with pipeline.warehouse() as wh:  # the history holds every stored row, from the first snapshot on
        stored = {r[0] for r in wh.run("SELECT id FROM attachments")}
    assert stored == {c.key["id"] for c in changes(0, tables=["attachments"], data_dir=pipeline.data_dir)}
    # whatever the killed writer left behind is maintenance's to delete; the tables stay equal
    report = maintain(pipeline.settings.lake, retention=timedelta(days=30), orphan_grace=timedelta(0))
    assert not [p for p in report.orphan_paths if Path(p).exists()]
    assert_equals_site(pipeline)


def forbid_pages_of(emu: Emulator, monkeypatch: pytest.MonkeyPatch, space_id: str) -> None:
    """Page listings that cover `space_id` answer 403 as Confluence words it. The emulator has no
    switch for a space that fails, so the test wraps its dispatch (reads by id still answer)."""
    dispatch = emu._dispatch

    def refusing(request: Request) -> Response:
        spaces = ",".join(request.args.getlist("space-id")).split(",")
        if (request.path == "/wiki/api/v2/pages" and "id" not in request.args
                and ("space-id" not in request.args or space_id in spaces)):
            return emu._error(Forbidden(f"You may not list the pages of space {space_id}"), "v2")
        return dispatch(request)

    monkeypatch.setattr(emu, "_dispatch", refusing)


def test_a_space_that_fails_is_reported_and_the_others_are_synced(pipeline, monkeypatch):
    assert all(r.success for r in pipeline.sync())
    ws = pipeline.emu.ws
    failing, healthy = [s for s in ws.spaces.values() if s.status == "current"][:2]
    watermark = pipeline.state("watermark:pages")
    hidden = mutations.create(ws, type="page", space_id=failing.id, title="In the failing space")
    shown = mutations.create(ws, type="page", space_id=healthy.id, title="In a healthy space")

    forbid_pages_of(pipeline.emu, monkeypatch, failing.id)
    result = pipeline.materialize(WINDOWED, today(), today(), checks=True)
    pipeline.activate()

    assert result.success  # the failure is reported, not raised: the other assets ran
    metadata = result.asset_materializations_for_node("pages")[0].metadata
    details = metadata["failure_details"].value.splitlines()
    assert metadata["failures"].value == len(details) == 2  # its listing and its trash
    assert all(f"pages of space {failing.id}:" in line for line in details)
    # what `confluence-pipeline sync` prints at the end of the run: one line per failure, with its reason
    printed = failed_steps(result)
    assert printed == [f"pages: {line.removeprefix('- ')}" for line in details]
    assert all("403" in line or "permission" in line.lower() for line in printed), printed
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("pages", "last_sync_complete")] is False
    assert checks[("blogposts", "last_sync_complete")] is True
    assert pipeline.state("watermark:pages") == watermark
    assert pipeline.state("watermark:blogposts") > watermark
    with pipeline.warehouse() as wh:
        assert wh.count("pages", "id = ?", [shown.id]) == 1
        assert wh.count("pages", "id = ?", [hidden.id]) == 0

    monkeypatch.undo()
    pipeline.activate()
    healed = pipeline.materialize(WINDOWED, today(), today(), checks=True)
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in healed.get_asset_check_evaluations()}
    assert checks[("pages", "last_sync_complete")] is True
    assert pipeline.state("watermark:pages") > watermark
    assert_equals_site(pipeline)


def test_read_ahead_keeps_order_raises_the_listings_error_and_stops_when_left():
    from confluence_pipeline.sync.listings import read_ahead

    assert list(read_ahead(iter(range(1000)), size=7)) == list(range(1000))

    def failing():
        yield from range(3)
        raise PermissionError("listing refused")

    taken = []
    with pytest.raises(PermissionError, match="listing refused"):
        for item in read_ahead(failing()):
            taken.append(item)
    assert taken == [0, 1, 2]  # the items before the error, then the error itself

    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    ahead = read_ahead(endless(), size=5)
    assert next(ahead) == 0
    ahead.close()  # the caller leaves: the thread stops, at most `size` (+2 in hand) beyond
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count <= 8
