"""What several benchmarks measure with or start from: peak memory, percentiles, a free port,
the emulator in its own process, and every content asset synced in this process."""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Iterator

import requests

if TYPE_CHECKING:
    from ..emulator.app import Emulator
    from ..sync.step import AssetReport, SyncContext

SYNC_ASSETS = ("pages", "blogposts", "folders", "comments", "attachments", "labels")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def midnight_utc() -> datetime:
    """Today's midnight (UTC): where a generated site's history ends, so the same seed gives the
    same site all day."""
    return datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def generated_site(scale: int, seed: int, progress: Callable[[str], object] = print) -> Iterator[Emulator]:
    """A generated site served from this process (its workspace at hand) while the block runs."""
    from ..emulator.app import Emulator

    progress(f"generating the site (seed {seed}, scale {scale:,})")
    emu = Emulator(seed=seed, scale=scale, anchor=midnight_utc())
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def serve_emulator(scale: int, seed: int) -> tuple[subprocess.Popen, str]:
    """The emulator in its own process, so that the sync's peak RSS is the sync's alone."""
    port = free_port()
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


def run_all(ctx: "SyncContext") -> dict[str, "AssetReport"]:
    """Spaces, then every content asset over the windows from the settings' start date to today."""
    from ..sync.content import sync_content
    from ..sync.folders import sync_folders
    from ..sync.labels import sync_labels
    from ..sync.spaces import sync_spaces

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
