"""Wiring of the sync automation: jobs, schedules by strategy, the change sensor, derived assets.

No PostgreSQL needed here; the runs, ticks and concurrency are in test_schedules_runs.py."""

from pathlib import Path

import dagster as dg
import pytest
import yaml

from confluence_pipeline.defs.assets import build_content_assets
from confluence_pipeline.defs.jobs import INCREMENTAL_JOB, RECONCILED_ASSETS, RECONCILIATION_JOB, build_sync_jobs
from confluence_pipeline.defs.partitions import content_partitions
from confluence_pipeline.defs.pipeline import PipelineResource
from confluence_pipeline.defs.reconcile import RECONCILIATION_ASSET, build_reconciliation_asset
from confluence_pipeline.defs.resources import ConfluenceResource
from confluence_pipeline.defs.schedules import INCREMENTAL_SCHEDULE, RECONCILIATION_SCHEDULE
from confluence_pipeline.defs.sensors import (CHANGE_SENSOR, DERIVED_ASSETS, DERIVED_AUTOMATION_SENSOR,
                                              build_sensors, with_derived_automation)
from confluence_pipeline.definitions import build_definitions
from confluence_pipeline.run_tags import SYNC_TAG
from confluence_pipeline.settings import Settings, SettingsError, SyncSettings
from confluence_pipeline.storage.schema import TABLES

CONTENT = {"pages", "blogposts", "folders", "comments", "attachments", "labels"}


def definitions_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **sync: str) -> dg.Definitions:
    settings_file = tmp_path / "confluence.yaml"
    settings_file.write_text(yaml.safe_dump({"sync": sync}))
    monkeypatch.setenv("CONFLUENCE_SETTINGS", str(settings_file))
    monkeypatch.setenv("CONFLUENCE_DATA_DIR", str(tmp_path / "data"))
    return build_definitions()


def job_assets(defs: dg.Definitions, name: str) -> set[str]:
    return {k.to_user_string() for k in defs.resolve_job_def(name).asset_layer.executable_asset_keys}


