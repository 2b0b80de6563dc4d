"""The demo's Confluence: the bundled emulator served by a background process on a fixed local
port that every Dagster step process (and a later demo run) shares. The CLI's `demo` starts it,
and so does the Confluence resource when it runs without credentials."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

DEMO_PORT = int(os.environ.get("CONFLUENCE_DEMO_PORT", "8765"))
DEMO_SEED = 42
DEMO_SCALE = 300


def _alive(url: str) -> bool:
    try:
        return requests.get(f"{url}/__emulator__/workspace", timeout=2).ok
    except requests.RequestException:
        return False


def ensure_demo_emulator(port: int = DEMO_PORT, log_dir: Path | None = None) -> str:
    """The demo emulator's base URL, starting it in a background process if nothing serves it yet."""
    url = f"http://127.0.0.1:{port}"
    if _alive(url):
        return url
    log_dir = log_dir or Path(os.environ.get("CONFLUENCE_DATA_DIR", "data"))
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "demo-emulator.log", "ab") as log:
        subprocess.Popen([sys.executable, "-m", "confluence_pipeline.cli", "emulator", "serve", "--port", str(port),
                          "--seed", str(DEMO_SEED), "--scale", str(DEMO_SCALE), "--quiet"],
                         stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if _alive(url):
            return url
        time.sleep(0.2)
    raise RuntimeError(f"The demo emulator did not start on port {port}: see {log_dir / 'demo-emulator.log'}; "
                       "if another program uses the port, set CONFLUENCE_DEMO_PORT to a free one")
