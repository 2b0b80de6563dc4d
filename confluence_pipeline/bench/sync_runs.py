"""`confluence-pipeline sync` in its own process, as the benchmarks run it: the folder and
environment it runs in, starting it and waiting for its end, and the steps its Dagster runs started
and finished (read from their event logs)."""

from __future__ import annotations

import compileall
import functools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from ..emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL
from ..settings import load_settings
from ..storage.lake import Lake

SYNC_TIMEOUT_S = 4 * 3600

say_to_stdout = functools.partial(print, flush=True)


def sync_environment(folder: Path, base_url: str, start_date: str, storage: dict | None = None
                     ) -> tuple[dict[str, str], Lake, Path]:
    """A data directory, settings file and Dagster home under `folder`: the environment for
    `confluence-pipeline sync`, the lake it writes, and the Dagster home."""
    byte_compile_package()
    data_dir, home = folder / "data", folder / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    options: dict[str, Any] = {"sync": {"start_date": start_date}, "search": {"semantic": "off"}}
    if storage:
        options["storage"] = storage
    settings_file = folder / "confluence.yaml"
    settings_file.write_text(yaml.safe_dump(options))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFLUENCE_")}
    env.update({"CONFLUENCE_SITE_URL": base_url, "CONFLUENCE_EMAIL": DEFAULT_EMAIL,
                "CONFLUENCE_API_TOKEN": DEFAULT_API_TOKEN, "CONFLUENCE_SETTINGS": str(settings_file),
                "CONFLUENCE_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)})
    lake = load_settings(settings_file, env={}).model_copy(update={"data_dir": data_dir}).lake
    return env, lake, home


def byte_compile_package() -> None:
    """Byte-compile the package, as pip does at a regular install (deploy/Dockerfile). Where
    PYTHONDONTWRITEBYTECODE is set (these machines set it), an editable checkout never keeps its
    bytecode, so every process a sync starts (the run, the text extractor, the children that
    convert and tokenize) would compile the modules it imports again: about 0.5 s a process,
    which no installed copy pays."""
    if sys.dont_write_bytecode:
        compileall.compile_dir(Path(__file__).resolve().parents[1], quiet=1)


def start_sync(env: dict[str, str], log_path: Path, *extra: str) -> subprocess.Popen:
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, "-m", "confluence_pipeline.cli", "sync", *extra], env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def finish_sync(proc: subprocess.Popen, started: float, log_path: Path,
                say: Callable[..., None] = say_to_stdout) -> dict[str, Any]:
    """Wait for a started sync (killing it after SYNC_TIMEOUT_S): its exit code and wall time;
    `say` prints the end of its log if it failed."""
    try:
        rc = proc.wait(timeout=SYNC_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rc = proc.wait()
        say(f"    sync still running after {SYNC_TIMEOUT_S} s: killed")
    wall = time.perf_counter() - started
    if rc:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        say(f"    sync exited {rc}; the end of {log_path}:\n      " + "\n      ".join(tail))
    return {"rc": rc, "wall_s": round(wall, 2)}


def run_sync(env: dict[str, str], log_path: Path, *extra: str,
             say: Callable[..., None] = say_to_stdout) -> dict[str, Any]:
    started = time.perf_counter()
    return finish_sync(start_sync(env, log_path, *extra), started, log_path, say)


def run_logs(home: Path) -> set[Path]:
    """Dagster's per-run event logs (SQLite) in this home."""
    return {p for p in (home / "history" / "runs").glob("*.db") if p.name != "index.db"}


def step_events(home: Path, known: set[Path]) -> tuple[list[str], set[str]]:
    """Steps started (in order) and steps finished, in the runs started since `known`. Dagster's
    console at the sync's INFO level prints no STEP_START line: its event log has every one."""
    started: list[str] = []
    finished: set[str] = set()
    for path in sorted(run_logs(home) - known):
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
            try:
                rows = con.execute("SELECT dagster_event_type, step_key FROM event_logs WHERE dagster_event_type "
                                   "IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') ORDER BY id").fetchall()
            finally:
                con.close()
        except sqlite3.Error:  # being written (or not created yet): look again next time
            continue
        started += [step for kind, step in rows if kind == "STEP_START"]
        finished |= {step for kind, step in rows if kind != "STEP_START"}
    return started, finished


def step_figures(logs: list, **metadata: str) -> dict[str, dict[str, float]]:
    """Per step of a run's event log (`DagsterInstance.all_logs`), in the order the steps started:
    `step_s`, seconds from STEP_START to STEP_SUCCESS, and each figure named in `metadata` (figure
    -> metadata key) as its materializations report it (a step over several windows reports the
    same figures in each)."""
    started: dict[str, float] = {}
    out: dict[str, dict[str, float]] = {}
    for entry in logs:
        kind = entry.dagster_event.event_type_value if entry.dagster_event else "LOG"
        key = entry.step_key
        if kind == "STEP_START":
            started[key] = entry.timestamp
            out[key] = {}
        elif kind == "STEP_SUCCESS" and key in started:
            out[key]["step_s"] = round(entry.timestamp - started[key], 3)
        elif kind == "ASSET_MATERIALIZATION" and key in out:
            values = entry.dagster_event.step_materialization_data.materialization.metadata
            out[key].update({figure: float(values[name].value) for figure, name in metadata.items()
                             if name in values})
    return out
