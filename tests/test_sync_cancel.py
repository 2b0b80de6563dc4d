"""Cancelling a run, end to end: a `confluence-pipeline sync` whose attachment downloads sit in a
30 s Retry-After wait is cancelled the way the UI cancels a run (the run coordinator asks the run
launcher to terminate it). The run ends CANCELED, the process exits, the interrupted step stored
nothing, and the next sync catches up exactly."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from confluence_pipeline.emulator import mutations
from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL
from confluence_pipeline.storage.schema import TABLES
from conftest import assert_equals_site, make_pipeline

DOWNLOAD = "downloadAttatchment"  # the spec's operationId, typo included


def rows_by_table(pipeline) -> dict[str, list[str]]:
    """Every row of every table, in a comparable form; of sync_state, the attachments step's keys."""
    with pipeline.warehouse() as wh:
        tables = {name: sorted(map(repr, wh.run(f'SELECT * FROM "{name}"'))) for name in TABLES if name != "sync_state"}
        tables["sync_state:attachments"] = sorted(map(repr, wh.run(
            "SELECT * FROM sync_state WHERE key LIKE '%:attachments'")))
    return tables


def downloads(emu) -> int:
    return sum(emu.limits.stats()["received"].get(DOWNLOAD, {}).values())


def test_a_sync_cancelled_while_its_downloads_wait_out_a_429_stops_and_stores_nothing_of_the_step(
        emu, tmp_path, monkeypatch):
    pipeline = make_pipeline(emu, tmp_path, monkeypatch)
    assert all(result.success for result in pipeline.sync())
    with emu.ws.lock:
        page = min(c.id for c in emu.ws.content.values() if c.type == "page" and c.status == "current")
    for i in range(12):  # more than the 4 download threads take at once: later ones meet the 429s
        mutations.create(emu.ws, type="attachment", title=f"cancel-probe-{i}.csv", container_id=page,
                         data=f"n\n{i}\n".encode())
    before = rows_by_table(pipeline)

    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "CONFLUENCE_SITE_URL": emu.base_url, "CONFLUENCE_EMAIL": DEFAULT_EMAIL,
           "CONFLUENCE_API_TOKEN": DEFAULT_API_TOKEN, "DAGSTER_HOME": str(home)}
    downloaded = downloads(emu)
    emu.limits.set_faults(latency_ms=300)  # downloads in flight long enough to storm the next ones
    log_path = tmp_path / "cancelled.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "confluence_pipeline.cli", "sync"], env=env,
                                   stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 300
        while downloads(emu) == downloaded:
            assert process.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "the sync never reached the downloads"
            time.sleep(0.01)
        emu.limits.set_faults(storm_429=10**6, storm_retry_after=30, latency_ms=300)
        while emu.limits.stats()["rejected"]["429"] == 0:
            assert time.monotonic() < deadline and process.poll() is None, log_path.read_text()[-3000:]
            time.sleep(0.05)
        time.sleep(1)  # every download thread is now in its 30 s wait
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            [run] = instance.get_runs()
            assert run.status == dg.DagsterRunStatus.STARTED
            cancelled_at = time.monotonic()
            instance.run_coordinator.cancel_run(run.run_id)  # what the UI's Terminate does
            while instance.get_run_by_id(run.run_id).status != dg.DagsterRunStatus.CANCELED:
                assert time.monotonic() - cancelled_at < 60, instance.get_run_by_id(run.run_id).status
                time.sleep(0.1)
            process.wait(timeout=60)
            events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        emu.limits.clear_faults()

    output = log_path.read_text()
    assert process.returncode == 1, output[-3000:]
    assert "attachments" not in {e.step_key for e in events if e.is_step_success}
    assert any(e.is_step_failure and e.step_key == "attachments" for e in events), output[-3000:]
    assert any(e.event_type == dg.DagsterEventType.RUN_CANCELED for e in events)
    unfinished = {e.step_key for e in events if e.step_key} - {e.step_key for e in events if e.is_step_success}
    after = rows_by_table(pipeline)
    changed = {table for table in before if after[table] != before[table]}
    assert not changed & unfinished, f"tables written by steps that did not finish: {changed & unfinished}"
    assert after["attachments"] == before["attachments"]
    assert after["sync_state:attachments"] == before["sync_state:attachments"]

    assert all(result.success for result in pipeline.sync())  # the next sync catches up exactly
    assert_equals_site(pipeline)
