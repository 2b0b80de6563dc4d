"""`confluence-pipeline bench storage`: the lake under load, in real OS processes.

1. readers beside writers: a reader opening a new connection for every read and one holding a
   single connection poll every 100 ms through a full sync and incremental syncs;
2. an incremental sync and `sync --reconcile` at the same time on a PostgreSQL catalog;
3. `kill -9` of a sync inside a step, then a rerun with no cleanup, the tables checked against
   the site each time, then maintenance;
4. the lake's size and snapshot count before and after maintenance (30-day retention, then 0).

The emulator runs in this process, so the tables can be compared with its workspace directly;
every sync is `python -m confluence_pipeline.cli sync` in its own process. Figures are printed;
what must hold (no failed read or run, the tables equal to the site) is checked and sets the
exit code.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from .bench import _peak_rss_mb, _percentile
from .emulator import mutations
from .emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator
from .settings import load_settings
from .storage.lake import Lake, open_lake
from .storage.maintenance import _data_bytes, _snapshot_count, maintain
from .storage.schema import TABLES

SYNC_TIMEOUT_S = 4 * 3600
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


def _say(*parts: Any) -> None:
    print(*parts, file=_OUT, flush=True)


_OUT = sys.stdout


# -- ground truth: the site as the emulator holds it, the tables as the lake holds them ----------

def _expected_rows(ws) -> dict[str, dict]:
    """Per table, key -> the fields a sync must reproduce (as tests/conftest.py's expected_rows)."""
    with ws.lock:
        items = list(ws.content.values())
        spaces = {s.id: (s.key, s.name, s.type, s.status) for s in ws.spaces.values()}

        def of(type_: str) -> list:
            return [c for c in items if c.type == type_ and c.status != "draft"]

        pages = {c.id: (c.space_id, c.status, c.title, c.version.number, c.parent_id) for c in of("page")}
        blogposts = {c.id: (c.space_id, c.status, c.title, c.version.number) for c in of("blogpost")}
        # folders have no listing: CQL finds them, and it never shows the trash
        folders = {c.id: (c.space_id, c.status, c.title, c.version.number, c.parent_id) for c in of("folder")
                   if c.status != "trashed"}
        comments = {c.id: (c.status, c.version.number, c.container_id, c.parent_comment_id, c.comment_kind,
                           c.resolution_status or "open") for c in of("comment") if c.status == "current"}
        attachments = {c.id: (c.status, c.title, c.version.number, c.container_id) for c in of("attachment")}
        labels = {(c.id, label_id): (ws.labels[label_id].name,) for c in items
                  if c.type in ("page", "blogpost") and c.status in ("current", "archived")
                  for label_id in c.label_ids}
        ancestors = {c.id: [a.id for a in ws.ancestors(c)] for c in items
                     if c.id in pages or c.id in folders}  # what the sync can see, as above
    return {"spaces": spaces, "pages": pages, "blogposts": blogposts, "folders": folders, "comments": comments,
            "attachments": attachments, "labels": labels, "ancestors": ancestors}


_STORED = {
    "spaces": "SELECT id, key, name, type, status FROM spaces WHERE deleted_at IS NULL",
    "pages": "SELECT id, space_id, status, title, version, parent_id FROM pages WHERE status <> 'purged'",
    "blogposts": "SELECT id, space_id, status, title, version FROM blogposts WHERE status <> 'purged'",
    "folders": "SELECT id, space_id, status, title, version, parent_id FROM folders WHERE status <> 'purged'",
    "comments": "SELECT id, status, version, container_id, parent_comment_id, kind, resolution_status "
                "FROM comments WHERE status <> 'purged'",
    "attachments": "SELECT id, status, title, version, container_id FROM attachments WHERE status <> 'purged'",
    "labels": "SELECT content_id, label_id, name FROM labels WHERE deleted_at IS NULL",
    "ancestors": "SELECT id, ancestor_ids FROM pages WHERE status <> 'purged' "
                 "UNION ALL SELECT id, ancestor_ids FROM folders WHERE status <> 'purged'",
}


def _stored_rows(con) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for table, sql in _STORED.items():
        rows = con.execute(sql).fetchall()
        if table == "labels":
            out[table] = {(r[0], r[1]): r[2:] for r in rows}
        elif table == "ancestors":
            out[table] = {r[0]: list(r[1] or []) for r in rows}
        else:
            out[table] = {r[0]: r[1:] for r in rows}
    return out


def _compare(lake: Lake, ws) -> dict[str, Any]:
    """Rows missing, extra and stale against the site, and duplicate keys (count(*) - count(distinct
    key)) in every table but sync_state (a log by design); all must be 0."""
    with open_lake(lake, read_only=True) as con:
        stored = _stored_rows(con)
        duplicates = {}
        for name, table in TABLES.items():
            if name == "sync_state":
                continue
            key = ", ".join(f'"{k}"' for k in table.key)
            n = con.execute(f'SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT {key} FROM "{name}")) '
                            f'FROM "{name}"').fetchone()[0]
            if n:
                duplicates[name] = int(n)
    result: dict[str, Any] = {"missing": 0, "extra": 0, "stale": 0, "duplicates": sum(duplicates.values()),
                              "duplicates_by_table": duplicates, "examples": {}}
    for table, want in _expected_rows(ws).items():
        have = stored[table]
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        stale = sorted(k for k in set(want) & set(have) if want[k] != have[k])
        result["missing"] += len(missing)
        result["extra"] += len(extra)
        result["stale"] += len(stale)
        if missing or extra or stale:
            result["examples"][table] = {"missing": missing[:3], "extra": extra[:3],
                                         "stale": {str(k): [want[k], have[k]] for k in stale[:3]}}
    return result


def _bad(comparison: dict[str, Any]) -> bool:
    return any(comparison[k] for k in ("missing", "extra", "stale", "duplicates"))


def _comparison_line(c: dict[str, Any]) -> str:
    line = f"missing {c['missing']}, extra {c['extra']}, stale {c['stale']}, duplicates {c['duplicates']}"
    if c["duplicates_by_table"]:
        line += f" {c['duplicates_by_table']}"
    if c["examples"]:
        line += f"\n      e.g. {json.dumps(c['examples'], default=str)[:600]}"
    return line


# -- the site, settings and syncs ----------------------------------------------------------------

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


def _setup(folder: Path, base_url: str, start_date: str, storage: dict | None = None
           ) -> tuple[dict[str, str], Lake, Path]:
    """A data directory, settings file and Dagster home under `folder`: the environment for
    `confluence-pipeline sync`, the lake it writes, and the Dagster home."""
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


def _start_sync(env: dict[str, str], log_path: Path, *extra: str) -> subprocess.Popen:
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, "-m", "confluence_pipeline.cli", "sync", *extra], env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _finish(proc: subprocess.Popen, started: float, log_path: Path) -> dict[str, Any]:
    try:
        rc = proc.wait(timeout=SYNC_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rc = proc.wait()
        _say(f"    sync still running after {SYNC_TIMEOUT_S} s: killed")
    wall = time.perf_counter() - started
    if rc:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        _say(f"    sync exited {rc}; the end of {log_path}:\n      " + "\n      ".join(tail))
    return {"rc": rc, "wall_s": round(wall, 2)}


def _sync(env: dict[str, str], log_path: Path, *extra: str) -> dict[str, Any]:
    started = time.perf_counter()
    return _finish(_start_sync(env, log_path, *extra), started, log_path)


def _run_logs(home: Path) -> set[Path]:
    """Dagster's per-run event logs (SQLite) in this home."""
    return {p for p in (home / "history" / "runs").glob("*.db") if p.name != "index.db"}


def _step_events(home: Path, known: set[Path]) -> tuple[list[str], set[str]]:
    """Steps started (in order) and steps finished, in the runs started since `known`. Dagster's
    console at the sync's INFO level prints no STEP_START line: its event log has every one."""
    started: list[str] = []
    finished: set[str] = set()
    for path in sorted(_run_logs(home) - known):
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


def _storage(data_dir: Path, lake: Lake) -> dict[str, int]:
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

def _readers_beside_writers(emu: Emulator, folder: Path, start_date: str, rng: random.Random, edits: int,
                            incrementals: int) -> dict[str, Any]:
    env, lake, home = _setup(folder, emu.base_url, start_date)
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
            _say(f"  {kind} sync beside the readers" + (f" ({edits} pages edited)" if i else "") + "...")
            known = _run_logs(home)
            result = {"kind": kind, **_sync(env, folder / f"sync-{i}.log")}
            result["steps"] = len(_step_events(home, known)[0])
            syncs.append(result)
            _say(f"    exit {result['rc']} in {result['wall_s']:.1f} s, {result['steps']} steps")
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
        seen[mode]["p50_ms"] = round(_percentile(latencies, 0.50), 1) if latencies else None
        seen[mode]["p95_ms"] = round(_percentile(latencies, 0.95), 1) if latencies else None
        _say(f"  {mode} reader: {seen[mode]['reads']} reads, {seen[mode]['failed']} failed")
    site = _compare(lake, emu.ws)
    return {"env": env, "lake": lake, "home": home, "syncs": syncs,
            "failed_runs": sum(1 for s in syncs if s["rc"]), "readers": seen, "site": site}


def _kill_rounds(emu: Emulator, folder: Path, part1: dict[str, Any], rng: random.Random, edits: int,
                 kills: int) -> dict[str, Any]:
    env, lake, home = part1["env"], part1["lake"], part1["home"]
    steps = part1["syncs"][-1]["steps"] or 1  # a run's steps, to pick the one to kill inside
    rounds = []
    for i in range(1, kills + 1):
        _edit_pages(emu.ws, rng, edits, f"k{i}")
        target, delay = rng.randint(1, steps), rng.uniform(0.0, 3.0)
        known = _run_logs(home)
        started_at = time.perf_counter()
        proc = _start_sync(env, folder / f"killed-{i}.log")
        started: list[str] = []
        while proc.poll() is None and len(started) < target:
            time.sleep(0.05)
            started = _step_events(home, known)[0]
        time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        started, finished = _step_events(home, known)
        round_ = {"target_step": f"{target}/{steps}", "step_started": started[target - 1] if len(started) >= target
                  else None, "delay_s": round(delay, 2), "killed": killed,
                  "killed_at_s": round(time.perf_counter() - started_at, 2),
                  "inside": [s for s in started if s not in finished], "rc": proc.returncode}
        _say(f"  kill {i}: " + (f"kill -9 at {round_['killed_at_s']:.1f} s, {delay:.1f} s after step "
                                f"{target}/{steps} ({round_['step_started']}) started; inside "
                                f"{', '.join(round_['inside']) or 'no step (between steps)'}" if killed
                                else f"the sync finished (exit {proc.returncode}) before the kill"))
        known = _run_logs(home)
        rerun = _sync(env, folder / f"rerun-{i}.log")
        steps = len(_step_events(home, known)[0]) or steps
        round_["rerun"] = rerun
        round_["site"] = _compare(lake, emu.ws)
        _say(f"    rerun: exit {rerun['rc']} in {rerun['wall_s']:.1f} s; tables vs site: "
             f"{_comparison_line(round_['site'])}")
        rounds.append(round_)
    return {"rounds": rounds, "failed_runs": sum(1 for r in rounds if r["rerun"]["rc"])}


def _maintenance(emu: Emulator, folder: Path, lake: Lake) -> dict[str, Any]:
    data_dir = folder / "data"
    states = {"before": _storage(data_dir, lake)}
    out: dict[str, Any] = {"storage": states}
    for name, retention in (("30d", timedelta(days=30)), ("0d", timedelta(0))):
        _say(f"  maintenance, retention {retention.days} days, orphan grace 0...")
        report = maintain(lake, retention=retention, orphan_grace=timedelta(0))
        states[f"after_{name}"] = _storage(data_dir, lake)
        out[f"maintenance_{name}"] = {**report.metadata(), "site": _compare(lake, emu.ws)}
        _say(f"    {report.summary()} in {report.duration_s:.1f} s")
    return out


def _postgres(emu: Emulator, folder: Path, start_date: str, rng: random.Random, edits: int) -> dict[str, Any]:
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
        env, lake, home = _setup(folder, emu.base_url, start_date, storage={"catalog": catalog})
        _say(f"  full sync on a fresh PostgreSQL catalog (database {name})...")
        full = _sync(env, folder / "full.log")
        _say(f"    exit {full['rc']} in {full['wall_s']:.1f} s")
        _edit_pages(emu.ws, rng, edits, "pg")
        purged = _trash_and_purge_a_leaf(emu.ws, rng)
        subprocess.run([sys.executable, "-c", "import dagster; dagster.DagsterInstance.get()"], env=env, check=True,
                       capture_output=True)
        _say(f"  {edits} pages edited, page {purged} trashed and purged; `sync` and `sync --reconcile` at once...")
        started = time.perf_counter()
        logs = {"sync": folder / "sync.log", "sync --reconcile": folder / "reconcile.log"}
        jobs = {"sync": _start_sync(env, logs["sync"]),
                "sync --reconcile": _start_sync(env, logs["sync --reconcile"], "--reconcile")}
        ended: dict[str, float] = {}
        while len(ended) < len(jobs) and time.perf_counter() - started < SYNC_TIMEOUT_S:
            for label, proc in jobs.items():
                if label not in ended and proc.poll() is not None:
                    ended[label] = time.perf_counter() - started
            time.sleep(0.1)
        runs = {}
        for label, proc in jobs.items():
            runs[label] = _finish(proc, started, logs[label])
            runs[label]["wall_s"] = round(ended.get(label, runs[label]["wall_s"]), 2)
            _say(f"    {label}: exit {runs[label]['rc']} in {runs[label]['wall_s']:.1f} s")
        site = _compare(lake, emu.ws)
        with open_lake(lake, read_only=True) as con:
            status = con.execute("SELECT status FROM pages WHERE id = ?", [purged]).fetchall()
        _say(f"    tables vs site: {_comparison_line(site)}; purged page's row: {status}")
        return {"database": name, "full": full, "runs": runs, "site": site,
                "purged_page_status": status[0][0] if status else None,
                "failed_runs": int(bool(full["rc"])) + sum(1 for r in runs.values() if r["rc"])}
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


# -- the whole bench and its report --------------------------------------------------------------

def bench_storage(scale: int, seed: int, edits: int, incrementals: int, kills: int, *, as_json: bool = False) -> int:
    """Run the four parts; print the report (and with `as_json` one JSON document on stdout, the
    progress and the report then on stderr). Exit code 1 if anything that must be 0 is not."""
    global _OUT
    _OUT = sys.stderr if as_json else sys.stdout
    rng = random.Random(seed)
    anchor = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start_date = (anchor - timedelta(days=3)).date().isoformat()
    _say(f"storage bench, seed {seed}, scale {scale:,}, {edits} edits per round, {incrementals} incremental syncs, "
         f"{kills} kills; windows from {start_date}")
    _say("generating the site...")
    t0 = time.perf_counter()
    emu = Emulator(seed=seed, scale=scale, anchor=anchor)
    emu.start()
    _say(f"  {len(emu.ws.content):,} content items in {time.perf_counter() - t0:.1f} s, served on {emu.base_url}")
    result: dict[str, Any] = {"scale": scale, "seed": seed, "edits": edits, "incrementals": incrementals,
                              "kills": kills, "start_date": start_date}
    try:
        with tempfile.TemporaryDirectory(prefix="storage-bench-") as tmp:
            root = Path(tmp)
            _say("1. readers beside writers (SQLite catalog)")
            part1 = _readers_beside_writers(emu, root / "sqlite", start_date, rng, edits, incrementals)
            _say("3. kill -9 inside a step, then a rerun")
            part3 = _kill_rounds(emu, root / "sqlite", part1, rng, edits, kills)
            _say("4. storage and maintenance")
            part4 = _maintenance(emu, root / "sqlite", part1["lake"])
            _say("2. incremental and reconciliation at once on a PostgreSQL catalog")
            part2 = _postgres(emu, root / "postgres", start_date, rng, edits)
            if "skipped" in part2:
                _say(f"  skipped: {part2['skipped']}")
    finally:
        emu.stop()
    result["readers_beside_writers"] = {k: v for k, v in part1.items() if k not in ("env", "lake", "home")}
    result["postgres_concurrent_jobs"] = part2
    result["kill_and_rerun"] = {**part3, "maintenance": part4["maintenance_30d"]}
    result["storage"] = part4
    result["peak_rss_mb"] = {"bench_process_with_emulator": round(_peak_rss_mb()),
                             "largest_child": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}
    result["problems"] = _problems(result)
    _say("")
    _say(format_report(result))
    if as_json:
        print(json.dumps(result, default=str), flush=True)
    return 1 if result["problems"] else 0


def _problems(r: dict[str, Any]) -> list[str]:
    """What must be 0 and is not."""
    out = []
    p1 = r["readers_beside_writers"]
    for mode, seen in p1["readers"].items():
        if seen["failed"]:
            out.append(f"{mode} reader: {seen['failed']} failed reads")
    runs = p1["failed_runs"] + r["kill_and_rerun"]["failed_runs"] + r["postgres_concurrent_jobs"].get("failed_runs", 0)
    if runs:
        out.append(f"{runs} failed sync runs")
    checks = [("after the reader syncs", p1["site"])]
    checks += [(f"after rerun {i}", rnd["site"]) for i, rnd in enumerate(r["kill_and_rerun"]["rounds"], 1)]
    checks += [(f"after maintenance ({name})", r["storage"][f"maintenance_{name}"]["site"]) for name in ("30d", "0d")]
    if "site" in r["postgres_concurrent_jobs"]:
        checks.append(("PostgreSQL, after the concurrent jobs", r["postgres_concurrent_jobs"]["site"]))
    out += [f"tables differ from the site {when}" for when, c in checks if _bad(c)]
    return out


def _site_cells(c: dict[str, Any]) -> str:
    return f"{c['missing']:>8}{c['extra']:>6}{c['stale']:>6}{c['duplicates']:>6}"


def format_report(r: dict[str, Any]) -> str:
    p1, p2, p3, p4 = (r["readers_beside_writers"], r["postgres_concurrent_jobs"], r["kill_and_rerun"], r["storage"])
    lines = [f"storage bench, seed {r['seed']}, scale {r['scale']:,}: {r['edits']} edits per round, "
             f"{r['incrementals']} incremental syncs, {r['kills']} kills", "",
             "1. readers beside writers (SQLite catalog; readers and syncs are separate processes)",
             f"   {'sync':<16}{'exit':>6}{'wall s':>9}{'steps':>7}"]
    lines += [f"   {s['kind']:<16}{s['rc']:>6}{s['wall_s']:>9.1f}{s['steps']:>7}" for s in p1["syncs"]]
    lines += [f"   failed runs: {p1['failed_runs']} (must be 0)",
              f"   {'reader':<38}{'reads':>7}{'failed':>8}{'p50 ms':>8}{'p95 ms':>8}{'snapshots seen':>16}"
              f"{'waits*':>8}"]
    for mode, label in (("poll", "new connection per read (every 100 ms)"),
                        ("held", "one connection held (every 100 ms)")):
        s = p1["readers"][mode]
        p50 = f"{s['p50_ms']:.1f}" if s["p50_ms"] is not None else "-"
        p95 = f"{s['p95_ms']:.1f}" if s["p95_ms"] is not None else "-"
        lines.append(f"   {label:<38}{s['reads']:>7}{s['failed']:>8}{p50:>8}{p95:>8}{s['snapshots_seen']:>16}"
                     f"{s['waits']:>8}")
        lines += [f"      {e}" for e in s["errors"]]
    lines += ["   * reads tried before the first sync committed anything (nothing to read yet; not failures)",
              f"   tables vs site after these syncs: {_comparison_line(p1['site'])}", "",
              "2. `sync` and `sync --reconcile` at once on a PostgreSQL catalog"]
    if "skipped" in p2:
        lines.append(f"   skipped: {p2['skipped']}")
    else:
        lines += [f"   full sync first: exit {p2['full']['rc']}, {p2['full']['wall_s']:.1f} s",
                  *(f"   {label:<18} exit {run['rc']}, {run['wall_s']:.1f} s" for label, run in p2["runs"].items()),
                  f"   tables vs site: {_comparison_line(p2['site'])}",
                  f"   the purged page's row: {p2['purged_page_status']} (want purged)"]
    lines += ["", "3. kill -9 inside a step, then a rerun (no cleanup in between)",
              f"   {'round':<6}{'kill at s':>10}{'step started (k/n)':>44}{'+delay s':>9}  {'rerun exit':>10}"
              f"{'wall s':>8}{'missing':>8}{'extra':>6}{'stale':>6}{'dup':>6}"]
    for i, k in enumerate(p3["rounds"], 1):
        at = f"{k['killed_at_s']:.1f}" if k["killed"] else "no kill"
        step = f"{k['step_started']} ({k['target_step']})"
        lines.append(f"   {i:<6}{at:>10}{step:>44}{k['delay_s']:>9.1f}  {k['rerun']['rc']:>10}"
                     f"{k['rerun']['wall_s']:>8.1f}{_site_cells(k['site'])}")
        lines.append(f"          killed inside: {', '.join(k['inside']) or 'no step (between steps)'}")
    m = p3["maintenance"]
    lines += [f"   failed reruns: {p3['failed_runs']} (must be 0)",
              f"   maintenance (retention 30 days, orphan grace 0): {m['orphans_deleted']} orphaned files and "
              f"{m['spill_files_deleted']} spill files deleted",
              f"   tables vs site after it: {_comparison_line(m['site'])}", "",
              "4. storage (the SQLite-catalog lake of parts 1 and 3)",
              f"   {'':<30}{'lake/ bytes':>14}{'files':>7}{'parquet':>9}{'catalog bytes':>15}{'snapshots':>11}"
              f"{'current data bytes':>20}"]
    for key, label in (("before", "before maintenance"), ("after_30d", "after retention 30 days"),
                       ("after_0d", "after retention 0")):
        s = p4["storage"][key]
        lines.append(f"   {label:<30}{s['lake_bytes']:>14,}{s['lake_files']:>7}{s['parquet_files']:>9}"
                     f"{s['catalog_bytes']:>15,}{s['snapshots']:>11}{s['current_data_bytes']:>20,}")
    for name, label in (("30d", "retention 30 days"), ("0d", "retention 0")):
        m = p4[f"maintenance_{name}"]
        lines.append(f"   maintenance, {label}: merged {m['files_merged']} files into {m['files_created']}, expired "
                     f"{m['snapshots_expired']} snapshots, deleted {m['old_files_deleted']} unused and "
                     f"{m['orphans_deleted']} orphaned files in {m['duration_s']:.1f} s; tables vs site: "
                     f"{_comparison_line(m['site'])}")
    rss = r["peak_rss_mb"]
    lines += ["", f"peak RSS: this process (with the emulator) {rss['bench_process_with_emulator']:,} MB, "
                  f"largest child process {rss['largest_child']:,} MB",
              "all checks passed" if not r["problems"] else "PROBLEMS: " + "; ".join(r["problems"])]
    return "\n".join(lines)
