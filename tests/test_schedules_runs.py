"""Schedules, the change sensor and concurrent runs, for real: the emulated site over HTTP, the
engine writing the lake, and a Dagster instance on PostgreSQL configured by deploy/dagster.yaml.

PostgreSQL must listen on 127.0.0.1:5432 (trust auth, user postgres). Without it these tests
skip and say why, except under CI (the CI variable set), where a missing server fails them.
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Mapping
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster._utils.schedules import cron_string_iterator

from confluence_pipeline.definitions import build_definitions
from confluence_pipeline.defs.jobs import INCREMENTAL_JOB, RECONCILIATION_JOB
from confluence_pipeline.defs.resources import ConfluenceResource
from confluence_pipeline.defs.schedules import (INCREMENTAL_SCHEDULE, RECONCILIATION_SCHEDULE,
                                                build_schedules)
from confluence_pipeline.defs.sensors import CHANGE_SENSOR
from confluence_pipeline.emulator import mutations
from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator
from confluence_pipeline.settings import Settings, SyncSettings
from confluence_pipeline.storage.schema import TABLES
from confluence_pipeline.storage.lake import Lake
from confluence_pipeline.storage.warehouse import Warehouse
from confluence_pipeline.sync.watermark import OVERLAP
from conftest import fresh_database, require_postgres

DEPLOY_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"
ZONE = "America/New_York"
CONTENT = ("pages", "blogposts", "folders", "comments", "attachments", "labels")
TYPES = {"page": "pages", "blogpost": "blogposts", "folder": "folders", "comment": "comments",
         "attachment": "attachments"}
VOLATILE = {"synced_at", "deleted_at", "local_path"}  # when and where a run wrote, not what it found


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """A fresh database for this module, as the DAGSTER_PG_* variables deploy/dagster.yaml reads."""
    admin = require_postgres("the schedule, sensor and concurrency tests")
    with fresh_database(admin, f"confluence_pipeline_test_{os.getpid()}") as name:
        yield {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USERNAME": "postgres",
               "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": name}
    admin.close()


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    anchor = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    emulator = Emulator(seed=11, scale=80, anchor=anchor)
    emulator.start()
    yield emulator
    emulator.stop()


@dataclass
class Site:
    """One data directory and one Dagster home on the module's database, synced from `emu`."""

    emu: Emulator
    instance: dg.DagsterInstance
    settings: Settings

    def definitions(self) -> dg.Definitions:
        return build_definitions()

    def run(self, tags: Mapping[str, str], *, instance: dg.DagsterInstance | None = None,
            raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
        return windowed_job().execute_in_process(instance=instance or self.instance, tags=dict(tags),
                                                 raise_on_error=raise_on_error)

    def tick(self, when: datetime, schedule: str = INCREMENTAL_SCHEDULE) -> dg.RunRequest:
        return evaluate(self.definitions().resolve_schedule_def(schedule), self.instance, when)

    def watermark(self, asset: str) -> datetime:
        with Warehouse(self.settings.lake, read_only=True) as wh:
            return datetime.fromisoformat(wh.get_state(f"watermark:{asset}"))


def evaluate(schedule: dg.ScheduleDefinition, instance: dg.DagsterInstance, when: datetime) -> dg.RunRequest:
    """The run the schedule requests on its tick at `when`."""
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when) as context:
        [request] = schedule.evaluate_tick(context).run_requests or []
    return request


def windowed_job() -> dg.JobDefinition:
    """The incremental job as a launch runs it, for spaces and the windowed assets. The directory's
    unpartitioned assets and the asset checks are left out to keep these tests quick: they keep no
    watermark and change no content row."""
    defs = build_definitions()
    job, graph = defs.resolve_job_def(INCREMENTAL_JOB), defs.resolve_asset_graph()
    windowed = {k for k in job.asset_layer.executable_asset_keys if graph.get(k).partitions_def is not None}
    return job.get_subset(asset_selection={*windowed, dg.AssetKey("spaces")},
                          asset_check_selection=set())


def window_tags(first: str, last: str) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def today(zone: str = ZONE) -> date:
    return datetime.now(timezone.utc).astimezone(ZoneInfo(zone)).date()


def write_settings(path: Path, start: date) -> None:
    path.write_text(yaml.safe_dump({"sync": {"strategy": "scheduled", "interval": "1h", "timezone": ZONE,
                                             "start_date": start.isoformat(),
                                             "max_outage": 2, "step_retries": 0}}))  # a failed run fails in seconds


