"""The four parts of `confluence-pipeline bench storage` (see storage.py): readers beside syncs,
kill -9 and rerun, maintenance and the lake's size, and two jobs at once on a PostgreSQL catalog.
Each takes `say`, where its progress goes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from ..emulator import mutations
from ..emulator.app import Emulator
from ..storage.lake import Lake, open_lake
from ..storage.maintenance import _data_bytes, _snapshot_count, maintain
from .common import percentile
from .site_check import compare_with_site, comparison_line
from .sync_runs import SYNC_TIMEOUT_S, finish_sync, run_logs, run_sync, start_sync, step_events, sync_environment

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}

# One reader process: `poll` opens a new connection for every read, `held` keeps one open.
# Errors before its first successful read are waits (nothing committed yet), not failures.
READER = r"""
import json, os, sys, time
import confluence_pipeline
data_dir, mode, stop_file = sys.argv[1:4]
QUERIES = ["SELECT count(*) FROM pages",
           "SELECT s.key, count(*) FROM pages p JOIN spaces s ON s.id = p.space_id "
           "WHERE p.status = 'current' GROUP BY s.key ORDER BY 2 DESC LIMIT 5",
           "SELECT id FROM lake.current_snapshot()"]
reads, failed, waits, latencies, errors, snapshots = 0, 0, 0, [], [], set()
held = None
while not os.path.exists(stop_file):
    started = time.perf_counter()
    try:
        if mode == "held":
            if held is None:
                held = confluence_pipeline.connect(data_dir)
                started = time.perf_counter()  # the read, not the one-time connect
            con = held
        else:
            con = confluence_pipeline.connect(data_dir)
        for sql in QUERIES:
            rows = con.execute(sql).fetchall()
        snapshots.add(rows[0][0])
        if con is not held:
            con.close()
        reads += 1
        latencies.append((time.perf_counter() - started) * 1000)
    except Exception as exc:
        text = type(exc).__name__ + ": " + (str(exc).splitlines() or [""])[0][:200]
        if reads == 0:
            waits += 1
            if held is not None:
                held.close()
                held = None
        else:
            failed += 1
        if len(errors) < 5 and text not in errors:
            errors.append(text)
    time.sleep(0.1)
print(json.dumps({"reads": reads, "failed": failed, "waits": waits, "errors": errors,
                  "snapshots_seen": len(snapshots), "latencies_ms": latencies}))
