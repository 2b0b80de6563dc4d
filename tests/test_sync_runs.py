"""Runs, end to end: content trashed and purged between two syncs, and comments trashed, leave search and
access in the next incremental run; a step that fails on a transient error is run again by Dagster and catches up
exactly; a sync killed with kill -9 is found dead by the next `confluence-pipeline sync`, which says
so in one line, marks it failed and completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import dagster as dg
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from confluence_pipeline.access.model import AccessModel
from confluence_pipeline.defs.assets import build_content_assets, step_retry_policy
from confluence_pipeline.defs.checks import build_reconciliation_checks
from confluence_pipeline.defs.directory import build_directory_assets
from confluence_pipeline.defs.jobs import windowed_keys
from confluence_pipeline.defs.partitions import content_partitions
from confluence_pipeline.defs.pipeline import PipelineResource
from confluence_pipeline.defs.reconcile import build_reconciliation_asset
from confluence_pipeline.defs.resources import ConfluenceResource
from confluence_pipeline.defs.search import build_search_assets
from confluence_pipeline.emulator import mutations
from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator
from confluence_pipeline.runner import PID_TAG
from confluence_pipeline.search import Searcher
from confluence_pipeline.storage.warehouse import Warehouse
from conftest import QUIET, WINDOWED, assert_equals_site, make_pipeline, today


def purgeable_leaf(ws) -> str:
    """A current leaf page, readable by everyone who can read its space, with a comment and an attachment."""
    with ws.lock:
        leaf = next(c for c in sorted(ws.content.values(), key=lambda c: c.id)
                    if c.type == "page" and c.status == "current" and c.parent_id and not ws.children(c.id)
                    and not any(n.restrictions.get("read") for n in [c, *ws.ancestors(c)])
                    and ws.spaces[c.space_id].status == "current")
    mutations.create(ws, type="comment", title="c", body="<p>Quillwort purge probe comment</p>",
                     container_id=leaf.id)
    mutations.create(ws, type="attachment", title="probe.csv", container_id=leaf.id, data=b"a,b\n1,2\n")
    mutations.edit(ws, leaf.id, title="Quillwort purge probe", body="<p>Quillwort purge probe body</p>")
    return leaf.id


def trashable_comments(ws, leaf: str) -> list[str]:
    """A footer and an inline comment, with words of their own, on a current page other than `leaf`."""
    with ws.lock:
        page = next(c for c in sorted(ws.content.values(), key=lambda c: c.id)
                    if c.type == "page" and c.status == "current" and c.id != leaf and c.id not in {
                        a.id for a in ws.ancestors(ws.content[leaf])}
                    and not any(n.restrictions.get("read") for n in [c, *ws.ancestors(c)])
                    and ws.spaces[c.space_id].status == "current")
    footer = mutations.create(ws, type="comment", title="c", body="<p>Bladderwort trash probe footer</p>",
                              container_id=page.id)
    inline = mutations.create(ws, type="comment", title="c", body="<p>Bladderwort trash probe inline</p>",
                              container_id=page.id, comment_kind="inline", inline_original_selection=page.title)
    return [footer.id, inline.id]


def test_content_trashed_and_purged_between_syncs_leaves_search_and_access_in_the_next_incremental_run(
        emu, tmp_path, monkeypatch):
    pipeline = make_pipeline(emu, tmp_path, monkeypatch)
    leaf = purgeable_leaf(emu.ws)
    comments = trashable_comments(emu.ws, leaf)
    partitions = content_partitions(pipeline.settings)
    assets = [*build_content_assets(partitions), *build_directory_assets(partitions), *build_search_assets(partitions)]

    def sync(first: str) -> dg.ExecuteInProcessResult:
        pipeline.activate()
        return dg.materialize(assets, instance=dg.DagsterInstance.ephemeral(), resources=pipeline.resources(),
                              run_config=QUIET, tags={ASSET_PARTITION_RANGE_START_TAG: first,
                                                      ASSET_PARTITION_RANGE_END_TAG: today()})

    assert sync(pipeline.settings.sync.start_date.isoformat()).success
    with pipeline.warehouse() as wh:
        children = wh.ids("comments", "container_id = ?", [leaf]) | wh.ids("attachments", "container_id = ?", [leaf])
        assert len(children) >= 2
        assert leaf in AccessModel(wh).visible_ids(account_of(emu, DEFAULT_EMAIL))
        assert set(comments) <= AccessModel(wh).visible_ids(account_of(emu, DEFAULT_EMAIL))
    with Searcher(pipeline.settings.lake) as searcher:
        assert leaf in {h.content_id for h in searcher.search("quillwort purge probe", as_user=DEFAULT_EMAIL)}
        assert set(comments) <= {h.content_id for h in searcher.search("bladderwort trash probe",
                                                                       as_user=DEFAULT_EMAIL)}

    mutations.trash(emu.ws, leaf)
    mutations.purge(emu.ws, leaf)
    for comment_id in comments:
        mutations.trash(emu.ws, comment_id)
    assert sync(today()).success  # the latest window only, as the schedule runs it

    with pipeline.warehouse() as wh:
        statuses = {r[0] for r in wh.run("SELECT status FROM pages WHERE id = ? UNION ALL SELECT status FROM "
                                         "comments WHERE container_id = ? UNION ALL SELECT status FROM "
                                         "attachments WHERE container_id = ?", [leaf, leaf, leaf])}
        assert statuses == {"purged"}
        assert wh.run("SELECT DISTINCT status, deleted_at IS NOT NULL FROM comments WHERE id IN (SELECT unnest(?))",
                      [comments]) == [("trashed", True)]
        model = AccessModel(wh)
        visible = model.visible_ids(account_of(emu, DEFAULT_EMAIL))
        assert not ({leaf} | children | set(comments)) & visible
    with Searcher(pipeline.settings.lake) as searcher:
        hits = {h.content_id for h in searcher.search("quillwort purge probe", as_user=DEFAULT_EMAIL)}
        assert not ({leaf} | children) & hits
        assert not set(comments) & {h.content_id for h in searcher.search("bladderwort trash probe",
                                                                          as_user=DEFAULT_EMAIL)}
    assert_equals_site(pipeline, known_trashed_comments=frozenset(comments))

    purges_are_whole = build_reconciliation_checks(build_reconciliation_asset(windowed_keys(assets, partitions)))[0]
    resource = PipelineResource(settings_file=str(pipeline.settings_file), data_dir=str(pipeline.data_dir))
    assert purges_are_whole(dg.build_asset_check_context(resources={"pipeline": resource})).passed
    with Warehouse(pipeline.settings.lake) as wh:  # a comment of the purged page left live: the check says so
        wh.run("UPDATE comments SET status = 'current' WHERE id = ?", [min(children & wh.ids("comments"))])
    result = purges_are_whole(dg.build_asset_check_context(resources={"pipeline": resource}))
    assert not result.passed and result.metadata["orphaned"].value == 1


def account_of(emu: Emulator, email: str) -> str:
    return next(u.account_id for u in emu.ws.users.values() if u.email == email)


def test_a_step_that_fails_on_a_rate_limit_is_run_again_by_dagster_and_catches_up_exactly(pipeline, monkeypatch):
    assert all(r.success for r in pipeline.sync())
    watermark = pipeline.state("watermark:pages")
    ws = pipeline.emu.ws
    space = next(s for s in ws.spaces.values() if s.status == "current")
    created = mutations.create(ws, type="page", space_id=space.id, title="Created before the storm", body="<p>x</p>")
    # the pages step's second listing call gets a 429 whose Retry-After outlasts the client's budget:
    # the first attempt dies (rolled back), Dagster runs the step again, and that attempt completes
    before, seen = pipeline.emu.limits.before, Counter()

    def storm_on_second_listing(operation_id: str, *, oauth: bool) -> dict[str, str]:
        seen[operation_id] += 1
        if operation_id == "getPages" and seen[operation_id] == 2:
            pipeline.emu.limits.set_faults(storm_429=1, storm_retry_after=1)
        return before(operation_id, oauth=oauth)

    monkeypatch.setattr(pipeline.emu.limits, "before", storm_on_second_listing)
    settings = pipeline.settings
    retry = step_retry_policy(settings.model_copy(update={"sync": settings.sync.model_copy(
        update={"step_retry_delay_s": 0.5})}))
    assets = build_content_assets(content_partitions(settings), retry)
    pipeline.activate()
    resources = {**pipeline.resources(), "confluence": ConfluenceResource(
        mode="api_token", site_url=pipeline.emu.base_url, email=DEFAULT_EMAIL, api_token=DEFAULT_API_TOKEN,
        max_rate_limit_wait_s=0.5)}
    result = dg.materialize(assets, instance=dg.DagsterInstance.ephemeral(), resources=resources,
                            selection=list(WINDOWED), run_config=QUIET,
                            tags={ASSET_PARTITION_RANGE_START_TAG: today(), ASSET_PARTITION_RANGE_END_TAG: today()})
    pipeline.emu.limits.clear_faults()

    assert result.success
    retried = [e.step_key for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried == ["pages"]
    assert pipeline.state("watermark:pages") > watermark
    with pipeline.warehouse() as wh:
        assert wh.count("pages", "id = ?", [created.id]) == 1
    assert_equals_site(pipeline)


def test_a_sync_killed_with_kill_9_is_cleared_by_the_next_sync_which_completes(emu, tmp_path, monkeypatch):
    pipeline = make_pipeline(emu, tmp_path, monkeypatch)
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "CONFLUENCE_SITE_URL": emu.base_url, "CONFLUENCE_EMAIL": DEFAULT_EMAIL,
           "CONFLUENCE_API_TOKEN": DEFAULT_API_TOKEN, "DAGSTER_HOME": str(home)}
    pages_calls = emu.limits.stats()["by_operation"].get("getPages", {}).get("requests", 0)
    emu.limits.set_faults(latency_ms=30)
    with open(tmp_path / "killed.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "confluence_pipeline.cli", "sync"], env=env,
                                   stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while emu.limits.stats()["by_operation"].get("getPages", {}).get("requests", 0) < pages_calls + 1:
            assert process.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the sync never reached the pages step"
            time.sleep(0.02)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        emu.limits.clear_faults()

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        [killed] = instance.get_runs()
        assert killed.status == dg.DagsterRunStatus.STARTED and killed.tags[PID_TAG] == str(process.pid)

    rerun = subprocess.run([sys.executable, "-m", "confluence_pipeline.cli", "sync"], env=env, capture_output=True,
                           text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    cleared = [line for line in rerun.stdout.splitlines() if killed.run_id in line]
    assert len(cleared) == 1 and "died without finishing: marked failed" in cleared[0]
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        statuses = {run.run_id: run.status for run in instance.get_runs()}
    assert statuses.pop(killed.run_id) == dg.DagsterRunStatus.FAILURE
    assert list(statuses.values()) == [dg.DagsterRunStatus.SUCCESS]
    assert_equals_site(pipeline)