def test_scheduled_strategy_runs_the_incremental_job_in_the_configured_zone(tmp_path, monkeypatch):
    defs = definitions_with(tmp_path, monkeypatch, strategy="scheduled", interval="6h",
                            timezone="Europe/Berlin")

    assert CONTENT | {"spaces"} <= job_assets(defs, INCREMENTAL_JOB)
    # every parent of what the job materializes is in it: on a fresh install the UI's Materialize finds
    # no upstream asset "not materialized yet" (content_reconciliation lists nothing in these runs)
    incremental = job_assets(defs, INCREMENTAL_JOB)
    graph = defs.resolve_asset_graph()
    parents = {p.to_user_string() for k in incremental for p in graph.get(dg.AssetKey.from_user_string(k)).parent_keys}
    assert RECONCILIATION_ASSET.to_user_string() in incremental and parents <= incremental, parents - incremental
    assert defs.resolve_job_def(INCREMENTAL_JOB).partitions_def == content_partitions(
        Settings(sync=SyncSettings(timezone="Europe/Berlin")))
    present = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert job_assets(defs, RECONCILIATION_JOB) == {RECONCILIATION_ASSET.to_user_string(),
                                                    *(set(RECONCILED_ASSETS) & present)}
    assert defs.resolve_job_def(INCREMENTAL_JOB).run_tags[SYNC_TAG] == "incremental"
    # one writer at a time anyway: a run's steps share one process
    for job in (INCREMENTAL_JOB, RECONCILIATION_JOB):
        assert defs.resolve_job_def(job).executor_def.name == "in_process"

    incremental = defs.resolve_schedule_def(INCREMENTAL_SCHEDULE)
    assert (incremental.cron_schedule, incremental.execution_timezone) == ("0 */6 * * *", "Europe/Berlin")
    assert incremental.job_name == INCREMENTAL_JOB
    assert incremental.default_status == dg.DefaultScheduleStatus.RUNNING
    reconciliation = defs.resolve_schedule_def(RECONCILIATION_SCHEDULE)
    assert (reconciliation.job_name, reconciliation.default_status) == (RECONCILIATION_JOB,
                                                                        dg.DefaultScheduleStatus.RUNNING)
    assert reconciliation.execution_timezone == "Europe/Berlin"

    sensor = defs.resolve_sensor_def(CHANGE_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED  # off until switched on in the UI
    assert sensor.job_name == INCREMENTAL_JOB
    automation = defs.resolve_sensor_def(DERIVED_AUTOMATION_SENSOR)
    assert automation.default_status == dg.DefaultSensorStatus.RUNNING
    derived = automation.asset_selection.resolve(defs.resolve_asset_graph())
    assert {k.to_user_string() for k in derived} == set(DERIVED_ASSETS) & present


def test_manual_strategy_defines_the_same_job_and_runs_nothing(tmp_path, monkeypatch):
    defs = definitions_with(tmp_path, monkeypatch, strategy="manual", interval="0 7 * * 1-5", timezone="UTC")

    assert CONTENT | {"spaces"} <= job_assets(defs, INCREMENTAL_JOB)
    for name in (INCREMENTAL_SCHEDULE, RECONCILIATION_SCHEDULE):
        assert defs.resolve_schedule_def(name).default_status == dg.DefaultScheduleStatus.STOPPED
    assert defs.resolve_schedule_def(INCREMENTAL_SCHEDULE).cron_schedule == "0 7 * * 1-5"
    assert defs.resolve_sensor_def(CHANGE_SENSOR).default_status == dg.DefaultSensorStatus.STOPPED


def test_the_change_sensor_ticks_at_the_configured_interval(tmp_path, monkeypatch):
    defs = definitions_with(tmp_path, monkeypatch, strategy="manual", sensor_interval=12)
    sensor = defs.resolve_sensor_def(CHANGE_SENSOR)
    assert sensor.minimum_interval_seconds == 12
    assert "Every 12 s" in sensor.description
    default = definitions_with(tmp_path, monkeypatch, strategy="manual").resolve_sensor_def(CHANGE_SENSOR)
    assert default.minimum_interval_seconds == 30


def test_a_sensor_interval_below_five_seconds_is_refused_with_the_fix(tmp_path, monkeypatch):
    with pytest.raises(Exception, match=r"sensor_interval.*from 5 to 86400"):
        definitions_with(tmp_path, monkeypatch, strategy="manual", sensor_interval=1)


def _directory_stand_ins() -> list[dg.AssetsDefinition]:
    """Stand-ins for the directory assets, with the names and lineage the jobs look for."""
    @dg.asset
    def group_members() -> None: ...

    @dg.asset
    def space_permissions() -> None: ...

    @dg.asset(deps=["pages", "comments", group_members, space_permissions, RECONCILIATION_ASSET])
    def content_access() -> None: ...

    return [group_members, space_permissions, content_access]


def _graph() -> tuple[dg.Definitions, list[dg.AssetsDefinition], dg.PartitionsDefinition]:
    """The content graph with the directory stand-ins, wired as definitions.py wires it."""
    partitions = content_partitions(Settings())
    content = build_content_assets(partitions)
    reconciliation = build_reconciliation_asset([k for a in content[1:] for k in a.keys])
    assets = with_derived_automation([*content, reconciliation, *_directory_stand_ins()], partitions)
    defs = dg.Definitions(assets=assets, jobs=build_sync_jobs(assets, partitions),
                          sensors=build_sensors(Settings(), assets, partitions),
                          resources={"confluence": ConfluenceResource(mode="demo"),
                                     "pipeline": PipelineResource()})
    return defs, assets, partitions


def test_reconciliation_refreshes_the_directory_assets_when_they_exist():
    defs, _, _ = _graph()

    assert job_assets(defs, RECONCILIATION_JOB) == {"content_reconciliation", "group_members",
                                                    "space_permissions", "content_access"}
    # the unpartitioned assets ride along with every incremental run; the reconciliation asset too, as a
    # step that lists nothing there (so that content_access keeps its order and has no parent outside)
    assert job_assets(defs, INCREMENTAL_JOB) == CONTENT | {"spaces", "group_members", "space_permissions",
                                                           "content_access", "content_reconciliation"}


def test_derived_assets_follow_their_parents_even_before_todays_window_is_synced():
    defs, _, _ = _graph()
    sensors = list(defs.sensors or [])
    assert [s.name for s in sensors] == [CHANGE_SENSOR, DERIVED_AUTOMATION_SENSOR]
    assert sensors[1].default_status == dg.DefaultSensorStatus.RUNNING

    with dg.instance_for_test() as instance:
        for name in ("group_members", "space_permissions", "content_reconciliation"):
            instance.report_runless_asset_event(dg.AssetMaterialization(name))
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert first.total_requested == 0  # nothing changed since the automation started

        instance.report_runless_asset_event(dg.AssetMaterialization("group_members"))
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        # no window of pages or comments was ever synced: that does not hold content_access back
        assert after.get_num_requested(dg.AssetKey("content_access")) == 1
        assert after.total_requested == 1


def test_every_automation_says_what_it_does_in_the_ui(tmp_path, monkeypatch):
    defs = definitions_with(tmp_path, monkeypatch, strategy="scheduled", interval="1h")
    repository = defs.get_repository_def()
    automations = [*repository.schedule_defs, *repository.sensor_defs]
    assert {a.name for a in automations} >= {INCREMENTAL_SCHEDULE, RECONCILIATION_SCHEDULE, CHANGE_SENSOR,
                                             DERIVED_AUTOMATION_SENSOR}
    assert {a.name: a.description for a in automations if not (a.description or "").strip()} == {}
    assert "1h" in defs.resolve_schedule_def(INCREMENTAL_SCHEDULE).description


def test_the_catalog_shows_each_tables_columns_owners_and_code(tmp_path, monkeypatch):
    settings_file = tmp_path / "confluence.yaml"
    settings_file.write_text(yaml.safe_dump({"owners": ["data@example.com", "team:knowledge"],
                                             "tags": {"domain": "knowledge"}}))
    monkeypatch.setenv("CONFLUENCE_SETTINGS", str(settings_file))
    graph = build_definitions().get_repository_def().asset_graph

    pages = graph.get(dg.AssetKey("pages"))
    schema = pages.metadata["dagster/column_schema"]
    assert [c.name for c in schema.columns] == TABLES["pages"].column_names
    assert next(c for c in schema.columns if c.name == "id").constraints.unique
    assert [c.name for c in graph.get(dg.AssetKey("documents")).metadata["dagster/column_schema"].columns] == \
        TABLES["documents"].column_names
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == ["data@example.com", "team:knowledge"], key
        assert node.tags["layer"] in ("content", "directory", "search") and node.tags["domain"] == "knowledge", key
        source = node.metadata["dagster/code_references"].code_references[0]
        assert Path(source.file_path).is_file() and source.file_path.endswith(".py"), key

    settings_file.write_text(yaml.safe_dump({"owners": ["knowledge team"]}))
    with pytest.raises(SettingsError, match="owners.*team:<name>"):
        build_definitions()
