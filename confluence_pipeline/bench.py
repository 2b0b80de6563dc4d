"""Benchmarks: `confluence-pipeline bench emulator` (and later `bench sync`).

Figures are printed, never asserted: targets live here and in the README, not in timed tests.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from .sync.step import AssetReport, SyncContext


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_emulator(scale: int, seed: int, requests_count: int) -> dict[str, float]:
    from .emulator.app import Emulator
    from .emulator.generate import generate_workspace

    rss_before = _peak_rss_mb()
    started = time.perf_counter()
    ws = generate_workspace(seed, scale)
    generation_s = time.perf_counter() - started
    peak_rss = _peak_rss_mb()
    pages = sum(1 for c in ws.content.values() if c.type == "page")

    emu = Emulator(ws)
    base = emu.start()
    session = requests.Session()
    session.auth = (emu.credentials["email"], emu.credentials["api_token"])
    latencies: list[float] = []
    url = f"{base}/wiki/api/v2/pages?limit=250&body-format=storage"
    try:
        for _ in range(requests_count):
            t0 = time.perf_counter()
            response = session.get(url, timeout=30)
            latencies.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
            nxt = response.json()["_links"].get("next")
            url = f"{base}{nxt}" if nxt else f"{base}/wiki/api/v2/pages?limit=250&body-format=storage"
    finally:
        emu.stop()
    return {"scale": scale, "pages": pages, "content_items": len(ws.content), "generation_s": generation_s,
            "generation_peak_rss_mb": peak_rss, "rss_before_mb": rss_before,
            "list_250_median_ms": statistics.median(latencies), "list_250_p95_ms": _percentile(latencies, 0.95),
            "requests": len(latencies)}


SYNC_ASSETS = ("pages", "blogposts", "folders", "comments", "attachments", "labels")


def _serve_emulator(scale: int, seed: int) -> tuple[subprocess.Popen, str]:
    """The emulator in its own process, so that the sync's peak RSS is the sync's alone."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "confluence_pipeline.cli", "emulator", "serve", "--port", str(port),
                             "--scale", str(scale), "--seed", str(seed), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/__emulator__/workspace", timeout=2).ok:
                return proc, base
        except requests.RequestException:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the emulator did not start within 10 minutes")


def _run_all(ctx: "SyncContext") -> dict[str, "AssetReport"]:
    from .sync.content import sync_content
    from .sync.folders import sync_folders
    from .sync.labels import sync_labels
    from .sync.spaces import sync_spaces

    rng = ctx.windows.range(ctx.settings.sync.start_date.isoformat(),
                            datetime.now(timezone.utc).astimezone(ctx.tz).date().isoformat())
    reports = {"spaces": sync_spaces(ctx)}
    for asset in SYNC_ASSETS:
        if asset == "folders":
            reports[asset] = sync_folders(ctx, rng)
        elif asset == "labels":
            reports[asset] = sync_labels(ctx, rng)
        else:
            reports[asset] = sync_content(ctx, asset, rng)
    return reports


