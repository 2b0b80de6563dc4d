"""Benchmarks: `confluence-pipeline bench emulator` (and later `bench sync`).

Figures are printed, never asserted: targets live here and in the README, not in timed tests.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import requests


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


def run(args: argparse.Namespace) -> int:
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
