"""`confluence-pipeline bench ...`: the dispatch to each benchmark's module (imported only when
it runs, so the CLI starts fast).

Figures are printed, never asserted: targets live in the benchmarks and in the README, not in
timed tests.
"""

from __future__ import annotations

import argparse
import json
import sys


def run(args: argparse.Namespace) -> int:
    if args.bench_command == "search":
        from ..search.bench import bench_search, format_report

        print(format_report(bench_search(args.scale, args.seed, args.users, semantic=args.semantic)))
        return 0
    if args.bench_command == "embed":
        from ..search.bench_embed import bench_embed, format_report as format_embed

        report = bench_embed(args.scale, args.seed, models=args.models.split(","),
                             progress=lambda m: print(m, file=sys.stderr))
        print(json.dumps(report, indent=2) if args.json else format_embed(report))
        return 0
    if args.bench_command == "storage":
        from .storage import bench_storage

        return bench_storage(args.scale, args.seed, args.edits, args.incrementals, args.kills, as_json=args.json)
    if args.bench_command == "peers":
        from .peers import bench_peers

        return bench_peers(args.scale, args.seed, as_json=args.json)
    if args.bench_command == "incremental":
        from .incremental import bench_incremental

        return bench_incremental(args.scale, args.seed, args.runs, as_json=args.json)
    if args.bench_command == "freshness":
        from .freshness import bench_freshness

        return bench_freshness(args.scale, args.seed, args.edits, args.interval, as_json=args.json)
    if args.bench_command == "faults":
        from .faults import bench_faults

        return bench_faults(args.scale, args.seed, args.scenarios.split(","), outage_s=args.outage_s,
                            kills=args.kills, as_json=args.json)
    if args.bench_command == "sync":
        from .sync import bench_sync

        bench_sync(args.scale, args.seed, args.latency_ms, args.changes)
        return 0
    if args.bench_command == "emulator":
        from .emulator import bench_emulator, format_report as format_emulator

        print(format_emulator(bench_emulator(args.scale, args.seed, args.requests), args.seed))
        return 0
    raise SystemExit(f"unknown benchmark {args.bench_command}")
