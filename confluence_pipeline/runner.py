"""Running the asset graph from the command line: `demo` and `sync`.

Both materialize through Dagster in-process on a real instance (`DAGSTER_HOME`, default
`<data dir>/dagster_home`), so the runs appear in `dagster dev` pointed at the same home.
The demo talks to the bundled emulator (`emulator/demo.py`).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from .defs.site import BUNDLED, Site
from .readers import attach_line
from .settings import Settings
from .storage.warehouse import Warehouse

# On every run the CLI launches: who runs it, so that a later launch can tell a dead run from a live one.
PID_TAG = "confluence_pipeline/pid"
HOST_TAG = "confluence_pipeline/host"
TABLES_SHOWN = ("spaces", "pages", "blogposts", "folders", "comments", "attachments", "labels")


# A Dagster home the CLI finds without a dagster.yaml gets this one: Dagster's defaults (SQLite)
# plus deploy/dagster.yaml's run queue, so that `dagster dev` on the same home keeps one run per
# kind and site in progress, whatever launched it (confluence_pipeline/run_queue.py).
LOCAL_INSTANCE = """\
# Written by confluence-pipeline: Dagster's defaults (SQLite in this folder) and the run queue of
# deploy/dagster.yaml. Edit it freely; the CLI never overwrites it.
run_coordinator:
  module: confluence_pipeline.run_queue
  class: ConfluenceRunCoordinator
concurrency:
  runs:
    max_concurrent_runs: 10
    tag_concurrency_limits:
      - key: confluence_pipeline/sync
        value:
          applyLimitPerUniqueValue: true
        limit: 1
"""


def instance_for(settings: Settings) -> dg.DagsterInstance:
    """The instance in DAGSTER_HOME (default <data dir>/dagster_home), created if missing, with the
    run queue of LOCAL_INSTANCE where the home has no dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path(settings.data_dir) / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(LOCAL_INSTANCE)
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def clear_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs this host's CLI started whose process is gone (a kill -9, a crash) and
    free what they held (concurrency slots), so that they neither show STARTED nor block a later run.
    Returns one line per run cleared."""
    statuses = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.CANCELING]
    host = socket.gethostname()
    cleared = []
    for run in instance.get_runs(dg.RunsFilter(statuses=statuses, tags={HOST_TAG: host})):
        pid = run.tags.get(PID_TAG, "")
        if not pid.isdigit() or not _process_gone(int(pid)):
            continue
        message = (f"Run {run.run_id} (process {pid} on {host}) died without finishing: marked failed, "
                   "its concurrency slots freed; this run catches up from the last stored watermarks")
        instance.report_run_failed(run, message)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        cleared.append(message)
    return cleared


@contextmanager
def cancellable(instance: dg.DagsterInstance, owner: dict[str, str], poll_s: float = 1.0) -> Iterator[None]:
    """Let a cancel from the UI stop the runs this process executes in-process. The UI marks the run
    CANCELING and asks the run launcher to stop it, which cannot reach a run it did not launch; this
    watches for that status and interrupts the main thread as Dagster's own launcher would (SIGINT:
    the step raises DagsterExecutionInterruptedError, its transaction rolls back, the run ends
    CANCELED). It repeats every `poll_s` while the run is CANCELING: an interrupt that lands in a
    step fails that step only, one that lands between steps ends the run."""
    done = threading.Event()
    cancelled = threading.Event()
    main = threading.main_thread().ident

    def watch() -> None:
        while not done.wait(poll_s):
            if instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.CANCELING], tags=owner), limit=1):
                cancelled.set()
                signal.pthread_kill(main, signal.SIGINT)

    def on_interrupt(signum: int, frame: object) -> None:
        if not cancelled.is_set():  # Ctrl-C; after a cancel, a late SIGINT of the watcher is ignored
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_interrupt)
    watcher = threading.Thread(target=watch, name="cancel-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        signal.signal(signal.SIGINT, previous)


def materialize_all(first: str, last: str, *, instance: dg.DagsterInstance, resources: dict | None = None,
                    reconcile: bool = False, site_definitions: dg.Definitions | None = None,
                    site: Site = BUNDLED) -> list[dg.ExecuteInProcessResult]:
    """The `incremental_sync` job over windows first..last; with `reconcile`, then the
    `reconciliation` job (purges and restriction-only changes). Runs of the code location's own
    jobs, so they carry its job names and tags (`confluence_pipeline/sync`), as the UI's do.
    `site_definitions`: a ConfluenceComponent site's (`sync --site`), its jobs named by `site`."""
    from .defs.jobs import INCREMENTAL_JOB, RECONCILIATION_JOB
    from .definitions import build_definitions

    full = site_definitions or build_definitions()
    definitions = dg.Definitions(assets=full.assets, asset_checks=full.asset_checks, jobs=full.jobs,
                                 resources=resources or dict(full.resources or {}))
    logging = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    # who runs it, so that the next start can tell a dead run (kill -9) from a running one
    owner = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    with cancellable(instance, owner):
        results = [definitions.resolve_job_def(site.named(INCREMENTAL_JOB)).execute_in_process(
            instance=instance, run_config=logging, raise_on_error=False,
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last, **owner})]
        if reconcile and results[0].success:
            job = definitions.resolve_job_def(site.named(RECONCILIATION_JOB))
            config = dict(job.run_config or {}) if isinstance(job.run_config, dict) else {}
            results.append(job.execute_in_process(instance=instance, run_config={**config, **logging},
                                                  tags=owner, raise_on_error=False))
    return results


