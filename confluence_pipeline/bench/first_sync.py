"""`confluence-pipeline bench sync --cli`: the first sync as users run it, `confluence-pipeline
sync` in its own process through Dagster (every asset), on a site whose every call takes
`--latency-ms` more, against the latency bound.

The bound is the least time the sync could take if waiting on Confluence were the only cost:
each step's calls as round trips one after another (`api_calls_sequential`: a pool of N
downloads counts a call per N), times the latency, summed over the critical path. The CLI runs
a job's steps one after another (Dagster's in-process executor), so every step is on it. Goal: wall
time (process start to exit) <= 1.2 x the bound. Steps that make no call (documents, the index)
only add to the wall time: what they cost is what the ratio shows beyond the waiting.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import requests
from dagster._core.instance.ref import InstanceRef

from .common import midnight_utc, serve_emulator
from .sync_runs import run_sync, step_figures, sync_environment

GOAL_RATIO = 1.2


def _steps(home: Path) -> dict[str, dict[str, float]]:
    """Per step of the runs in this home: seconds, calls, and calls as round trips in a row (a
    step that reports no calls made none)."""
    steps: dict[str, dict[str, float]] = {}
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        for run in reversed(instance.get_runs()):
            figures = step_figures(instance.all_logs(run.run_id), calls="api_calls",
                                   sequential="api_calls_sequential")
            for key, f in figures.items():
                calls = int(f.get("calls", 0))
                steps[key] = {"step_s": f.get("step_s", 0.0), "calls": calls,
                              "sequential": int(f.get("sequential", calls))}
    return steps


def bench_first_sync(scale: int, seed: int, latency_ms: int, *, as_json: bool = False) -> int:
    start_date = (midnight_utc() - timedelta(days=7)).date().isoformat()
    out = sys.stderr if as_json else sys.stdout  # --json: the JSON alone on stdout
    print(f"first-sync bench, seed {seed}, scale {scale:,}, {latency_ms} ms added to every call, "
          f"windows from {start_date}", file=out, flush=True)
    proc, base = serve_emulator(scale, seed)
    try:
        requests.post(f"{base}/__emulator__/faults", json={"latency_ms": latency_ms}, timeout=30).raise_for_status()
        with tempfile.TemporaryDirectory(prefix="first-sync-bench-") as tmp:
            env, _, home = sync_environment(Path(tmp), base, start_date)
            outcome = run_sync(env, Path(tmp) / "sync.log", say=lambda *a: print(*a, file=out, flush=True))
            peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the sync's, before the emulator's
            steps = _steps(home)
            received = requests.get(f"{base}/__emulator__/stats", timeout=30).json()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    sequential = sum(int(s["sequential"]) for s in steps.values())
    bound = sequential * latency_ms / 1000
    result = {"scale": scale, "seed": seed, "latency_ms": latency_ms, "rc": outcome["rc"], "wall_s": outcome["wall_s"],
              "peak_rss_mb": round(peak_rss_mb), "steps": steps, "calls": sum(int(s["calls"]) for s in steps.values()),
              "emulator_requests": received.get("received_requests"), "sequential_calls": sequential,
              "bound_s": round(bound, 1), "ratio": round(outcome["wall_s"] / bound, 3) if bound else None,
              "goal_ratio": GOAL_RATIO}
    print(format_report(result), file=out)
    if as_json:
        print(json.dumps(result))
    return 1 if outcome["rc"] else 0


def format_report(r: dict[str, Any]) -> str:
    latency = r["latency_ms"] / 1000
    lines = [f"\nfirst `confluence-pipeline sync` at scale {r['scale']:,}, {r['latency_ms']} ms per call "
             f"(exit {r['rc']}):",
             f"  {'step':<24}{'calls':>7}{'in a row':>10}{'bound s':>9}{'step s':>9}"]
    for name, s in r["steps"].items():
        lines.append(f"  {name:<24}{s['calls']:>7}{s['sequential']:>10}{s['sequential'] * latency:>9.1f}"
                     f"{s['step_s']:>9.1f}")
    lines.append(f"  {'all steps, one after another':<31}{r['calls']:>7}{r['sequential_calls']:>10}"
                 f"{r['bound_s']:>9.1f}{sum(s['step_s'] for s in r['steps'].values()):>9.1f}")
    met = r["bound_s"] > 0 and r["wall_s"] <= r["goal_ratio"] * r["bound_s"]  # not the rounded ratio
    lines.append(f"  wall {r['wall_s']:.1f} s (process start to exit), bound {r['bound_s']:.1f} s, "
                 f"ratio {'-' if r['ratio'] is None else format(r['ratio'], '.3f')}, "
                 f"peak RSS {r['peak_rss_mb']:,} MB; "
                 f"goal ratio <= {r['goal_ratio']}: {'met' if met else 'NOT met'}")
    lines.append(f"  requests the emulator received: {r['emulator_requests']:,} (calls the steps counted: "
                 f"{r['calls']:,})")
    return "\n".join(lines)