@pytest.fixture
def site(emu, postgres, tmp_path, monkeypatch) -> Iterator[Site]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_CONFIG, home / "dagster.yaml")
    environment = {**postgres, "DAGSTER_HOME": str(home), "CONFLUENCE_DATA_DIR": str(tmp_path / "data"),
                   "CONFLUENCE_SETTINGS": str(tmp_path / "confluence.yaml"),
                   "CONFLUENCE_SITE_URL": emu.base_url, "CONFLUENCE_EMAIL": DEFAULT_EMAIL,
                   "CONFLUENCE_API_TOKEN": DEFAULT_API_TOKEN}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    write_settings(tmp_path / "confluence.yaml", today() - timedelta(days=2))
    instance = dg.DagsterInstance.from_config(str(home))
    instance.wipe()  # the database is shared by the module's tests
    settings = Settings(sync=SyncSettings(strategy="scheduled", interval="1h", timezone=ZONE,
                                          start_date=today() - timedelta(days=2)), data_dir=tmp_path / "data")
    yield Site(emu, instance, settings)
    emu.limits.clear_faults()
    instance.dispose()


# -- ground truth ------------------------------------------------------------------------------------

def site_state(emu: Emulator) -> dict[str, dict[str, tuple]]:
    """Per content table, id -> (status, version) of what the account must find on the site."""
    state: dict[str, dict[str, tuple]] = {table: {} for table in TYPES.values()}
    with emu.ws.lock:
        for item in emu.ws.content.values():
            if item.status == "draft" or (item.type == "comment" and item.status != "current"):
                continue
            state[TYPES[item.type]][item.id] = (item.status, item.version.number)
    return state


def stored_state(lake: Lake) -> dict[str, dict[str, tuple]]:
    with Warehouse(lake, read_only=True) as wh:
        return {table: {r[0]: (r[1], r[2]) for r in wh.con.execute(
            f"SELECT id, status, version FROM {table} WHERE status <> 'purged'").fetchall()}
            for table in TYPES.values()}


def table_contents(lake: Lake) -> dict[str, list[tuple]]:
    """Every row of every content table, without the columns that say when or where it was written."""
    out = {}
    with Warehouse(lake, read_only=True) as wh:
        for table in ("spaces", *CONTENT):
            columns = ", ".join(f'"{c}"' for c in TABLES[table].column_names if c not in VOLATILE)
            out[table] = wh.con.execute(f"SELECT {columns} FROM {table} ORDER BY ALL").fetchall()
    return out


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


# -- schedules ---------------------------------------------------------------------------------------

def test_schedule_ticks_at_local_midnight_on_both_sides_of_the_dst_change(site):
    settings = Settings(sync=SyncSettings(strategy="scheduled", interval="24h", timezone=ZONE,
                                          start_date=date(2026, 1, 1)))
    [schedule, _] = build_schedules(settings, [dg.AssetKey(name) for name in CONTENT])
    ticks = cron_string_iterator(datetime(2026, 3, 6, 12, tzinfo=timezone.utc).timestamp(),
                                 schedule.cron_schedule, schedule.execution_timezone)
    march = [next(ticks) for _ in range(3)]  # New York springs forward on Sunday 8 March, 02:00
    assert [t.astimezone(ZoneInfo(ZONE)).strftime("%m-%d %H:%M") for t in march] == [
        "03-07 00:00", "03-08 00:00", "03-09 00:00"]
    assert [t.astimezone(timezone.utc).hour for t in march] == [5, 5, 4]

    requests = [evaluate(schedule, site.instance, tick) for tick in march]
    # nothing synced yet: from the first window to the window each tick opens, in local days
    assert [r.tags[ASSET_PARTITION_RANGE_START_TAG] for r in requests] == ["2026-01-01"] * 3
    assert [r.tags[ASSET_PARTITION_RANGE_END_TAG] for r in requests] == [
        "2026-03-07", "2026-03-08", "2026-03-09"]
    assert len({r.run_key for r in requests}) == 3

    [hourly, _] = build_schedules(settings.model_copy(update={"sync": settings.sync.model_copy(
        update={"interval": "1h"})}), [dg.AssetKey(name) for name in CONTENT])

    def local_days(first: datetime, hours: int) -> list[str]:
        ticks = cron_string_iterator(first.timestamp(), hourly.cron_schedule, hourly.execution_timezone)
        return [next(ticks).astimezone(ZoneInfo(ZONE)).date().isoformat() for _ in range(hours)]

    assert local_days(datetime(2026, 3, 8, 4, 30, tzinfo=timezone.utc), 24).count("2026-03-08") == 23
    assert local_days(datetime(2026, 11, 1, 3, 30, tzinfo=timezone.utc), 26).count("2026-11-01") == 25