def failed_steps(result: dg.ExecuteInProcessResult) -> list[str]:
    """What did not sync, one line each: a step that failed (after its retries) or was skipped for a
    failed upstream step, and what a finished step recorded as not synced (a space whose listing was
    refused, an attachment that could not be saved). The steps that do not depend on them ran to the
    end; the next run reads again from the watermarks those left where they were."""
    lines = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
            lines.append(f"{event.step_key}: failed: {(error.message if error else 'unknown error').strip()}")
        elif event.is_step_skipped:
            lines.append(f"{event.step_key}: skipped (an asset it depends on failed)")
        elif event.is_step_materialization:
            materialization = event.step_materialization_data.materialization
            details = materialization.metadata.get("failure_details")
            if details is not None:
                asset = materialization.asset_key.to_user_string()
                shown = [f"{asset}: {line.removeprefix('- ')}" for line in str(details.value).splitlines()]
                total = materialization.metadata["failures"].value
                lines += shown + ([f"{asset}: and {total - len(shown)} more (the step's metadata: failures)"]
                                  if total > len(shown) else [])
    return lines


def summary(settings: Settings) -> str:
    with Warehouse(settings.lake, read_only=True) as wh:
        lines = [f"{'table':<14}{'rows':>8}{'current':>9}{'deleted':>9}{'out of scope':>14}"]
        for table in TABLES_SHOWN:
            deleted = "deleted_at IS NOT NULL"
            out = "in_scope = FALSE" if table != "labels" else "FALSE"
            lines.append(f"{table:<14}{wh.count(table):>8}{wh.count(table, f'NOT ({deleted})'):>9}"
                         f"{wh.count(table, deleted):>9}{wh.count(table, out):>14}")
    data = Path(settings.data_dir).resolve()
    lake = settings.lake
    lines += ["",
              f"Catalog:      {lake.describe()} (DuckLake)",
              f"Parquet:      {lake.data_path}",
              f"Attachments:  {data / 'attachments'}/<attachment id>",
              f"duckdb CLI:   duckdb -cmd \"{attach_line(lake)}\"",
              "Python:       import confluence_pipeline; confluence_pipeline.connect().sql('SELECT count(*) FROM pages')",
              'Query it:     confluence-pipeline query "SELECT title, modified_at FROM pages ORDER BY modified_at DESC LIMIT 5"',
              'Search it:    confluence-pipeline search "release checklist" --as admin@example.com']
    return "\n".join(lines)


def catch_up_range(settings: Settings, instance: dg.DagsterInstance,
                   site_definitions: dg.Definitions | None = None) -> tuple[str, str]:
    """What the schedule syncs: from the oldest of the content assets' newest synced windows (the
    first window if one never synced) to today's window, so a run with nothing to do touches a
    window or two instead of every day since `sync.start_date`."""
    from .defs.jobs import catch_up_start, windowed_keys
    from .defs.partitions import content_partitions
    from .definitions import build_definitions

    assets = list((site_definitions or build_definitions()).assets or [])
    last = window_range(settings, None, None)[1]
    return catch_up_start(instance, settings, windowed_keys(assets, content_partitions(settings)), last), last


def window_range(settings: Settings, start: date | None, end: date | None) -> tuple[str, str]:
    today = datetime.now(timezone.utc).astimezone(ZoneInfo(settings.sync.timezone)).date()
    first = max(start or settings.sync.start_date, settings.sync.start_date)
    last = min(end or today, today)
    if first > last:
        raise SystemExit(f"--from {first} is after --to {last}: nothing to sync")
    return first.isoformat(), last.isoformat()
