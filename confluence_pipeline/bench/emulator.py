"""`confluence-pipeline bench emulator`: how long the emulator takes to generate a site and how
much memory that takes, and the latency of its page listing over HTTP."""

from __future__ import annotations

import statistics
import time
from typing import Any

import requests

from .common import peak_rss_mb, percentile


def bench_emulator(scale: int, seed: int, requests_count: int) -> dict[str, float]:
    from ..emulator.app import Emulator
    from ..emulator.generate import generate_workspace

    rss_before = peak_rss_mb()
    started = time.perf_counter()
    ws = generate_workspace(seed, scale)
    generation_s = time.perf_counter() - started
    peak_rss = peak_rss_mb()
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
            "list_250_median_ms": statistics.median(latencies), "list_250_p95_ms": percentile(latencies, 0.95),
            "requests": len(latencies)}


def format_report(r: dict[str, Any], seed: int) -> str:
    return "\n".join([
        f"emulator bench, seed {seed}, scale {r['scale']:,}",
        f"  generated {r['pages']:,} pages, {r['content_items']:,} content items in {r['generation_s']:.1f} s "
        f"(target < 60 s)",
        f"  peak RSS after generation {r['generation_peak_rss_mb']:,.0f} MB (target < 2,048 MB; "
        f"{r['rss_before_mb']:,.0f} MB before)",
        f"  GET /wiki/api/v2/pages?limit=250&body-format=storage, {r['requests']} calls over HTTP: "
        f"median {r['list_250_median_ms']:.1f} ms, p95 {r['list_250_p95_ms']:.1f} ms (target median < 25 ms)"])
