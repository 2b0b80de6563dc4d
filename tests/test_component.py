"""ConfluenceComponent as a Dagster user meets it: `dg scaffold defs`, `dg check defs` and `dg list defs`
on a project, and the two-site example (examples/two_sites) syncing two emulated sites over HTTP into
lakes of their own, with one site's failure leaving the other's run alone."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from confluence_pipeline import search_cli
from confluence_pipeline.cli import build_parser
from confluence_pipeline.sites import site_settings
from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL
from confluence_pipeline.storage.warehouse import Warehouse
from confluence_pipeline.run_tags import SYNC_TAG

from conftest import QUIET, START_DATE, expected_rows, start_emulator, stored_rows

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "two_sites"
DG = str(Path(sys.executable).with_name("dg"))
SITES = ("acme", "globex")


def dg_run(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([DG, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example project (its data stays in the copy)."""
    copy = tmp_path / "two_sites"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return copy


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {**os.environ, "DAGSTER_HOME": str(home), "PATH": f"{Path(DG).parent}:{os.environ['PATH']}"}


def test_dg_scaffolds_checks_and_lists_a_site(project: Path, env: dict[str, str]) -> None:
    for site in SITES:
        shutil.rmtree(project / "two_sites" / "defs" / site)
    scaffold = dg_run(project, "scaffold", "defs", "confluence_pipeline.ConfluenceComponent", "initech", env=env)
    assert scaffold.returncode == 0, scaffold.stderr
    defs_yaml = project / "two_sites" / "defs" / "initech" / "defs.yaml"
    attributes = yaml.safe_load(defs_yaml.read_text())["attributes"]
    assert attributes["name"] == "initech"
    assert attributes["auth"]["api_token_env"] == "INITECH_API_TOKEN"  # a name, never a token
    assert attributes["auth"]["site_url"] == "{{ env.INITECH_SITE_URL }}"
    assert {"sync", "filters", "storage", "change_sensor"} <= set(attributes)

    site_env = {**env, "INITECH_SITE_URL": "https://initech.atlassian.net", "INITECH_EMAIL": "ops@initech.com"}
    check = dg_run(project, "check", "defs", env=site_env)
    assert check.returncode == 0, check.stdout + check.stderr

    listed = dg_run(project, "list", "defs", "--json", env=site_env)
    assert listed.returncode == 0, listed.stderr
    defs = json.loads(listed.stdout)
    keys = {a["asset_key"] for a in defs["assets"]}
    assert {"initech/pages", "initech/content_access", "initech/search_index"} <= keys
    assert {j["name"] for j in defs["jobs"]} >= {"initech_incremental_sync", "initech_reconciliation",
                                                 "initech_lake_maintenance"}
    assert {s["name"] for s in defs["schedules"]} >= {"initech_incremental_sync_schedule"}
    assert {s["name"] for s in defs["sensors"]} >= {"initech_confluence_changes"}
    assert {r["name"] for r in defs["resources"]} == {"initech_confluence", "initech_pipeline"}

    # a token written into the file is refused, with the fix
    attributes["auth"]["api_token"] = "ATATT-not-a-real-token"
    defs_yaml.write_text(yaml.safe_dump({"type": "confluence_pipeline.ConfluenceComponent",
                                         "attributes": attributes}))
    refused = dg_run(project, "check", "defs", env=site_env)
    assert refused.returncode != 0
    assert "secrets never go in defs.yaml" in refused.stdout + refused.stderr
    assert "auth.api_token_env" in refused.stdout + refused.stderr


def _sync(defs: dg.Definitions, site: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    today = datetime.now(timezone.utc).date().isoformat()
    return defs.resolve_job_def(f"{site}_incremental_sync").execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=False,
        tags={ASSET_PARTITION_RANGE_START_TAG: START_DATE.isoformat(), ASSET_PARTITION_RANGE_END_TAG: today})


def _load_example(project: Path, monkeypatch: pytest.MonkeyPatch, emulators: dict) -> dg.Definitions:
    for site in SITES:
        defs_yaml = project / "two_sites" / "defs" / site / "defs.yaml"
        doc = yaml.safe_load(defs_yaml.read_text())
        # three daily windows (not every day since the example's start date), BM25 only (no embedding
        # model to load), and a failing site gives up in seconds
        doc["attributes"]["search"] = {"semantic": "off"}
        doc["attributes"]["sync"].update(start_date=START_DATE.isoformat(), max_outage=2, step_retries=0)
        defs_yaml.write_text(yaml.safe_dump(doc))
        monkeypatch.setenv(f"{site.upper()}_SITE_URL", emulators[site].base_url)
        monkeypatch.setenv(f"{site.upper()}_EMAIL", DEFAULT_EMAIL)
        monkeypatch.setenv(f"{site.upper()}_API_TOKEN", DEFAULT_API_TOKEN)
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))  # as `dg` does: the project's package is importable
    for module in [m for m in sys.modules if m.split(".")[0] == "two_sites"]:
        monkeypatch.delitem(sys.modules, module)  # another test's copy
    return dg.load_from_defs_folder(path_within_project=project / "two_sites")


