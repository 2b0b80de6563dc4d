"""Shared fixtures for the end-to-end sync tests: an emulator per module, a data directory per
test, settings in a YAML file, and real materializations through Dagster into that directory."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from confluence_pipeline.bench.site_check import expected_rows
from confluence_pipeline.bench.site_check import stored_rows as lake_rows
from confluence_pipeline.confluence.client import ConfluenceClient
from confluence_pipeline.defs.assets import build_content_assets
from confluence_pipeline.defs.checks import build_checks
from confluence_pipeline.defs.partitions import content_partitions
from confluence_pipeline.defs.pipeline import PipelineResource
from confluence_pipeline.defs.resources import ConfluenceResource
from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator
from confluence_pipeline.emulator.files import attachment_bytes
from confluence_pipeline.settings import Settings, load_settings
from confluence_pipeline.storage.warehouse import Warehouse
from confluence_pipeline.sync.reconcile import reconcile
from confluence_pipeline.sync.step import AssetReport, SyncContext

# The generated history ends at today's midnight (UTC); windows start two days before, so a run
# covers three daily partitions: the first holds everything older, the last is today's.
ANCHOR = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
START_DATE = (ANCHOR - timedelta(days=2)).date()
WINDOWED = ("pages", "blogposts", "folders", "comments", "attachments", "labels")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # Dagster's events, not on stderr


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with tests marked slow first, the longest first (the seconds their slow tests take,
    `@pytest.mark.slow(seconds)`), each module in its own order. pytest-xdist (`--dist loadfile`)
    hands out modules in this order, so the workers start on the long ones and end together,
    rather than one of them ending the run alone; a module goes to one worker whole, so a
    module-scoped site is synced once and the tests that change it run after the others."""
    seconds: dict[Path, float] = {}
    for item in items:
        marker = item.get_closest_marker("slow")
        seconds[item.path] = seconds.get(item.path, 0) + (marker.args[0] if marker else 0)
    items.sort(key=lambda item: -seconds[item.path])


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def start_emulator(seed: int, scale: int) -> Emulator:
    emulator = Emulator(seed=seed, scale=scale, anchor=ANCHOR)
    emulator.start()
    return emulator


@pytest.fixture(scope="module")
def emu():
    """A fresh emulated site per test module (modules mutate it)."""
    emulator = start_emulator(seed=7, scale=120)
    yield emulator
    emulator.stop()


@dataclass
class Pipeline:
    """Materializes the content graph against one emulator into one data directory."""

    emu: Emulator
    data_dir: Path
    settings_file: Path
    monkeypatch: pytest.MonkeyPatch
    # a short outage budget: tests that fail every call on purpose fail in seconds, not minutes
    max_outage_s: float = 2.0

    def configure(self, *, filters: dict[str, Any] | None = None, start_date: date = START_DATE,
                  timezone_name: str = "UTC") -> Settings:
        """Write the settings file that every later run loads (filters replace the previous ones)."""
        options = {"sync": {"start_date": start_date.isoformat(), "timezone": timezone_name}, "filters": filters or {}}
        self.settings_file.write_text(yaml.safe_dump(options))
        return self.settings

    def activate(self) -> None:
        """Point the environment at this pipeline (for `confluence-pipeline` in a subprocess)."""
        self.monkeypatch.setenv("CONFLUENCE_SETTINGS", str(self.settings_file))
        self.monkeypatch.setenv("CONFLUENCE_DATA_DIR", str(self.data_dir))

    @property
    def settings(self) -> Settings:
        return load_settings(self.settings_file).model_copy(update={"data_dir": self.data_dir})

    def resources(self) -> dict[str, Any]:
        return {"confluence": ConfluenceResource(mode="api_token", site_url=self.emu.base_url, email=DEFAULT_EMAIL,
                                                 api_token=DEFAULT_API_TOKEN, max_outage_s=self.max_outage_s),
                "pipeline": PipelineResource(settings_file=str(self.settings_file), data_dir=str(self.data_dir))}

    def definitions(self) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
        assets = build_content_assets(content_partitions(self.settings))
        return assets, build_checks({a.key.to_user_string(): a for a in assets})

    def materialize(self, selection: list[str] | tuple[str, ...], first: str | None = None,
                    last: str | None = None, *, raise_on_error: bool = True,
                    checks: bool = False) -> dg.ExecuteInProcessResult:
        """One run over `selection` (windows first..last for partitioned assets)."""
        self.activate()
        assets, asset_checks = self.definitions()
        tags = {}
        if any(name in WINDOWED for name in selection):
            tags = {ASSET_PARTITION_RANGE_START_TAG: first or self.settings.sync.start_date.isoformat(),
                    ASSET_PARTITION_RANGE_END_TAG: last or self.today()}
        return dg.materialize([*assets, *(asset_checks if checks else [])], instance=dg.DagsterInstance.ephemeral(),
                              resources=self.resources(), selection=list(selection), tags=tags,
                              raise_on_error=raise_on_error, run_config=QUIET)

    def sync(self, first: str | None = None, last: str | None = None, *,
             checks: bool = False) -> list[dg.ExecuteInProcessResult]:
        """spaces, then every windowed asset over first..last (the CLI's `sync`)."""
        return [self.materialize(["spaces"], checks=checks), self.materialize(WINDOWED, first, last, checks=checks)]

    def today(self) -> str:
        """The latest window: today in the configured time zone."""
        return datetime.now(ZoneInfo(self.settings.sync.timezone)).date().isoformat()

    def reconcile(self) -> AssetReport:
        """The reconciliation pass, called directly (the content_reconciliation asset runs the same)."""
        with ConfluenceClient.with_api_token(self.emu.base_url, DEFAULT_EMAIL, DEFAULT_API_TOKEN) as client:
            return reconcile(SyncContext(client=client, settings=self.settings, site_url=self.emu.base_url))

    def warehouse(self) -> Warehouse:
        return Warehouse(self.settings.lake, read_only=True)

    def state(self, key: str) -> Any:
        with self.warehouse() as wh:
            return wh.get_state(key)


