"""The scenarios of `confluence-pipeline bench faults` (see faults.py): `Scenario` is one
scenario's data directory, its syncs and its result; each function below runs one scenario."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

import dagster as dg
import requests
import yaml
from dagster._core.instance.ref import InstanceRef

from ..confluence.auth import OAuthApp
from ..confluence.login import login
from ..confluence.tokens import TokenStore
from ..emulator import mutations
from ..emulator.app import Emulator
from ..storage.warehouse import Warehouse
from .faults_measure import client_counters, last_failure, sync_measured, watermarks_ahead
from .site_check import compare_with_site
from .sync_runs import run_logs, start_sync, step_events, sync_environment

DOWNLOAD = "downloadAttatchment"  # the spec's operationId, typo included
LARGE_BYTES = 150 * 1024 * 1024


class Scenario:
    def __init__(self, name: str, root: Path, emu: Emulator, start_date: str) -> None:
        self.name, self.emu = name, emu
        self.folder = root / name
        self.env, self.lake, self.home = sync_environment(self.folder, emu.base_url, start_date)
        self.runs: list[dict[str, Any]] = []
        self.started = time.perf_counter()
        emu.limits.reset_stats()

    def sync(self, label: str, during: Callable[[], None] | None = None) -> dict[str, Any]:
        log = self.folder / f"{label}.log"
        helper = threading.Thread(target=during, daemon=True) if during else None
        if helper:
            helper.start()
        run = {"label": label, **sync_measured(self.env, log)}
        if run["rc"]:
            run["message"] = last_failure(log)
        if helper:
            helper.join()
        self.runs.append(run)
        return run

    def result(self, **extra: Any) -> dict[str, Any]:
        comparison = compare_with_site(self.lake, self.emu.ws)
        last = self.runs[-1] if self.runs else {"rc": None}
        return {"scenario": self.name, "completed": last["rc"] == 0,
                "message": "" if last["rc"] == 0 else last.get("message", ""),
                "wall_s": round(time.perf_counter() - self.started, 1), "runs": self.runs,
                "retries_by_cause": self.emu.limits.stats()["rejected"], "client_counters": client_counters(self.home),
                "comparison": comparison, "watermarks_ahead": watermarks_ahead(self.lake, self.emu.ws), **extra}


def storms_429(s: Scenario) -> dict[str, Any]:
    s.emu.limits.set_faults(storm_429=40, storm_retry_after=1)
    s.sync("storm-40")
    s.emu.limits.set_faults(storm_429=200, storm_retry_after=1)
    s.sync("storm-200")
    s.emu.limits.clear_faults()
    return s.result()


def errors_5xx(s: Scenario) -> dict[str, Any]:
    s.emu.limits.set_faults(error_rate_5xx=0.1, error_5xx_retry_after=1, seed=15)
    s.sync("5xx")
    s.emu.limits.clear_faults()
    return s.result()


def connection_outage(s: Scenario, seconds: float) -> dict[str, Any]:
    def outage() -> None:
        time.sleep(2)  # inside the first steps
        s.emu.limits.set_faults(drop_connections=10**9)
        time.sleep(seconds)
        s.emu.limits.clear_faults()

    s.sync("outage", during=outage)
    return s.result(outage_s=seconds)


def _oauth_login(s: Scenario) -> None:
    """`auth login` against the emulator's auth server (auto-consent), and the environment of an
    OAuth sync: client id and secret, the emulator as auth server and gateway, the token store."""
    emu = s.emu

    def browser(url: str) -> None:
        def follow() -> None:  # the user's browser: consent redirects to the login's callback
            location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
            requests.get(location, timeout=10)
        threading.Thread(target=follow, daemon=True).start()

    token_file = s.folder / "tokens.json"
    app = OAuthApp(emu.credentials["client_id"], emu.credentials["client_secret"],
                   redirect_uri=emu.credentials["redirect_uri"], auth_url=emu.base_url, api_url=emu.base_url)
    login(app, TokenStore(token_file), browser=browser, timeout=30, say=lambda line: None)
    for name in ("CONFLUENCE_SITE_URL", "CONFLUENCE_EMAIL", "CONFLUENCE_API_TOKEN"):
        s.env.pop(name)
    s.env.update({"CONFLUENCE_CLIENT_ID": emu.credentials["client_id"],
                  "CONFLUENCE_CLIENT_SECRET": emu.credentials["client_secret"],
                  "CONFLUENCE_REDIRECT_URI": emu.credentials["redirect_uri"], "CONFLUENCE_AUTH_URL": emu.base_url,
                  "CONFLUENCE_API_URL": emu.base_url, "CONFLUENCE_TOKEN_FILE": str(token_file)})


def token_expiry(s: Scenario, every_s: float = 2.0) -> dict[str, Any]:
    _oauth_login(s)
    expired = {"expiries": 0, "tokens": 0}
    running = threading.Event()

    def expire() -> None:
        while not running.wait(every_s):
            expired["expiries"] += 1
            expired["tokens"] += s.emu.auth.expire_all_access_tokens()

    expirer = threading.Thread(target=expire, daemon=True)
    expirer.start()
    try:
        s.sync("oauth")
    finally:
        running.set()
        expirer.join()
    return s.result(tokens_expired=expired["tokens"], expiries=expired["expiries"])


def cancel_run(s: Scenario) -> dict[str, Any]:
    def received(operation: str) -> int:
        return sum(s.emu.limits.stats()["received"].get(operation, {}).values())

    log = s.folder / "cancelled.log"
    started = time.perf_counter()
    proc = start_sync(s.env, log)
    figures: dict[str, Any] = {}
    try:
        while received(DOWNLOAD) == 0 and proc.poll() is None:
            time.sleep(0.02)
        s.emu.limits.set_faults(storm_429=10**9, storm_retry_after=30)
        while s.emu.limits.stats()["rejected"]["429"] == 0 and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(1)  # the download threads are in their 30 s wait
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(s.home))) as instance:
            [run] = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
            asked = time.perf_counter()
            instance.run_coordinator.cancel_run(run.run_id)  # what the UI's Terminate does
            while instance.get_run_by_id(run.run_id).status != dg.DagsterRunStatus.CANCELED:
                if time.perf_counter() - asked > 300:
                    break
                time.sleep(0.05)
            figures["cancel_to_canceled_s"] = round(time.perf_counter() - asked, 2)
            figures["run_status"] = instance.get_run_by_id(run.run_id).status.value
            proc.wait()
            figures["cancel_to_exit_s"] = round(time.perf_counter() - asked, 2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        s.emu.limits.clear_faults()
    s.runs.append({"label": "cancelled", "rc": proc.returncode, "wall_s": round(time.perf_counter() - started, 2),
                   "peak_rss_mb": None})
    with Warehouse(s.lake, read_only=True) as wh:
        figures["attachments_stored_by_interrupted_step"] = wh.count("attachments")
        figures["attachments_watermark"] = wh.get_state("watermark:attachments") or ""
    s.sync("rerun")
    return s.result(cancel=figures)


def kill_and_rerun(s: Scenario, rng: random.Random, kills: int) -> dict[str, Any]:
    rounds = []
    for i in range(1, kills + 1):
        known = run_logs(s.home)
        log = s.folder / f"killed-{i}.log"
        target = rng.randint(1, 6)  # the k-th step to start: the kill lands inside it
        s.emu.limits.set_faults(latency_ms=20)
        proc = start_sync(s.env, log)
        inside = ""
        deadline = time.monotonic() + 1800
        while proc.poll() is None and time.monotonic() < deadline:
            started, finished = step_events(s.home, known)
            if len(started) >= target and started[target - 1] not in finished:
                time.sleep(rng.uniform(0.1, 1.5))
                inside = started[target - 1]
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        proc.wait()
        s.emu.limits.clear_faults()
        rerun = s.sync(f"rerun-{i}")
        cleared = [line for line in (s.folder / f"rerun-{i}.log").read_text().splitlines()
                   if "died without finishing" in line]
        rounds.append({"killed_inside": inside or "(finished before the kill)", "rerun_rc": rerun["rc"],
                       "dead_run_cleared": len(cleared), "comparison": compare_with_site(s.lake, s.emu.ws)})
        if i < kills:  # a change for the next round to catch up (after the last, nothing syncs it)
            mutations.edit(s.emu.ws, _a_page(s.emu), title=f"Edited after kill {i}", body=f"<p>kill round {i}</p>")
    return s.result(kills=rounds)


def _a_page(emu: Emulator) -> str:
    with emu.ws.lock:
        return min(c.id for c in emu.ws.content.values() if c.type == "page" and c.status == "current")


def large_attachment(s: Scenario) -> dict[str, Any]:
    blob = os.urandom(1024 * 1024) * (LARGE_BYTES // (1024 * 1024))
    attachment = mutations.create(s.emu.ws, type="attachment", title="large-export.bin", container_id=_a_page(s.emu),
                                  data=blob, media_type="application/octet-stream")
    del blob
    settings_file = Path(s.env["CONFLUENCE_SETTINGS"])
    options = yaml.safe_load(settings_file.read_text())
    options["sync"]["max_attachment_mb"] = 200  # over the 100 MB default cap
    settings_file.write_text(yaml.safe_dump(options))
    run = s.sync("large")
    saved = s.folder / "data" / "attachments" / attachment.id
    return s.result(attachment_bytes=LARGE_BYTES, saved_bytes=saved.stat().st_size if saved.exists() else 0,
                    peak_rss_mb=run["peak_rss_mb"])