"""


# -- the site's edits and the lake's size ---------------------------------------------------------

def _edit_pages(ws, rng: random.Random, count: int, round_: str) -> None:
    with ws.lock:
        pages = sorted((c for c in ws.content.values() if c.type == "page" and c.status == "current"),
                       key=lambda c: c.id)
    for page in rng.sample(pages, min(count, len(pages))):
        title = page.title.split(" (bench edit")[0]
        mutations.edit(ws, page.id, title=f"{title} (bench edit {round_})",
                       body=f"<p>storage bench edit {round_} at {time.time()}</p>")


def _trash_and_purge_a_leaf(ws, rng: random.Random) -> str:
    with ws.lock:
        leaves = sorted((c for c in ws.content.values() if c.type == "page" and c.status == "current"
                         and c.parent_id and not ws.children(c.id)), key=lambda c: c.id)
    leaf = rng.choice(leaves)
    mutations.trash(ws, leaf.id)
    mutations.purge(ws, leaf.id)
    return leaf.id


def _lake_storage(data_dir: Path, lake: Lake) -> dict[str, int]:
    lake_dir = data_dir / "lake"
    files = [p for p in lake_dir.rglob("*") if p.is_file()] if lake_dir.exists() else []
    catalog = lake.catalog_file
    catalog_bytes = sum(p.stat().st_size for p in (catalog, catalog.with_name(catalog.name + "-wal"))
                        if p.exists()) if catalog else 0
    with open_lake(lake, read_only=True) as con:
        snapshots, data_bytes = _snapshot_count(con), _data_bytes(con)
    return {"lake_bytes": sum(p.stat().st_size for p in files), "lake_files": len(files),
            "parquet_files": sum(1 for p in files if p.suffix == ".parquet"), "catalog_bytes": catalog_bytes,
            "snapshots": snapshots, "current_data_bytes": data_bytes}


# -- the four parts ------------------------------------------------------------------------------

def readers_beside_writers(emu: Emulator, folder: Path, start_date: str, rng: random.Random, edits: int,
                           incrementals: int, say: Callable[..., None]) -> dict[str, Any]:
    env, lake, home = sync_environment(folder, emu.base_url, start_date)
    stop = folder / "stop-readers"
    readers = {}
    for mode in ("poll", "held"):
        out, err = open(folder / f"reader-{mode}.json", "w"), open(folder / f"reader-{mode}.err", "w")
        readers[mode] = subprocess.Popen([sys.executable, "-c", READER, str(folder / "data"), mode, str(stop)],
                                         env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        out.close()
        err.close()
    syncs = []
    try:
        for i in range(incrementals + 1):
            kind = "full" if i == 0 else f"incremental {i}"
            if i:
                _edit_pages(emu.ws, rng, edits, f"r{i}")
            say(f"  {kind} sync beside the readers" + (f" ({edits} pages edited)" if i else "") + "...")
            known = run_logs(home)
            result = {"kind": kind, **run_sync(env, folder / f"sync-{i}.log", say=say)}
            result["steps"] = len(step_events(home, known)[0])
            syncs.append(result)
            say(f"    exit {result['rc']} in {result['wall_s']:.1f} s, {result['steps']} steps")
    finally:
        stop.touch()
    seen = {}
    for mode, proc in readers.items():
        proc.wait(timeout=120)
        lines = (folder / f"reader-{mode}.json").read_text().strip().splitlines()
        if proc.returncode or not lines:
            err = (folder / f"reader-{mode}.err").read_text()[-1500:]
            seen[mode] = {"reads": 0, "failed": 1, "waits": 0, "errors": [f"reader exited {proc.returncode}: {err}"],
                          "snapshots_seen": 0, "latencies_ms": []}
        else:
            seen[mode] = json.loads(lines[-1])
        latencies = seen[mode].pop("latencies_ms")
        seen[mode]["p50_ms"] = round(percentile(latencies, 0.50), 1) if latencies else None
        seen[mode]["p95_ms"] = round(percentile(latencies, 0.95), 1) if latencies else None
        say(f"  {mode} reader: {seen[mode]['reads']} reads, {seen[mode]['failed']} failed")
    site = compare_with_site(lake, emu.ws)
    return {"env": env, "lake": lake, "home": home, "syncs": syncs,
            "failed_runs": sum(1 for s in syncs if s["rc"]), "readers": seen, "site": site}


def kill_and_rerun(emu: Emulator, folder: Path, part1: dict[str, Any], rng: random.Random, edits: int,
                   kills: int, say: Callable[..., None]) -> dict[str, Any]:
    env, lake, home = part1["env"], part1["lake"], part1["home"]
    steps = part1["syncs"][-1]["steps"] or 1  # a run's steps, to pick the one to kill inside
    rounds = []
    for i in range(1, kills + 1):
        _edit_pages(emu.ws, rng, edits, f"k{i}")
        target, delay = rng.randint(1, steps), rng.uniform(0.0, 3.0)
        known = run_logs(home)
        started_at = time.perf_counter()
        proc = start_sync(env, folder / f"killed-{i}.log")
        started: list[str] = []
        while proc.poll() is None and len(started) < target:
            time.sleep(0.05)
            started = step_events(home, known)[0]
        time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        started, finished = step_events(home, known)
        round_ = {"target_step": f"{target}/{steps}", "step_started": started[target - 1] if len(started) >= target
                  else None, "delay_s": round(delay, 2), "killed": killed,
                  "killed_at_s": round(time.perf_counter() - started_at, 2),
                  "inside": [s for s in started if s not in finished], "rc": proc.returncode}
        say(f"  kill {i}: " + (f"kill -9 at {round_['killed_at_s']:.1f} s, {delay:.1f} s after step "
                                f"{target}/{steps} ({round_['step_started']}) started; inside "
                                f"{', '.join(round_['inside']) or 'no step (between steps)'}" if killed
                                else f"the sync finished (exit {proc.returncode}) before the kill"))
        known = run_logs(home)
        rerun = run_sync(env, folder / f"rerun-{i}.log", say=say)
        steps = len(step_events(home, known)[0]) or steps
        round_["rerun"] = rerun
        round_["site"] = compare_with_site(lake, emu.ws)
        say(f"    rerun: exit {rerun['rc']} in {rerun['wall_s']:.1f} s; tables vs site: "
             f"{comparison_line(round_['site'])}")
        rounds.append(round_)
    return {"rounds": rounds, "failed_runs": sum(1 for r in rounds if r["rerun"]["rc"])}


def storage_and_maintenance(emu: Emulator, folder: Path, lake: Lake, say: Callable[..., None]) -> dict[str, Any]:
    data_dir = folder / "data"
    states = {"before": _lake_storage(data_dir, lake)}
    out: dict[str, Any] = {"storage": states}
    for name, retention in (("30d", timedelta(days=30)), ("0d", timedelta(0))):
        say(f"  maintenance, retention {retention.days} days, orphan grace 0...")
        report = maintain(lake, retention=retention, orphan_grace=timedelta(0))
        states[f"after_{name}"] = _lake_storage(data_dir, lake)
        out[f"maintenance_{name}"] = {**report.metadata(), "site": compare_with_site(lake, emu.ws)}
        say(f"    {report.summary()} in {report.duration_s:.1f} s")
    return out


def postgres_concurrent_jobs(emu: Emulator, folder: Path, start_date: str, rng: random.Random, edits: int,
                             say: Callable[..., None]) -> dict[str, Any]:
    try:
        import psycopg2

        admin = psycopg2.connect(dbname="postgres", connect_timeout=3, **PG)
    except Exception as exc:  # no driver, no server
        return {"skipped": f"PostgreSQL on {PG['host']}:{PG['port']} as {PG['user']}: "
                           f"{(str(exc).strip().splitlines() or [type(exc).__name__])[0]}"}
    admin.autocommit = True
    name = f"confluence_storage_bench_{os.getpid()}"
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name}")
    try:
        catalog = f"postgres:dbname={name} host={PG['host']} port={PG['port']} user={PG['user']}"
        env, lake, home = sync_environment(folder, emu.base_url, start_date, storage={"catalog": catalog})
        say(f"  full sync on a fresh PostgreSQL catalog (database {name})...")
        full = run_sync(env, folder / "full.log", say=say)
        say(f"    exit {full['rc']} in {full['wall_s']:.1f} s")
        _edit_pages(emu.ws, rng, edits, "pg")
        purged = _trash_and_purge_a_leaf(emu.ws, rng)
        subprocess.run([sys.executable, "-c", "import dagster; dagster.DagsterInstance.get()"], env=env, check=True,
                       capture_output=True)
        say(f"  {edits} pages edited, page {purged} trashed and purged; `sync` and `sync --reconcile` at once...")
        started = time.perf_counter()
        logs = {"sync": folder / "sync.log", "sync --reconcile": folder / "reconcile.log"}
        jobs = {"sync": start_sync(env, logs["sync"]),
                "sync --reconcile": start_sync(env, logs["sync --reconcile"], "--reconcile")}
        ended: dict[str, float] = {}
        while len(ended) < len(jobs) and time.perf_counter() - started < SYNC_TIMEOUT_S:
            for label, proc in jobs.items():
                if label not in ended and proc.poll() is not None:
                    ended[label] = time.perf_counter() - started
            time.sleep(0.1)
        runs = {}
        for label, proc in jobs.items():
            runs[label] = finish_sync(proc, started, logs[label], say)
            runs[label]["wall_s"] = round(ended.get(label, runs[label]["wall_s"]), 2)
            say(f"    {label}: exit {runs[label]['rc']} in {runs[label]['wall_s']:.1f} s")
        site = compare_with_site(lake, emu.ws)
        with open_lake(lake, read_only=True) as con:
            status = con.execute("SELECT status FROM pages WHERE id = ?", [purged]).fetchall()
        say(f"    tables vs site: {comparison_line(site)}; purged page's row: {status}")
        return {"database": name, "full": full, "runs": runs, "site": site,
                "purged_page_status": status[0][0] if status else None,
                "failed_runs": int(bool(full["rc"])) + sum(1 for r in runs.values() if r["rc"])}
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
