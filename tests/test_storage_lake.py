"""The lake: readers beside writers in real OS processes, history (time travel, change feed),
PostgreSQL and S3 placements, migration from the single DuckDB file, maintenance, and the
errors a broken catalog gives."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from confluence_pipeline import readers
from confluence_pipeline.cli import main as cli
from confluence_pipeline.emulator import mutations
from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL
from confluence_pipeline.settings import SettingsError, load_settings
from confluence_pipeline.storage.derived import built_from, read_snapshot, set_built, tables_changed_since
from confluence_pipeline.storage.lake import Lake, LakeError
from confluence_pipeline.storage.maintenance import maintain
from confluence_pipeline.storage.schema import TABLES
from confluence_pipeline.storage.warehouse import Warehouse, to_arrow
from conftest import (WINDOWED, Pipeline, assert_equals_site, fresh_database, make_pipeline, require_postgres,
                      today, under_ci)

READER = """
import json, os, sys, time
import confluence_pipeline
data_dir, stop, mode = sys.argv[1:4]
ok, failed, latencies, errors = 0, 0, [], []
held = confluence_pipeline.connect(data_dir) if mode == "held" else None
while not os.path.exists(stop):
    started = time.perf_counter()
    try:
        con = held or confluence_pipeline.connect(data_dir)
        con.execute("SELECT count(*) FROM pages").fetchall()
        if held is None:
            con.close()
        ok += 1
        latencies.append(time.perf_counter() - started)
    except Exception as exc:
        text = str(exc).splitlines()[0]
        if "No synced data" in text:  # before the first commit: nothing to read yet
            time.sleep(0.1)
            continue
        failed += 1
        errors.append(text)
    time.sleep(0.1)
