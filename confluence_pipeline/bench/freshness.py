"""`confluence-pipeline bench freshness`: how long an edit made in Confluence takes to reach the
copy, end to end with real processes. An emulator site, a first `confluence-pipeline sync`, then
`dagster dev` (webserver and daemon) on the same Dagster home with the change sensor started;
then edits, one at a time, each a new unique word in a page's body. For each: seconds from the
edit until `confluence-pipeline query` shows the new version and `confluence-pipeline search
--mode bm25` finds the word (both polled as separate processes). Goal: p95 <= 60 s.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from ..emulator import mutations
from ..emulator.app import DEFAULT_EMAIL, Emulator
from .common import free_port, midnight_utc
from .sync_runs import run_sync, sync_environment

GOAL_P95_S = 60
VISIBLE_TIMEOUT_S = 300
CLI = [sys.executable, "-m", "confluence_pipeline.cli"]
WORKSPACE = "load_from:\n  - python_module:\n      module_name: confluence_pipeline.definitions\n" \
            "      location_name: confluence_pipeline\n"


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    return done.stdout


def _visible(env: dict[str, str], page_id: str, version: int, word: str) -> bool:
    """Both ways a reader sees the edit: the new version in `query`, the word in bm25 `search`."""
    sql = f"SELECT 'VISIBLE' AS v FROM pages WHERE id = '{page_id}' AND version >= {version}"
    if "VISIBLE" not in _cli(env, "query", sql):
        return False
    return page_id in _cli(env, "search", word, "--as", DEFAULT_EMAIL, "--mode", "bm25", "--json")


def _start_dagster_dev(env: dict[str, str], folder: Path) -> subprocess.Popen:
    workspace = folder / "workspace.yaml"
    workspace.write_text(WORKSPACE)
    port = free_port()
    log = open(folder / "dagster-dev.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-p", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=folder)
    # the sensor's state lives in the instance: start it through the same workspace
    for _ in range(60):
        started = subprocess.run([sys.executable, "-m", "dagster", "sensor", "start", "confluence_changes",
                                  "-w", str(workspace)], env=env, capture_output=True, text=True, cwd=folder)
        if started.returncode == 0:
            return proc
        time.sleep(2)
    raise RuntimeError(f"could not start the change sensor: {started.stderr[-500:]}")


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def bench_freshness(scale: int, seed: int, edits: int, interval_s: int, *, as_json: bool = False) -> int:
    anchor = midnight_utc()
    start_date = (anchor - timedelta(days=30)).date().isoformat()
    print(f"freshness bench, seed {seed}, scale {scale:,}, {edits} edits, sensor every {interval_s} s", flush=True)
    rng = random.Random(seed)
    emu = Emulator(seed=seed, scale=scale, anchor=anchor)
    emu.start()
    dev = None
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="freshness-bench-") as tmp:
            folder = Path(tmp)
            env, _, home = sync_environment(folder, emu.base_url, start_date)
            (home / "dagster.yaml").unlink()  # the CLI writes the deployment's run queue in its place
            settings_file = Path(env["CONFLUENCE_SETTINGS"])
            settings = yaml.safe_load(settings_file.read_text())
            settings["sync"]["sensor_interval"] = interval_s
            settings_file.write_text(yaml.safe_dump(settings))
            first = run_sync(env, folder / "first.log")
            print(f"  first sync: {first['wall_s']:.1f} s (exit {first['rc']})", flush=True)
            dev = _start_dagster_dev(env, folder)
            pages = [c for c in emu.ws.content.values() if c.type == "page" and c.status == "current"
                     and emu.ws.can_view(emu.ws.user_by_email(DEFAULT_EMAIL).account_id, c)]
            for i in range(edits):
                time.sleep(rng.uniform(0, interval_s))  # an edit lands anywhere in the sensor's cycle
                page = rng.choice(pages)
                word = "zq" + "".join(rng.choice("bcdfghjklmnpvwxz") for _ in range(10))  # one token, in no page
                item = mutations.edit(emu.ws, page.id, body=f"{page.body}<p>{word}</p>")
                edited = time.monotonic()
                seen = None
                while time.monotonic() - edited < VISIBLE_TIMEOUT_S:
                    if _visible(env, page.id, item.version.number, word):
                        seen = round(time.monotonic() - edited, 1)
                        break
                    time.sleep(1)
                rows.append({"edit": i + 1, "page": page.id, "version": item.version.number, "seconds": seen})
                print(f"  edit {i + 1:>2}: page {page.id} v{item.version.number}: "
                      + (f"visible after {seen:.1f} s" if seen is not None else
                         f"not visible after {VISIBLE_TIMEOUT_S} s"), flush=True)
    finally:
        if dev is not None:
            _stop(dev)
        emu.stop()
    result = summarize(rows, scale=scale, interval_s=interval_s)
    print(format_report(result))
    if as_json:
        print(json.dumps(result))
    return 0 if result["missed"] == 0 else 1


def summarize(rows: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
    seen = sorted(r["seconds"] for r in rows if r["seconds"] is not None)
    p95 = seen[min(len(seen) - 1, max(0, round(0.95 * len(seen)) - 1))] if seen else None
    return {**context, "edits": rows, "missed": len(rows) - len(seen), "goal_p95_s": GOAL_P95_S,
            "p50_s": statistics.median(seen) if seen else None, "p95_s": p95, "max_s": max(seen, default=None)}


def format_report(r: dict[str, Any]) -> str:
    if r["p95_s"] is None:
        return "\nno edit became visible"
    met = "met" if r["missed"] == 0 and r["p95_s"] <= r["goal_p95_s"] else "NOT met"
    return (f"\nedit -> visible to query and bm25 search, {len(r['edits'])} edits at scale {r['scale']:,}, "
            f"sensor every {r['interval_s']} s:\n"
            f"  p50 {r['p50_s']:.1f} s   p95 {r['p95_s']:.1f} s   max {r['max_s']:.1f} s   missed {r['missed']}   "
            f"goal p95 <= {r['goal_p95_s']} s: {met}")
