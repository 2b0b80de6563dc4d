"""`confluence-pipeline bench ...`: each benchmark's subcommand and options, and the dispatch to
its module (imported only when it runs, so the CLI starts fast).

Figures are printed, never asserted: targets live in the benchmarks and in the README, not in
timed tests.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds `bench` and one subcommand per benchmark to the CLI's subcommands; the handler is
    `args.func(args)`."""
    parser = subparsers.add_parser("bench", help="benchmarks (figures for the README)")
    bench_sub = parser.add_subparsers(dest="bench_command", required=True)
    bench_emulator = _add_bench(bench_sub, "emulator", scale=100_000,
                                help="workspace generation time and memory, list latency")
    bench_emulator.add_argument("--requests", type=int, default=200, help="list calls to time")
    bench_sync = _add_bench(bench_sub, "sync", scale=10_000, json=True,
                            help="API calls against the floor, incremental cost, speed, memory")
    bench_sync.add_argument("--latency-ms", type=int, default=0, help="added to every emulator call")
    bench_sync.add_argument("--cli", action="store_true",
                            help="the first sync as users run it (`confluence-pipeline sync`, every asset, "
                                 "through Dagster) against the latency bound, instead of the content steps "
                                 "in this process")
    bench_sync.add_argument("--changes", type=int, default=25, help="pages edited before the second incremental")
    bench_faults = _add_bench(bench_sub, "faults", scale=2_000, json=True,
                              help="full syncs through 429 storms, 5xx, an outage, kill -9 and a large "
                                   "attachment; tables checked against the site")
    bench_faults.add_argument("--scenarios", default="429,5xx,outage,kill,large",
                              help="comma-separated: 429, 5xx, outage, kill, large")
    bench_faults.add_argument("--outage-s", type=float, default=90.0, help="how long every connection is dropped")
    bench_faults.add_argument("--kills", type=int, default=5, help="kill -9 rounds, each followed by a rerun")
    bench_search = _add_bench(bench_sub, "search", scale=10_000, help="relevance of planted facts, search latency")
    bench_search.add_argument("--users", type=int, default=4, help="users whose searches are timed")
    bench_search.add_argument("--semantic", choices=["auto", "on", "off"], default="auto",
                              help="search.semantic for the sync (off: BM25 only, no embedding)")
    bench_embed = _add_bench(bench_sub, "embed", scale=1_000, json=True,
                             help="embedding speed, memory and recall: today's model and the index's, side by side")
    bench_embed.add_argument("--models", default="minilm-torch,minilm-onnx-int8,minilm-onnx-int8-x2,minilm-model2vec",
                             help="comma-separated models to run (speed-up and cosine columns need minilm-torch)")
    bench_storage = _add_bench(bench_sub, "storage", scale=5000, json=True,
                               help="readers beside syncs, concurrent jobs on PostgreSQL, kill -9 and rerun, "
                                    "lake size and maintenance")
    bench_storage.add_argument("--edits", type=int, default=25, help="pages edited before each sync")
    bench_storage.add_argument("--incrementals", type=int, default=5, help="incremental syncs beside the readers")
    bench_storage.add_argument("--kills", type=int, default=5, help="syncs killed with kill -9, each then rerun")
    bench_incremental = _add_bench(bench_sub, "incremental", scale=500, json=True,
                                   help="what a sync with nothing to do costs through Dagster: wall time, "
                                        "event-log entries, API calls")
    bench_incremental.add_argument("--runs", type=int, default=3, help="no-change syncs after the first")
    bench_freshness = _add_bench(bench_sub, "freshness", scale=200, json=True,
                                 help="seconds from an edit in Confluence to query and search, with dagster dev "
                                      "running the change sensor")
    bench_freshness.add_argument("--edits", type=int, default=20, help="edits, one at a time")
    bench_freshness.add_argument("--interval", type=int, default=30, help="the sensor's sync.sensor_interval (s)")
    _add_bench(bench_sub, "peers", scale=300, json=True,
               help="this sync beside LangChain and LlamaIndex on one site: calls, time, memory, coverage, "
                    "over-grants (needs the peers extra)")
    return parser


def _add_bench(bench_sub: argparse._SubParsersAction, name: str, *, help: str, scale: int,
               json: bool = False) -> argparse.ArgumentParser:
    """A `bench` subcommand with the options every benchmark takes: the site's scale and seed."""
    parser = bench_sub.add_parser(name, help=help)
    parser.add_argument("--scale", type=int, default=scale)
    parser.add_argument("--seed", type=int, default=42)
    if json:
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout (the rest on stderr)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.bench_command == "search":
        from .search import bench_search, format_report

        print(format_report(bench_search(args.scale, args.seed, args.users, semantic=args.semantic)))
        return 0
    if args.bench_command == "embed":
        from .embed import bench_embed, format_report as format_embed

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
    if args.bench_command == "sync" and args.cli:
        from .first_sync import bench_first_sync

        return bench_first_sync(args.scale, args.seed, args.latency_ms, as_json=args.json)
    if args.bench_command == "sync":
        from .sync import bench_sync

        if args.json:
            raise SystemExit("bench sync: --json goes with --cli (the in-process bench prints its tables only)")
        bench_sync(args.scale, args.seed, args.latency_ms, args.changes)
        return 0
    if args.bench_command == "emulator":
        from .emulator import bench_emulator, format_report as format_emulator

        print(format_emulator(bench_emulator(args.scale, args.seed, args.requests), args.seed))
        return 0
    raise SystemExit(f"unknown benchmark {args.bench_command}")