def bench_sync(scale: int, seed: int, latency_ms: int, changes: int) -> None:
    from .confluence.client import ConfluenceClient
    from .emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL
    from .settings import Settings, SyncSettings
    from .sync.step import SyncContext

    print(f"sync bench, seed {seed}, scale {scale:,}, added latency {latency_ms} ms per call", flush=True)
    proc, base = _serve_emulator(scale, seed)
    admin = requests.Session()
    try:
        admin.post(f"{base}/__emulator__/faults", json={"latency_ms": latency_ms}).raise_for_status()
        with tempfile.TemporaryDirectory() as tmp:
            today = datetime.now(timezone.utc).date()
            settings = Settings(data_dir=Path(tmp), sync=SyncSettings(start_date=today - timedelta(days=7)))
            client = ConfluenceClient.with_api_token(base, DEFAULT_EMAIL, DEFAULT_API_TOKEN)
            ctx = SyncContext(client=client, settings=settings, site_url=base)
            t0 = time.perf_counter()
            reports = _run_all(ctx)
            elapsed = time.perf_counter() - t0
            full = client.stats()
            pages = reports["pages"]
            print(f"\nfull sync: {sum(r.fetched for r in reports.values()):,} objects in {elapsed:.1f} s, "
                  f"peak RSS {_peak_rss_mb():,.0f} MB")
            print(f"  pages: {pages.fetched:,} in {pages.duration_s:.1f} s = {pages.fetched / pages.duration_s:,.0f} pages/s; "
                  + ", ".join(f"{name} {r.duration_s:.1f} s" for name, r in reports.items() if name != "pages"))
            print(f"  {'operation':<34}{'calls':>7}{'floor':>7}")
            floor_total = calls_total = 0
            server = admin.get(f"{base}/__emulator__/stats").json()["by_operation"]
            for name, stat in sorted(full["by_operation"].items()):
                if name in ("downloadAttatchment", "downloadAttachmentBytes"):
                    continue
                objects = server.get(name, {}).get("points", 0) - stat["calls"]
                floor = max(1, math.ceil(objects / 250))
                floor_total += floor
                calls_total += stat["calls"]
                print(f"  {name:<34}{stat['calls']:>7}{floor:>7}")
            downloads = full["by_operation"].get("downloadAttatchment", {}).get("calls", 0)
            print(f"  {'listings, total':<34}{calls_total:>7}{floor_total:>7}   ratio {calls_total / floor_total:.2f} "
                  "(target <= 1.25)")
            print(f"  attachment downloads (one per file, not a listing): {downloads}")

            for k in (0, changes):
                if k:
                    pages = client.pages(sort="-modified-date")
                    for _, page in zip(range(k), pages):
                        admin.post(f"{base}/__emulator__/content/{page.id}/edit",
                                   json={"body": f"<p>bench edit {time.time()}</p>"}).raise_for_status()
                client.reset_stats()
                ctx = SyncContext(client=client, settings=settings, site_url=base)
                t0 = time.perf_counter()
                _run_all(ctx)
                stats = client.stats()
                print(f"\nincremental sync with {k} changed pages: {stats['calls']} calls, {stats['points']} points, "
                      f"{time.perf_counter() - t0:.2f} s" + ("  (target <= 15 calls)" if k == 0 else ""))
                for name, stat in sorted(stats["by_operation"].items()):
                    print(f"  {name:<34}{stat['calls']:>7}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run(args: argparse.Namespace) -> int:
    if args.bench_command == "search":
        from .search.bench import bench_search, format_report

        print(format_report(bench_search(args.scale, args.seed, args.users, semantic=args.semantic)))
        return 0
    if args.bench_command == "embed":
        from .search.bench_embed import bench_embed, format_report as format_embed

        report = bench_embed(args.scale, args.seed, models=args.models.split(","),
                             progress=lambda m: print(m, file=sys.stderr))
        print(json.dumps(report, indent=2) if args.json else format_embed(report))
        return 0
    if args.bench_command == "storage":
        from .storage_bench import bench_storage

        return bench_storage(args.scale, args.seed, args.edits, args.incrementals, args.kills, as_json=args.json)
    if args.bench_command == "peers":
        from .peers_bench import bench_peers

        return bench_peers(args.scale, args.seed, as_json=args.json)
    if args.bench_command == "incremental":
        from .incremental_bench import bench_incremental

        return bench_incremental(args.scale, args.seed, args.runs, as_json=args.json)
    if args.bench_command == "freshness":
        from .freshness_bench import bench_freshness

        return bench_freshness(args.scale, args.seed, args.edits, args.interval, as_json=args.json)
    if args.bench_command == "faults":
        from .faults_bench import bench_faults

        return bench_faults(args.scale, args.seed, args.scenarios.split(","), outage_s=args.outage_s,
                            kills=args.kills, as_json=args.json)
    if args.bench_command == "sync":
        bench_sync(args.scale, args.seed, args.latency_ms, args.changes)
        return 0
    if args.bench_command == "emulator":
        r = bench_emulator(args.scale, args.seed, args.requests)
        print(f"emulator bench, seed {args.seed}, scale {r['scale']:,}")
        print(f"  generated {r['pages']:,} pages, {r['content_items']:,} content items in {r['generation_s']:.1f} s "
              f"(target < 60 s)")
        print(f"  peak RSS after generation {r['generation_peak_rss_mb']:,.0f} MB (target < 2,048 MB; "
              f"{r['rss_before_mb']:,.0f} MB before)")
        print(f"  GET /wiki/api/v2/pages?limit=250&body-format=storage, {r['requests']} calls over HTTP: "
              f"median {r['list_250_median_ms']:.1f} ms, p95 {r['list_250_p95_ms']:.1f} ms (target median < 25 ms)")
        return 0
    raise SystemExit(f"unknown benchmark {args.bench_command}")
