"""`confluence-pipeline bench sync`: a full sync in this process against the emulator served by
another: API calls against the floor (objects / 250 per listing), speed and memory, then what
incremental syncs cost with no change and with edited pages."""

from __future__ import annotations

import math
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from .common import peak_rss_mb, run_all, serve_emulator


def bench_sync(scale: int, seed: int, latency_ms: int, changes: int) -> None:
    from ..confluence.client import ConfluenceClient
    from ..emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL
    from ..settings import Settings, SyncSettings
    from ..sync.step import SyncContext

    print(f"sync bench, seed {seed}, scale {scale:,}, added latency {latency_ms} ms per call", flush=True)
    proc, base = serve_emulator(scale, seed)
    admin = requests.Session()
    try:
        admin.post(f"{base}/__emulator__/faults", json={"latency_ms": latency_ms}).raise_for_status()
        with tempfile.TemporaryDirectory() as tmp:
            today = datetime.now(timezone.utc).date()
            settings = Settings(data_dir=Path(tmp), sync=SyncSettings(start_date=today - timedelta(days=7)))
            client = ConfluenceClient.with_api_token(base, DEFAULT_EMAIL, DEFAULT_API_TOKEN)
            ctx = SyncContext(client=client, settings=settings, site_url=base)
            t0 = time.perf_counter()
            reports = run_all(ctx)
            elapsed = time.perf_counter() - t0
            full = client.stats()
            pages = reports["pages"]
            print(f"\nfull sync: {sum(r.fetched for r in reports.values()):,} objects in {elapsed:.1f} s, "
                  f"peak RSS {peak_rss_mb():,.0f} MB")
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
                run_all(ctx)
                stats = client.stats()
                print(f"\nincremental sync with {k} changed pages: {stats['calls']} calls, {stats['points']} points, "
                      f"{time.perf_counter() - t0:.2f} s" + ("  (target <= 15 calls)" if k == 0 else ""))
                for name, stat in sorted(stats["by_operation"].items()):
                    print(f"  {name:<34}{stat['calls']:>7}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