def test_a_failed_run_moves_no_watermark_and_the_next_tick_catches_up_exactly(site, monkeypatch):
    first = site.tick(datetime.now(timezone.utc))
    assert (first.tags[ASSET_PARTITION_RANGE_START_TAG], first.tags[ASSET_PARTITION_RANGE_END_TAG]) == (
        site.settings.sync.start_date.isoformat(), today().isoformat())
    assert site.run(first.tags).success
    assert stored_state(site.settings.lake) == site_state(site.emu)
    watermarks = {asset: site.watermark(asset) for asset in ("pages", "comments")}

    ws = site.emu.ws
    page = next(c for c in ws.content.values() if c.type == "page" and c.status == "current")
    mutations.edit(ws, page.id, body="<p>edited before the failed run</p>")
    comment = mutations.create(ws, type="comment", container_id=page.id, title="late", body="<p>late</p>")

    real_before = site.emu.limits.before

    def fail_from_comments_on(operation_id: str, *, oauth: bool) -> dict[str, str]:
        if operation_id == "getFooterComments":  # the comments step has begun: from now on every call fails
            site.emu.limits.set_faults(error_rate_5xx=1.0, error_5xx_retry_after=0)
        return real_before(operation_id, oauth=oauth)

    monkeypatch.setattr(site.emu.limits, "before", fail_from_comments_on)
    failed = site.run(site.tick(datetime.now(timezone.utc)).tags, raise_on_error=False)
    monkeypatch.setattr(site.emu.limits, "before", real_before)
    site.emu.limits.clear_faults()

    assert not failed.success
    assert {"spaces", "pages", "blogposts"} <= materialized(failed)
    assert "comments" not in materialized(failed)
    assert site.watermark("comments") == watermarks["comments"]  # the failed asset keeps its watermark
    assert site.watermark("pages") > watermarks["pages"]

    catch_up = site.tick(datetime.now(timezone.utc))
    assert catch_up.tags[ASSET_PARTITION_RANGE_START_TAG] == today().isoformat()
    result = site.run(catch_up.tags)
    assert result.success
    assert stored_state(site.settings.lake) == site_state(site.emu)
    assert comment.id in stored_state(site.settings.lake)["comments"]
    comments = result.asset_materializations_for_node("comments")[-1]
    assert comments.metadata["fetched_since"].value == (watermarks["comments"] - OVERLAP).isoformat()


# -- the change sensor -------------------------------------------------------------------------------

def test_change_sensor_requests_one_run_per_change(site):
    sensor = site.definitions().resolve_sensor_def(CHANGE_SENSOR)
    confluence = ConfluenceResource(mode="api_token", site_url=site.emu.base_url, email=DEFAULT_EMAIL,
                                    api_token=DEFAULT_API_TOKEN)

    def tick(cursor: str | None) -> SensorExecutionData:
        site.emu.limits.reset_stats()
        with dg.build_sensor_context(instance=site.instance, cursor=cursor,
                                     resources={"confluence": confluence}) as context:
            data = sensor.evaluate_tick(context)
        assert site.emu.limits.stats()["total_requests"] == 1  # one cheap question per tick
        return data

    never_synced = tick(None)  # switched on before any sync: the site is new to the pipeline
    [initial] = never_synced.run_requests
    assert site.run(initial.tags).success

    assert not tick(never_synced.cursor).run_requests  # nothing changed
    baseline = tick(None)  # a sensor reset: the last sync already holds the newest change
    assert not baseline.run_requests and baseline.cursor == never_synced.cursor

    ws = site.emu.ws
    page = next(c for c in ws.content.values() if c.type == "page" and c.status == "current")
    mutations.edit(ws, page.id, title=f"{page.title} (edited)")
    changed = tick(baseline.cursor)
    [request] = changed.run_requests
    assert request.run_key == changed.cursor == f"page:{page.id}:v{page.version.number}"
    assert (request.tags[ASSET_PARTITION_RANGE_START_TAG], request.tags[ASSET_PARTITION_RANGE_END_TAG]) == (
        today().isoformat(), today().isoformat())
    assert site.run(request.tags).success
    assert stored_state(site.settings.lake)["pages"][page.id] == ("current", page.version.number)

    assert not tick(changed.cursor).run_requests  # never twice for one change
    assert not tick(None).run_requests

    # an edit in an archived space counts too (CQL leaves archived spaces out unless asked)
    archived = next(c for c in ws.content.values() if c.type == "page" and c.status == "current"
                    and ws.spaces[c.space_id].status == "archived")
    mutations.edit(ws, archived.id, title=f"{archived.title} (edited)")
    [request] = tick(changed.cursor).run_requests
    assert request.run_key == f"page:{archived.id}:v{archived.version.number}"


# -- reconciliation ----------------------------------------------------------------------------------

