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

import functools
import json
import random
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..emulator.app import Emulator
from . import storage_parts as parts
from .common import midnight_utc, peak_rss_mb
from .site_check import differs
from .storage_report import format_report


def bench_storage(scale: int, seed: int, edits: int, incrementals: int, kills: int, *, as_json: bool = False) -> int:
    """Run the four parts; print the report (and with `as_json` one JSON document on stdout, the
    progress and the report then on stderr). Exit code 1 if anything that must be 0 is not."""
    say = functools.partial(print, file=sys.stderr if as_json else sys.stdout, flush=True)
    rng = random.Random(seed)
    anchor = midnight_utc()
    start_date = (anchor - timedelta(days=3)).date().isoformat()
    say(f"storage bench, seed {seed}, scale {scale:,}, {edits} edits per round, {incrementals} incremental syncs, "
        f"{kills} kills; windows from {start_date}")
    say("generating the site...")
    t0 = time.perf_counter()
    emu = Emulator(seed=seed, scale=scale, anchor=anchor)
    emu.start()
    say(f"  {len(emu.ws.content):,} content items in {time.perf_counter() - t0:.1f} s, served on {emu.base_url}")
    result: dict[str, Any] = {"scale": scale, "seed": seed, "edits": edits, "incrementals": incrementals,
                              "kills": kills, "start_date": start_date}
    try:
        with tempfile.TemporaryDirectory(prefix="storage-bench-") as tmp:
            root = Path(tmp)
            say("1. readers beside writers (SQLite catalog)")
            part1 = parts.readers_beside_writers(emu, root / "sqlite", start_date, rng, edits, incrementals, say)
            say("3. kill -9 inside a step, then a rerun")
            part3 = parts.kill_and_rerun(emu, root / "sqlite", part1, rng, edits, kills, say)
            say("4. storage and maintenance")
            part4 = parts.storage_and_maintenance(emu, root / "sqlite", part1["lake"], say)
            say("2. incremental and reconciliation at once on a PostgreSQL catalog")
            part2 = parts.postgres_concurrent_jobs(emu, root / "postgres", start_date, rng, edits, say)
            if "skipped" in part2:
                say(f"  skipped: {part2['skipped']}")
    finally:
        emu.stop()
    result["readers_beside_writers"] = {k: v for k, v in part1.items() if k not in ("env", "lake", "home")}
    result["postgres_concurrent_jobs"] = part2
    result["kill_and_rerun"] = {**part3, "maintenance": part4["maintenance_30d"]}
    result["storage"] = part4
    result["peak_rss_mb"] = {"bench_process_with_emulator": round(peak_rss_mb()),
                             "largest_child": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}
    result["problems"] = _problems(result)
    say("")
    say(format_report(result))
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
    out += [f"tables differ from the site {when}" for when, c in checks if differs(c)]
    return out
