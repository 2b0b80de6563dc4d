"""`confluence-pipeline bench incremental`: what a run with nothing to do costs, launched as a user
or the schedule launches it: `confluence-pipeline sync` with no dates, in its own process, through
Dagster on a real instance. Measured per run: wall time from process start to exit (imports and
run start included), the event-log entries of the Dagster runs it made, and the API requests the
emulator received. Goals: <= 10 s, <= 100 event-log entries and <= 12 calls, at any scale.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from ..emulator.app import Emulator
from .common import midnight_utc
from .sync_runs import run_sync, step_figures, sync_environment

GOALS = {"wall_s": 10, "events": 100, "calls": 12}


def _runs_since(instance: dg.DagsterInstance, known: set[str]) -> list[dg.DagsterRun]:
    return [r for r in instance.get_runs() if r.run_id not in known]


def _measure(env: dict[str, str], home: Path, emu: Emulator, log: Path) -> dict[str, Any]:
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        known = {r.run_id for r in instance.get_runs()}
    before = emu.limits.stats()
    outcome = run_sync(env, log)
    after = emu.limits.stats()
    calls = after["received_requests"] - before["received_requests"]
    by_operation = {op: sum(statuses.values()) - sum(before["received"].get(op, {}).values())
                    for op, statuses in after["received"].items()}
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        runs = _runs_since(instance, known)
        kinds: Counter[str] = Counter()
        steps: dict[str, dict[str, float]] = {}
        for run in runs:
            logs = instance.all_logs(run.run_id)
            kinds.update(e.dagster_event.event_type_value if e.dagster_event else "LOG" for e in logs)
            steps.update(step_figures(logs, work_s="duration_s"))
    return {"rc": outcome["rc"], "wall_s": outcome["wall_s"], "runs": [r.job_name for r in runs],
            "events": sum(kinds.values()), "events_by_type": dict(kinds.most_common()), "calls": calls,
            "steps": steps,
            "calls_by_operation": dict(sorted(((op, n) for op, n in by_operation.items() if n),
                                              key=lambda item: (-item[1], item[0])))}


def bench_incremental(scale: int, seed: int, runs: int, *, as_json: bool = False) -> int:
    anchor = midnight_utc()
    start_date = (anchor - timedelta(days=30)).date().isoformat()
    print(f"incremental bench, seed {seed}, scale {scale:,}, windows from {start_date}, {runs} no-change runs",
          flush=True)
    emu = Emulator(seed=seed, scale=scale, anchor=anchor)
    emu.start()
    try:
        with tempfile.TemporaryDirectory(prefix="incremental-bench-") as tmp:
            env, _, home = sync_environment(Path(tmp), emu.base_url, start_date)
            first = _measure(env, home, emu, Path(tmp) / "first.log")
            print(f"  first sync: {first['wall_s']:.1f} s, {first['calls']} calls, {first['events']} events "
                  f"(exit {first['rc']})", flush=True)
            noop = [_measure(env, home, emu, Path(tmp) / f"noop{i}.log") for i in range(runs)]
    finally:
        emu.stop()
    result = {"scale": scale, "seed": seed, "first": first, "no_change": noop, "goals": GOALS,
              "median": {k: statistics.median(r[k] for r in noop) for k in GOALS}}
    print(format_report(result))
    if as_json:
        print(json.dumps(result))
    failed = any(r["rc"] for r in [first, *noop])
    return 1 if failed else 0


def format_report(r: dict[str, Any]) -> str:
    lines = [f"\nno-change `confluence-pipeline sync` at scale {r['scale']:,} (process start to exit):",
             f"  {'run':<5}{'wall s':>8}{'events':>8}{'calls':>7}  jobs; events by type"]
    for i, run in enumerate(r["no_change"], 1):
        kinds = ", ".join(f"{k} {n}" for k, n in list(run["events_by_type"].items())[:4])
        lines.append(f"  {i:<5}{run['wall_s']:>8.1f}{run['events']:>8}{run['calls']:>7}  "
                     f"{', '.join(run['runs'])}; {kinds}")
    median, goals = r["median"], r["goals"]
    lines.append(f"  {'median':<5}{median['wall_s']:>8.1f}{median['events']:>8.0f}{median['calls']:>7.0f}  "
                 f"goals <= {goals['wall_s']} s, <= {goals['events']} events, <= {goals['calls']} calls: "
                 + ", ".join(f"{k} {'met' if median[k] <= goals[k] else 'NOT met'}" for k in goals))
    last = r["no_change"][-1]
    lines.append("  calls of the last run by operation: "
                 + ", ".join(f"{op} {n}" for op, n in last["calls_by_operation"].items()))
    steps = last.get("steps", {})
    timed = [t for t in steps.values() if "step_s" in t]
    if timed:
        step_s = sum(t["step_s"] for t in timed)
        work = [t for t in timed if "work_s" in t]
        overhead = sum(t["step_s"] - t["work_s"] for t in work) / len(work) if work else 0.0
        lines.append(f"  steps of the last run: {len(timed)}, {step_s:.1f} s in steps; of the {len(work)} that "
                     f"report their work, {overhead:.2f} s of overhead each (step time less the work)")
        lines.append("  step seconds: " + ", ".join(f"{k} {t['step_s']:.2f}" for k, t in steps.items() if "step_s" in t))
    lines.append("  events of the last run by type: "
                 + ", ".join(f"{k} {n}" for k, n in last["events_by_type"].items()))
    return "\n".join(lines)