def step_times(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    """step key -> (start, end) of each step the run finished."""
    starts, times = {}, {}
    kind = dg.DagsterEventType
    for entry in instance.all_logs(run_id, of_type={kind.STEP_START, kind.STEP_SUCCESS, kind.STEP_FAILURE}):
        if entry.dagster_event.event_type == kind.STEP_START:
            starts[entry.step_key] = entry.timestamp
        else:
            times[entry.step_key] = (starts[entry.step_key], entry.timestamp)
    return times


def test_reconciliation_finds_what_timestamps_cannot_show_then_rebuilds_access(site):
    assert site.run(site.tick(datetime.now(timezone.utc)).tags).success
    ws = site.emu.ws
    leaves = [c for c in ws.content.values() if c.type == "page" and c.status == "current" and c.parent_id
              and not ws.children(c.id)]
    purged, restricted = leaves[0], leaves[1]
    mutations.trash(ws, purged.id)
    mutations.purge(ws, purged.id)  # between two syncs: no trash listing ever shows it
    reader = next(u for u in ws.users.values() if not u.is_admin)
    mutations.set_restriction(ws, restricted.id, "read", user_ids=[reader.account_id])  # no new version
    group = next(iter(ws.groups))
    mutations.change_group_members(ws, group, add=[reader.account_id])

    assert site.definitions().resolve_schedule_def(RECONCILIATION_SCHEDULE).execution_timezone == ZONE
    request = site.tick(datetime.now(timezone.utc), RECONCILIATION_SCHEDULE)
    result = site.definitions().resolve_job_def(RECONCILIATION_JOB).execute_in_process(
        instance=site.instance, tags=request.tags)
    assert result.success

    with Warehouse(site.settings.lake, read_only=True) as wh:
        assert wh.con.execute("SELECT status FROM pages WHERE id = ?", [purged.id]).fetchone() == ("purged",)
        assert wh.con.execute("SELECT count(*) FROM content_restrictions WHERE content_id = ? AND "
                              "operation = 'read' AND principal_id = ?",
                              [restricted.id, reader.account_id]).fetchone() == (1,)
        assert wh.con.execute("SELECT count(*) FROM group_members WHERE group_id = ? AND account_id = ?",
                              [group, reader.account_id]).fetchone() == (1,)
    times = step_times(site.instance, result.run_id)
    assets = {k.to_user_string() for k in result.job_def.asset_layer.executable_asset_keys}
    parents = assets - {"content_access"}
    assert "content_reconciliation" in parents
    assert times["content_access"][0] >= max(times[step][1] for step in parents)  # then access is rebuilt


# -- concurrency -------------------------------------------------------------------------------------

RUN_JOB = """
import json, sys
import dagster as dg
from test_schedules_runs import window_tags, windowed_job
with dg.DagsterInstance.get() as instance:
    result = windowed_job().execute_in_process(instance=instance, tags=window_tags(*sys.argv[1:]),
                                               raise_on_error=False)
print(json.dumps({"run_id": result.run_id, "success": result.success}))
"""


def test_a_backfill_next_to_a_scheduled_run_write_side_by_side_and_lose_nothing(site, tmp_path, monkeypatch):
    start = today() - timedelta(days=6)
    write_settings(tmp_path / "confluence.yaml", start)
    backfill, scheduled = (start.isoformat(), today().isoformat()), (today().isoformat(), today().isoformat())

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                                    os.environ.get("PYTHONPATH")]))}
    launches = [subprocess.Popen([sys.executable, "-W", "ignore", "-c", RUN_JOB, *window], env=env,
                                 cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for window in (backfill, scheduled)]
    outcomes = [launch.communicate(timeout=120) for launch in launches]
    run_ids = []
    for launch, (out, err) in zip(launches, outcomes):
        assert launch.returncode == 0, err[-3000:]
        outcome = json.loads(out.strip().splitlines()[-1])
        assert outcome["success"], err[-3000:]
        assert "Could not set lock" not in err and "Conflicting lock" not in err, err[-3000:]
        run_ids.append(outcome["run_id"])

    nodes = {node.name for node in windowed_job().graph.node_defs}
    assert [set(step_times(site.instance, run_id)) for run_id in run_ids] == [nodes, nodes]
    steps = sorted((began, ended, f"{run_id[:8]}:{step}") for run_id in run_ids
                   for step, (began, ended) in step_times(site.instance, run_id).items())
    overlaps = [(a[2], b[2]) for a, b in zip(steps, steps[1:]) if b[0] < a[1]]
    assert overlaps, "the two runs' steps never ran at the same time"  # no pool holds one back
    assert stored_state(site.settings.lake) == site_state(site.emu)  # no lost row

    # the same two runs one after the other, into another data directory; the scheduled run first,
    # as the race above may have had it: its watermark must not make the backfill skip older windows
    monkeypatch.setenv("CONFLUENCE_DATA_DIR", str(tmp_path / "sequential"))
    with dg.DagsterInstance.ephemeral() as instance:
        for window in (scheduled, backfill):
            assert site.run(window_tags(*window), instance=instance).success
    sequential = Lake.local(tmp_path / "sequential")
    assert table_contents(site.settings.lake) == table_contents(sequential)
