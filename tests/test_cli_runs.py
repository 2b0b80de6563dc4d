"""What `confluence-pipeline` prints and the runs it leaves: no Python warnings in any command's
output, and `sync` runs the code location's named jobs with the tags the run queue relies on."""

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import yaml

from confluence_pipeline.defs.jobs import INCREMENTAL_JOB, RECONCILIATION_JOB
from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL
from confluence_pipeline.run_tags import SYNC_TAG
from conftest import START_DATE

CLI = Path(sys.executable).parent / "confluence-pipeline"
# A Python warning as the warnings module prints it: "<file>:<line>: BetaWarning: ..."
WARNING_LINE = re.compile(r"^\S+:\d+: \w*Warning: ", re.MULTILINE)


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    # PYTHONWARNINGS as a user's shell has it: unset, so what Python shows by default shows
    env = {k: v for k, v in env.items() if k != "PYTHONWARNINGS"}
    return subprocess.run([str(CLI), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=1200)


def test_commands_print_no_python_warnings_and_sync_runs_the_named_jobs(emu, tmp_path):
    settings = tmp_path / "confluence.yaml"
    settings.write_text(yaml.safe_dump({"sync": {"strategy": "manual", "start_date": START_DATE.isoformat()}}))
    home = tmp_path / "dagster_home"  # not created: sync creates it
    env = {**os.environ, "DAGSTER_HOME": str(home), "CONFLUENCE_SETTINGS": str(settings),
           "CONFLUENCE_DATA_DIR": str(tmp_path / "data"), "CONFLUENCE_SITE_URL": emu.base_url,
           "CONFLUENCE_EMAIL": DEFAULT_EMAIL, "CONFLUENCE_API_TOKEN": DEFAULT_API_TOKEN,
           "DAGSTER_DISABLE_TELEMETRY": "1"}

    for args in (["--help"], ["sync", "--help"], ["sync", "--reconcile"], ["snapshots", "--limit", "3"]):
        result = run(args, env, tmp_path)
        assert result.returncode == 0, (args, result.stderr[-3000:])
        assert WARNING_LINE.findall(result.stdout + result.stderr) == [], (args, result.stderr[-3000:])

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = {run.job_name: run for run in instance.get_runs()}
        # the home it created queues runs as a deployment does: `dagster dev` on it keeps the limits
        assert type(instance.run_coordinator).__name__ == "ConfluenceRunCoordinator"
    assert set(runs) == {INCREMENTAL_JOB, RECONCILIATION_JOB}
    assert runs[INCREMENTAL_JOB].tags[SYNC_TAG] == "incremental"
    assert runs[RECONCILIATION_JOB].tags[SYNC_TAG] == "reconciliation"
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs.values())