def test_two_sites_sync_into_their_own_lakes(project: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    emulators = {"acme": start_emulator(seed=7, scale=50), "globex": start_emulator(seed=8, scale=50)}
    try:
        defs = _load_example(project, monkeypatch, emulators)
        with dg.instance_for_test() as instance:
            results = {site: _sync(defs, site, instance) for site in SITES}
        for site in SITES:
            assert results[site].success, site
            run = results[site].dagster_run
            # each site its own run-queue value: one site's sync never queues behind the other's
            assert run.tags[SYNC_TAG] == f"{site}:incremental"
            settings = site_settings(site)
            assert settings.lake.schema == site
            assert settings.lake.catalog == f"sqlite:{project / 'data' / site / 'catalog.sqlite'}"
            with Warehouse(settings.lake, read_only=True) as wh:
                stored = stored_rows(wh)
            truth = expected_rows(emulators[site].ws)
            assert stored["pages"] and set(stored["pages"]) == set(truth["pages"]), site
            assert set(stored["spaces"]) == set(truth["spaces"]), site
        # the two lakes hold two different sites
        titles = {}
        for site in SITES:
            with Warehouse(site_settings(site).lake, read_only=True) as wh:
                titles[site] = {r[0] for r in wh.run("SELECT title FROM pages")}
        assert titles["acme"] != titles["globex"]

        # --site picks the lake: a search as the administrator finds a page of that site only
        word = sorted(titles["globex"] - titles["acme"])[0].split()[0]
        args = build_parser().parse_args(["search", word, "--as", DEFAULT_EMAIL, "--site", "globex", "--json",
                                          "--mode", "bm25"])
        out = io.StringIO()
        assert search_cli.run_search(args, out) == 0
        hits = json.loads(out.getvalue())
        assert hits and all(h["title"] in titles["globex"] for h in hits)
        args = build_parser().parse_args(["access", "--user", DEFAULT_EMAIL, "--site", "acme", "--json"])
        assert args.func(args) == 0
        assert json.loads(capsys.readouterr().out)
    finally:
        for emulator in emulators.values():
            emulator.stop()


def test_one_site_down_does_not_fail_the_other(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emulators = {"acme": start_emulator(seed=7, scale=50), "globex": start_emulator(seed=8, scale=50)}
    try:
        defs = _load_example(project, monkeypatch, emulators)
        emulators["globex"].stop()  # every call to globex is refused
        with dg.instance_for_test() as instance:
            down = _sync(defs, "globex", instance)
            up = _sync(defs, "acme", instance)
        assert not down.success
        assert up.success
        with Warehouse(site_settings("acme").lake, read_only=True) as wh:
            assert set(stored_rows(wh)["pages"]) == set(expected_rows(emulators["acme"].ws)["pages"])
    finally:
        emulators["acme"].stop()


def test_site_unknown_names_the_sites(project: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(project)
    args = build_parser().parse_args(["access", "--user", DEFAULT_EMAIL, "--site", "initech"])
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "no ConfluenceComponent called 'initech'" in err and "acme, globex" in err


def test_sync_query_and_snapshots_take_site(project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys) -> None:
    emulators = {"acme": start_emulator(seed=7, scale=50), "globex": start_emulator(seed=8, scale=50)}
    try:
        _load_example(project, monkeypatch, emulators)
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
        cli = lambda *argv: build_parser().parse_args(list(argv)).func(build_parser().parse_args(list(argv)))  # noqa: E731
        assert cli("sync", "--site", "globex") == 0
        out = capsys.readouterr().out
        assert "job globex_incremental_sync" in out
        with dg.DagsterInstance.get() as instance:
            [run] = instance.get_runs()
        assert (run.job_name, run.tags[SYNC_TAG]) == ("globex_incremental_sync", "globex:incremental")

        # query and snapshots read the lake of the site named, and only that one
        pages = len(expected_rows(emulators["globex"].ws)["pages"])
        assert cli("query", "SELECT count(*) AS n FROM pages", "--site", "globex") == 0
        assert str(pages) in capsys.readouterr().out
        assert cli("snapshots", "--site", "globex") == 0
        assert "globex/pages" in capsys.readouterr().out
        with pytest.raises(SystemExit) as unsynced:  # acme was never synced: its lake has no pages
            cli("query", "SELECT count(*) FROM pages", "--site", "acme")
        assert str(unsynced.value).startswith("error:")
        with pytest.raises(SystemExit) as unknown:
            cli("maintain", "--site", "initech")
        assert "no ConfluenceComponent called 'initech'" in str(unknown.value)
    finally:
        for emulator in emulators.values():
            emulator.stop()