def make_pipeline(emu: Emulator, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """A pipeline writing under `folder`; the environment points the settings there."""
    folder.mkdir(parents=True, exist_ok=True)
    p = Pipeline(emu, folder / "data", folder / "confluence.yaml", monkeypatch)
    p.activate()
    p.configure()
    return p


@pytest.fixture
def pipeline(emu, tmp_path, monkeypatch) -> Pipeline:
    return make_pipeline(emu, tmp_path, monkeypatch)


# -- ground truth: what an administrator sees of the emulated site -----------------------------

def stored_rows(wh: Warehouse) -> dict[str, dict[Any, Any]]:
    """What the warehouse holds, in the shape of expected_rows (the benchmarks compare the same way)."""
    return lake_rows(wh.con)


def differences(expected: dict[str, dict], stored: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """Per table: ids missing, ids extra, and ids whose fields differ (expected, stored); empty when equal."""
    out: dict[str, dict[str, Any]] = {}
    for table, want in expected.items():
        have = stored[table]
        problems = {"missing": sorted(set(want) - set(have))[:10], "extra": sorted(set(have) - set(want))[:10],
                    "differ": {k: (want[k], have[k]) for k in sorted(set(want) & set(have)) if want[k] != have[k]}}
        problems["differ"] = dict(list(problems["differ"].items())[:10])
        if any(problems.values()):
            out[table] = problems
    return out


def assert_equals_site(pipeline: Pipeline, known_trashed_folders: frozenset[str] = frozenset(),
                       known_trashed_comments: frozenset[str] = frozenset(),
                       reconciled: bool = False) -> None:
    with pipeline.warehouse() as wh:
        want = expected_rows(pipeline.emu.ws, known_trashed_folders, known_trashed_comments, reconciled)
        assert differences(want, stored_rows(wh)) == {}


def assert_attachment_files(pipeline: Pipeline) -> None:
    """Bytes of current attachments under data/attachments/<id>, equal to the site's; none of purged ones."""
    ws = pipeline.emu.ws
    folder = pipeline.data_dir / "attachments"
    with pipeline.warehouse() as wh:
        rows = wh.run("SELECT id, status, local_path FROM attachments")
    for attachment_id, status, local_path in rows:
        path = folder / attachment_id
        if status == "purged":
            assert not path.exists(), attachment_id
        elif status != "trashed":
            assert local_path == str(path)
            assert path.read_bytes() == attachment_bytes(ws.content[attachment_id], ws.seed), attachment_id
    assert {p.name for p in folder.iterdir()} <= {r[0] for r in rows}  # by id, never by file name


# -- PostgreSQL on 127.0.0.1:5432 (trust auth): skipped with the reason without it, required under CI --

def under_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def require_postgres(purpose: str):
    """An autocommit admin connection to the local server, or a skip (a failure under CI) that says why."""
    import psycopg2

    try:
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        reason = (f"PostgreSQL is not reachable on 127.0.0.1:5432 as user postgres ({str(exc).strip()}); {purpose} "
                  "need it: start it with `pg_ctlcluster --skip-systemctl-redirect <version> main start`")
        if under_ci():
            pytest.fail(f"{reason}. Under CI these tests must run, never skip.")
        pytest.skip(reason)
    admin.autocommit = True
    return admin


@contextmanager
def fresh_database(admin, name: str) -> Iterator[str]:
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
