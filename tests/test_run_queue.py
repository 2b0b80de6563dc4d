"""The run queue holds runs launched from the asset graph too, per site: a Materialize as the UI
sends it (GraphQL launchPipelineExecution of `__ASSET_JOB` with an asset selection) on the
two-site example, queued by deploy/dagster.yaml's coordinator and limits and dequeued by the
daemon's queue loop, each run executed for real by the default run launcher against an emulated
site over HTTP."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster_graphql.test.utils import materialize_assets

from confluence_pipeline.run_tags import JOB_TAG, SITE_TAG, SYNC_TAG
from test_component import EXAMPLE, _load_example
from conftest import start_emulator

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "two_sites"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return copy


def _instance_config() -> dict:
    """deploy/dagster.yaml's run coordinator and run limits, on the test instance's SQLite storage."""
    deploy = yaml.safe_load(DEPLOY.read_text())
    return {"run_coordinator": deploy["run_coordinator"], "concurrency": deploy["concurrency"],
            "telemetry": {"enabled": False}}


def _statuses(instance: dg.DagsterInstance, *run_ids: str) -> list[dg.DagsterRunStatus]:
    return [instance.get_run_by_id(run_id).status for run_id in run_ids]


def test_asset_graph_runs_are_tagged_and_queued_per_site(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emulators = {"acme": start_emulator(seed=7, scale=50), "globex": start_emulator(seed=8, scale=50)}
    emulators["acme"].limits.set_faults(latency_ms=300)  # acme's first run is still in progress below
    try:
        _load_example(project, monkeypatch, emulators)  # the sites' settings and environment
        workspace = project / "workspace.yaml"
        workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": {
            "module_name": "two_sites.definitions", "working_directory": str(project),
            "location_name": "two_sites"}}]}))
        with dg.instance_for_test(overrides=_instance_config()) as instance, \
                WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace)])) as process:
            def launch(site: str) -> str:
                context = WorkspaceRequestContext(instance=instance, current_workspace=process.get_current_workspace(),
                                                  process_context=process, version="", source=None, read_only=False)
                result = materialize_assets(context, [dg.AssetKey([site, "spaces"])])
                launched = result.data["launchPipelineExecution"]
                assert launched["__typename"] == "LaunchRunSuccess", launched
                return launched["run"]["runId"]

            daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)

            def dequeue() -> None:
                list(daemon.run_iteration(process))

            first = launch("acme")
            run = instance.get_run_by_id(first)
            assert run.job_name == "__ASSET_JOB"  # Dagster's name for an asset-graph launch
            # the tags of the site's job for the same assets, and what the run does in words
            assert run.tags[SYNC_TAG] == "acme:incremental" and run.tags[SITE_TAG] == "acme"
            assert run.tags[JOB_TAG] == "materialize acme/spaces (queued as acme_incremental_sync)"
            assert run.status == dg.DagsterRunStatus.QUEUED
            dequeue()
            assert instance.get_run_by_id(first).status != dg.DagsterRunStatus.QUEUED

            second, other = launch("acme"), launch("globex")
            assert instance.get_run_by_id(other).tags[SYNC_TAG] == "globex:incremental"
            dequeue()
            # acme's second run waits for its first; globex's starts beside it
            assert not instance.get_run_by_id(first).is_finished, "acme's first run ended too soon to show the limit"
            assert _statuses(instance, second, other)[0] == dg.DagsterRunStatus.QUEUED
            assert _statuses(instance, other)[0] != dg.DagsterRunStatus.QUEUED

            deadline = time.monotonic() + 600
            while not all(instance.get_run_by_id(r).is_finished for r in (first, second, other)):
                assert time.monotonic() < deadline, _statuses(instance, first, second, other)
                dequeue()
                time.sleep(1)
            assert _statuses(instance, first, second, other) == [dg.DagsterRunStatus.SUCCESS] * 3
            records = {r: instance.get_run_record_by_id(r) for r in (first, second)}
            assert records[second].start_time >= records[first].end_time  # held until the first ended
    finally:
        for emulator in emulators.values():
            emulator.stop()