print(json.dumps({"ok": ok, "failed": failed, "errors": errors[:5], "latencies": latencies}))
"""


def sync_env(pipeline: Pipeline, tmp_path: Path) -> dict[str, str]:
    """`confluence-pipeline sync` of the pipeline's site and data directory (BM25 search alone:
    embeddings would only slow these tests down)."""
    options = yaml.safe_load(pipeline.settings_file.read_text())
    pipeline.settings_file.write_text(yaml.safe_dump({**options, "search": {"semantic": "off"}}))
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "CONFLUENCE_SITE_URL": pipeline.emu.base_url, "CONFLUENCE_EMAIL": DEFAULT_EMAIL,
            "CONFLUENCE_API_TOKEN": DEFAULT_API_TOKEN, "CONFLUENCE_SETTINGS": str(pipeline.settings_file),
            "CONFLUENCE_DATA_DIR": str(pipeline.data_dir), "DAGSTER_HOME": str(home)}


def run_sync_beside_readers(pipeline: Pipeline, env: dict[str, str], stop: Path) -> tuple[str, list[dict]]:
    """`confluence-pipeline sync` in one process, a polling reader and a reader holding its
    connection in two others, reading from before the sync starts until it has ended; returns the
    sync's output and what each reader saw."""
    stop.unlink(missing_ok=True)
    readers_ = [subprocess.Popen([sys.executable, "-c", READER, str(pipeline.data_dir), str(stop), mode],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for mode in ("poll", "held")]
    time.sleep(3.0)  # the readers' imports and first reads
    sync = subprocess.run([sys.executable, "-m", "confluence_pipeline.cli", "sync"], env=env, capture_output=True,
                          text=True, timeout=600)
    time.sleep(1.0)  # and a few reads of what it committed
    stop.touch()
    seen = []
    for reader in readers_:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err[-2000:]
        seen.append(json.loads(out.strip().splitlines()[-1]))
    assert sync.returncode == 0, sync.stdout[-2000:] + sync.stderr[-3000:]
    return sync.stdout, seen


@pytest.mark.slow(60)
def test_readers_in_other_processes_never_fail_a_sync_and_never_fail(pipeline, tmp_path):
    env = sync_env(pipeline, tmp_path)
    # the held reader opens once the lake exists: run a first sync, then read through the next
    assert subprocess.run([sys.executable, "-m", "confluence_pipeline.cli", "sync"], env=env,
                          capture_output=True, timeout=600).returncode == 0
    ws = pipeline.emu.ws
    for page in [c for c in ws.content.values() if c.type == "page" and c.status == "current"][:5]:
        mutations.edit(ws, page.id, title=f"{page.title} (edited)")
    output, seen = run_sync_beside_readers(pipeline, env, tmp_path / "stop-reading")
    # with no --from, a sync does what the schedule does: the windows since the watermarks
    today = pipeline.today()
    assert f"windows since the last sync {today}..{today}" in output
    for reader in seen:
        assert reader["failed"] == 0, reader["errors"]
        assert reader["ok"] >= 20  # it kept reading the whole time
    assert_equals_site(pipeline)


def test_time_travel_and_the_change_feed_show_what_each_sync_changed(pipeline, capsys):
    assert all(r.success for r in pipeline.sync())
    before = readers.snapshots(pipeline.data_dir)[0].id
    ws = pipeline.emu.ws
    pages = [c for c in ws.content.values() if c.type == "page" and c.status == "current"
             and c.id not in {s.homepage_id for s in ws.spaces.values()} and not ws.children(c.id)]
    edited, trashed = pages[0], pages[1]
    old_title = edited.title
    mutations.edit(ws, edited.id, title="A new title for the change feed")
    mutations.trash(ws, trashed.id)
    created = mutations.create(ws, type="page", space_id=edited.space_id, title="Born after the snapshot",
                               body="<p>new</p>")
    assert pipeline.materialize(WINDOWED, today(), today()).success

    feed = {(c.key["id"], c.change) for c in readers.changes(before, tables=["pages"], data_dir=pipeline.data_dir)}
    assert {(edited.id, "update"), (trashed.id, "update"), (created.id, "insert")} <= feed
    untouched = pages[2].id
    assert not any(key == untouched for key, _ in feed)  # written again, same content: no change

    # the same from the command line, as JSON lines, and the copy as of the snapshot before
    assert cli(["changes", "--since", str(before), "--table", "pages", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(r["key"]["id"], r["change"]) for r in lines} == feed
    assert next(r for r in lines if r["key"]["id"] == edited.id)["row"]["title"] == "A new title for the change feed"
    assert cli(["query", f"SELECT title FROM pages WHERE id = '{edited.id}'", "--as-of", str(before)]) == 0
    assert old_title in capsys.readouterr().out
    with readers.connect(pipeline.data_dir) as con:  # the last snapshot
        assert con.execute("SELECT title FROM pages WHERE id = ?", [edited.id]).fetchone() == (edited.title,)

    # every materialization recorded its snapshot, and the snapshot names the asset and the run
    result = pipeline.materialize(["pages"], today(), today())
    event = result.get_asset_materialization_events()[0]
    snapshot = event.materialization.metadata["snapshot_id"].value
    made = next(s for s in readers.snapshots(pipeline.data_dir) if s.id == snapshot)
    assert (made.writer, made.run_id) == ("pages", result.run_id)
    assert cli(["snapshots", "--limit", "3"]) == 0
    assert f"{snapshot:>8}" in capsys.readouterr().out


def test_maintenance_compacts_expires_and_removes_orphans_without_changing_a_row(pipeline):
    for _ in range(2):
        assert all(r.success for r in pipeline.sync())
    lake = pipeline.settings.lake
    with Warehouse(lake, read_only=True) as wh:
        before = {t: wh.run(f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES if t != "sync_state"}
        state = {k: wh.get_state(k) for k in ("watermark:pages", "watermark:attachments")}
    orphan = Path(lake.data_path) / "main" / "pages" / "ducklake-killed-before-its-commit.parquet"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    duckdb.sql(f"COPY (SELECT 1 AS id) TO '{orphan}' (FORMAT parquet)")
    os.utime(orphan, (time.time() - 7200, time.time() - 7200))
    snapshots_before = len(readers.snapshots(pipeline.data_dir))

    report = maintain(lake, retention=timedelta(0))
    assert report.orphans_deleted >= 1 and not orphan.exists()
    assert report.snapshots_expired > 0 and report.snapshots_after < snapshots_before
    assert report.state_rows_dropped > 0  # the superseded watermarks
    with Warehouse(lake, read_only=True) as wh:
        assert {t: wh.run(f"SELECT * FROM {t} ORDER BY ALL") for t in before} == before
        assert {k: wh.get_state(k) for k in state} == state
    assert pipeline.materialize(WINDOWED, today(), today()).success  # and syncs go on
    assert_equals_site(pipeline)


def test_a_derived_table_counts_as_stale_only_when_a_later_snapshot_wrote_one_of_its_inputs(tmp_path):
    lake = Lake.local(tmp_path / "data")
    other_site = dataclasses.replace(lake, schema="other_site")  # the same tables, in the same catalog

    def changed(wh: Warehouse, since: int, tables: list[str]) -> bool:
        written = tables_changed_since(wh, since)
        return written is None or not written.isdisjoint(tables)

    with Warehouse(lake) as wh:
        with wh.transaction():
            start = read_snapshot(wh)
            set_built(wh, "thing", start, "v1")
        assert built_from(wh, "thing", ["pages", "spaces"], "v1") == start
        assert built_from(wh, "thing", ["pages", "spaces"], "v2") is None  # other settings or code
        assert built_from(wh, "other", ["pages"], "v1") is None  # never built
    with Warehouse(other_site) as wh:
        wh.upsert("pages", [{"id": "1", "title": "another site's page", "version": 1}])
    with Warehouse(lake) as wh:
        assert tables_changed_since(wh, start) == {"sync_state"}  # not the other schema's pages
        wh.upsert("spaces", [{"id": "1", "key": "A"}])  # a few rows: inlined in the catalog
        assert changed(wh, start, ["spaces"]) and not changed(wh, start, ["pages"])
        assert built_from(wh, "thing", ["pages", "spaces"], "v1") is None
        with wh.transaction():
            now = read_snapshot(wh)
            wh.insert("pages", to_arrow(TABLES["pages"], [{"id": str(i), "version": 1} for i in range(100)]))
        assert tables_changed_since(wh, now) == {"pages"}  # many rows: a Parquet file
        wh.run("DELETE FROM pages WHERE id = '7'")
        latest = read_snapshot(wh)
        assert tables_changed_since(wh, latest) == set()
        wh.run("DELETE FROM pages WHERE id = '8'")
        assert tables_changed_since(wh, latest) == {"pages"}
        assert not changed(wh, start, ["folders"])
    maintain(lake, retention=timedelta(0))  # `start` expires
    with Warehouse(lake) as wh:
        assert tables_changed_since(wh, start) is None  # its history is gone: what came after is unknown
        assert built_from(wh, "thing", ["folders"], "v1") is None


def test_the_maintenance_job_reports_what_it_removed(pipeline):
    from confluence_pipeline.defs.maintenance import lake_maintenance
    from confluence_pipeline.defs.pipeline import PipelineResource

    assert all(r.success for r in pipeline.sync())
    result = lake_maintenance.execute_in_process(
        resources={"pipeline": PipelineResource(settings_file=str(pipeline.settings_file),
                                                data_dir=str(pipeline.data_dir))},
        run_config={"ops": {"maintain_lake": {"config": {"orphan_grace_minutes": 60}}}})
    assert result.success
    output = next(e for e in result.all_events if e.is_successful_output)
    assert {"files_merged", "snapshots_expired", "orphans_deleted"} <= set(output.step_output_data.metadata)


def test_an_existing_duckdb_file_is_copied_into_the_lake_once(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    legacy = duckdb.connect(str(data / "confluence.duckdb"))
    for table in TABLES.values():
        columns = ", ".join(f'"{c}" {t}' for c, t in table.columns if c != "in_scope")  # an older schema
        legacy.execute(f'CREATE TABLE "{table.name}" ({columns}, PRIMARY KEY ({", ".join(table.key)}))')
    legacy.execute("INSERT INTO pages (id, title, version) VALUES ('7', 'Kept across the move', 3)")
    legacy.execute("""INSERT INTO sync_state VALUES ('watermark:pages', '"2026-12-01T00:00:00+00:00"', now())""")
    legacy.close()
    landing = data / "lake" / "pages" / "window=2026-12-01"
    landing.mkdir(parents=True)
    (landing / "run-0.parquet").write_bytes(b"landing history")

    with Warehouse(Lake.local(data)) as wh:
        assert wh.run("SELECT id, title, version FROM pages") == [("7", "Kept across the move", 3)]
        assert wh.get_state("watermark:pages") == "2026-12-01T00:00:00+00:00"
    assert not (data / "confluence.duckdb").exists() and (data / "confluence.duckdb.migrated").exists()
    assert (data / "landing" / "pages" / "window=2026-12-01" / "run-0.parquet").exists()  # history kept aside
    with Warehouse(Lake.local(data)) as wh:  # once: the next open copies nothing again
        assert wh.count("pages") == 1


def test_a_new_lakes_empty_tables_plan_writes_without_rereading_the_catalog(tmp_path):
    """An empty table whose statistics are not in the catalog costs ~70 catalog queries to plan an
    UPDATE (the ducklake build for DuckDB 1.5.5): a new lake's tables have them from the start,
    from a row that no snapshot shows."""
    with Warehouse(Lake.local(tmp_path / "data")) as wh:
        snapshots = wh.run("SELECT snapshot_id FROM ducklake_snapshots('lake') WHERE snapshot_id > 0")  # 0: the schema
        for (snapshot,) in snapshots:
            for table in ("comments", "attachments", "sync_state"):
                assert wh.run(f"SELECT count(*) FROM {table} AT (VERSION => {snapshot})") == [(0,)]
        with wh.transaction():
            wh.run("CALL enable_logging(level = 'debug')")
            wh.run("UPDATE comments SET in_scope = NOT in_scope")
            wh.run("CALL disable_logging()")
            catalog_queries = wh.run("SELECT count(*) FROM duckdb_logs WHERE type = 'DuckLakeMetadata'")[0][0]
        assert catalog_queries <= 5
        wh.insert("comments", to_arrow(TABLES["comments"], [{"id": "1", "status": "current"}]))
        with wh.transaction():  # a table that exists (another writer made it) is left as it is
            wh.create_table("comments", TABLES["comments"].columns)
        assert wh.run("SELECT id, status FROM comments") == [("1", "current")]


def test_a_damaged_or_missing_catalog_names_the_file_and_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONFLUENCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CONFLUENCE_SETTINGS", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="No synced data at .*catalog.sqlite: run `confluence-pipeline sync`"):
        cli(["query", "SELECT 1"])
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "catalog.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(SystemExit) as raised:
        cli(["query", "SELECT count(*) FROM pages"])
    message = str(raised.value)
    assert "catalog.sqlite" in message and "full sync rebuilds everything from Confluence" in message
    with pytest.raises(SystemExit, match="neither a snapshot id nor an ISO time"):
        cli(["query", "SELECT 1", "--as-of", "last monday"])


def test_a_catalog_password_in_the_settings_file_is_refused(tmp_path):
    settings = tmp_path / "confluence.yaml"
    settings.write_text(yaml.safe_dump({"storage": {"catalog": "postgres:dbname=lake host=db password=hunter2"}}))
    with pytest.raises(SettingsError, match="PGPASSWORD") as raised:
        load_settings(settings, env={})
    assert "hunter2" not in str(raised.value)


# -- PostgreSQL catalog ------------------------------------------------------------------------

@pytest.fixture
def pg_catalog(tmp_path):
    admin = require_postgres("the lake's PostgreSQL catalog tests")
    with fresh_database(admin, f"confluence_lake_test_{os.getpid()}") as name:
        yield f"postgres:dbname={name} host=127.0.0.1 port=5432 user=postgres"
    admin.close()


def configure_storage(pipeline: Pipeline, **storage: str) -> None:
    options = yaml.safe_load(pipeline.settings_file.read_text())
    pipeline.settings_file.write_text(yaml.safe_dump({**options, "storage": storage}))


def test_a_postgres_catalog_takes_the_incremental_and_reconciliation_jobs_at_once(emu, tmp_path, monkeypatch,
                                                                                 pg_catalog):
    pipeline = make_pipeline(emu, tmp_path, monkeypatch)
    configure_storage(pipeline, catalog=pg_catalog)
    assert pipeline.settings.lake.kind == "postgres"
    assert all(r.success for r in pipeline.sync())
    assert_equals_site(pipeline)
    assert not (pipeline.data_dir / "catalog.sqlite").exists()

    ws = emu.ws
    leaves = [c for c in ws.content.values() if c.type == "page" and c.status == "current" and c.parent_id
              and not ws.children(c.id)]
    mutations.trash(ws, leaves[0].id)
    mutations.purge(ws, leaves[0].id)  # only the reconciliation sees this
    for page in leaves[1:6]:
        mutations.edit(ws, page.id, title=f"{page.title} (edited beside a reconciliation)")
    env = sync_env(pipeline, tmp_path)
    # the Dagster instance's own SQLite storage, created once before two processes share it
    subprocess.run([sys.executable, "-c", "import dagster; dagster.DagsterInstance.get()"], env=env, check=True)
    jobs = [subprocess.Popen([sys.executable, "-m", "confluence_pipeline.cli", "sync", *extra], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for extra in ([], ["--reconcile"])]
    for job in jobs:
        out, _ = job.communicate(timeout=600)
        assert job.returncode == 0, out[-4000:]
    assert_equals_site(pipeline, reconciled=True)
    with pipeline.warehouse() as wh:
        assert wh.run("SELECT status FROM pages WHERE id = ?", [leaves[0].id]) == [("purged",)]


def test_an_unreachable_postgres_catalog_fails_the_step_clearly_and_moves_nothing(pipeline, tmp_path):
    configure_storage(pipeline, catalog="postgres:dbname=nowhere host=127.0.0.1 port=1 user=postgres")
    result = pipeline.materialize(["spaces"], raise_on_error=False)
    assert not result.success
    text = result.get_step_failure_events()[0].step_failure_data.error.to_string()
    assert "Cannot open the lake's catalog on PostgreSQL" in text and "nothing was written" in text


# -- S3-compatible object storage (moto's server) ---------------------------------------------

@pytest.fixture
def s3_server(monkeypatch):
    try:
        from moto.server import ThreadedMotoServer
        import boto3
    except ImportError as exc:
        if under_ci():
            pytest.fail(f"moto[server] is missing ({exc}): `pip install -e '.[dev]'`")
        pytest.skip(f"the S3 test needs moto's server (pip install 'moto[server]'): {exc}")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing-secret")
    s3.create_bucket(Bucket="confluence-lake")
    yield f"{host}:{port}", s3
    server.stop()


def test_the_lake_data_can_live_on_s3_compatible_storage(pipeline, s3_server):
    endpoint, s3 = s3_server
    configure_storage(pipeline, data_path="s3://confluence-lake/site-a", s3_endpoint=endpoint, s3_url_style="path",
                      s3_use_ssl="false")
    assert all(r.success for r in pipeline.sync())
    assert_equals_site(pipeline)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="confluence-lake")
            for o in page.get("Contents", [])]
    assert any(k.startswith("site-a/main/pages/") and k.endswith(".parquet") for k in keys)
    assert not list((pipeline.data_dir / "lake").rglob("*.parquet"))  # nothing of it on local disk
    with readers.connect(pipeline.data_dir) as con:
        assert con.execute("SELECT count(*) FROM pages").fetchone()[0] > 0


def test_s3_without_keys_says_which_variables_to_set(pipeline, monkeypatch):
    configure_storage(pipeline, data_path="s3://confluence-lake/x", s3_endpoint="127.0.0.1:1")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(LakeError, match="AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"):
        Warehouse(pipeline.settings.lake).__enter__()


def test_the_deployment_settings_put_the_catalog_on_postgres_and_the_data_on_s3():
    deploy = Path(__file__).resolve().parents[1] / "deploy" / "confluence.yaml"
    lake = load_settings(deploy, env={}).lake
    assert (lake.kind, lake.data_path) == ("postgres", "s3://confluence-lake/site/")
