"""`confluence-pipeline bench faults`: full syncs through injected faults, each scenario on a fresh
data directory, every sync `python -m confluence_pipeline.cli sync` in its own process against the
emulator served by this one. After each scenario the tables are compared with the site (missing,
extra, stale rows and duplicates: all must be 0, with storage_bench's comparison) and no watermark
may be ahead of the data (no site item modified before an asset's watermark missing from its table).

Scenarios: `429` (40, then 200 consecutive 429s, Retry-After 1 s), `5xx` (10% of answers for the
whole run), `outage` (every connection dropped for --outage-s seconds, then cleared), `oauth`
(a sync under OAuth 2.0 whose access tokens the emulator expires every 2 s: the client renews
them with rotating refresh tokens and carries on), `cancel` (a sync cancelled as the UI cancels
it while its attachment downloads wait out a 30 s Retry-After: seconds to CANCELED and to the
process's exit, rows the interrupted step stored, then a rerun), `kill` (kill -9 at 5 moments inside steps,
each followed by a rerun with no cleanup), `large` (a 150 MB attachment, the sync's peak RSS).

Retries by cause are what the emulator refused (429, 503, dropped connections); the client's own
counters are added when the steps' metadata carries them (keys with `retr`, `wait` or `renew` in
the name).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import requests
import dagster as dg
import yaml
from dagster._core.instance.ref import InstanceRef

from .confluence.auth import OAuthApp
from .confluence.login import login
from .confluence.tokens import TokenStore
from .emulator import mutations
from .emulator.app import Emulator
from .storage.warehouse import Warehouse
from .storage_bench import _bad, _compare, _finish, _run_logs, _setup, _start_sync, _step_events

SCENARIOS = ("429", "5xx", "outage", "oauth", "cancel", "kill", "large")
DOWNLOAD = "downloadAttatchment"  # the spec's operationId, typo included
WATERMARKED = {"pages": ("page",), "blogposts": ("blogpost",), "comments": ("comment",),
               "attachments": ("attachment",)}
LARGE_BYTES = 150 * 1024 * 1024


def _sync_measured(env: dict[str, str], log: Path) -> dict[str, Any]:
    """One sync to its end, with the process's peak RSS (from its own rusage, not this process's)."""
    started = time.perf_counter()
    proc = _start_sync(env, log)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = _finish(proc, started, log)
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    return result


def _message(log: Path) -> str:
    """What a failed sync said last: its last line naming a failure."""
    lines = log.read_text(errors="replace").splitlines()
    named = [line.strip() for line in lines if "failed" in line or "Error" in line]
    return (named or lines or [""])[-1][:300]


def _client_counters(home: Path) -> dict[str, float]:
    """Numeric step metadata about retries and waits, summed over the runs in this home: one
    materialization per step (a step over several windows reports the same figures in each)."""
    totals: dict[str, float] = {}
    for path in _run_logs(home):
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT event FROM event_logs WHERE id IN (SELECT min(id) FROM event_logs WHERE "
                               "dagster_event_type = 'ASSET_MATERIALIZATION' GROUP BY step_key)")
            for (event,) in rows:
                for key, value in _metadata_numbers(json.loads(event)):
                    if "retr" in key or "wait" in key or "renew" in key:
                        totals[key] = round(totals.get(key, 0) + value, 3)
        finally:
            con.close()
    return totals


def _metadata_numbers(node: Any) -> list[tuple[str, float]]:
    """(label, number) of every metadata entry in a serialized event, wherever it sits."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("label"), str) and isinstance(node.get("entry_data"), dict):  # as Dagster stores it
            value = node["entry_data"].get("value")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                found.append((node["label"], float(value)))
        if "metadata" in node and isinstance(node["metadata"], dict):
            for key, entry in node["metadata"].items():
                value = entry.get("value") if isinstance(entry, dict) else None
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    found.append((key, float(value)))
        for child in node.values():
            found += _metadata_numbers(child)
    elif isinstance(node, list):
        for child in node:
            found += _metadata_numbers(child)
    return found


def _watermarks_ahead(lake, ws) -> int:
    """Site items modified before their asset's watermark that the table does not hold."""
    ahead = 0
    with Warehouse(lake, read_only=True) as wh:
        for table, types in WATERMARKED.items():
            mark = wh.get_state(f"watermark:{table}")
            if not mark:
                continue
            watermark = datetime.fromisoformat(mark)
            stored = wh.ids(table)
            with ws.lock:
                due = [c.id for c in ws.content.values() if c.type in types and c.status != "trashed"
                       and c.versions and c.versions[-1].created_at < watermark]
            ahead += sum(1 for content_id in due if content_id not in stored)
    return ahead


class _Scenario:
    def __init__(self, name: str, root: Path, emu: Emulator, start_date: str) -> None:
        self.name, self.emu = name, emu
        self.folder = root / name
        self.env, self.lake, self.home = _setup(self.folder, emu.base_url, start_date)
        self.runs: list[dict[str, Any]] = []
        self.started = time.perf_counter()
        emu.limits.reset_stats()

    def sync(self, label: str, during: Callable[[], None] | None = None) -> dict[str, Any]:
        log = self.folder / f"{label}.log"
        helper = threading.Thread(target=during, daemon=True) if during else None
        if helper:
            helper.start()
        run = {"label": label, **_sync_measured(self.env, log)}
        if run["rc"]:
            run["message"] = _message(log)
        if helper:
            helper.join()
        self.runs.append(run)
        return run

    def result(self, **extra: Any) -> dict[str, Any]:
        comparison = _compare(self.lake, self.emu.ws)
        last = self.runs[-1] if self.runs else {"rc": None}
        return {"scenario": self.name, "completed": last["rc"] == 0,
                "message": "" if last["rc"] == 0 else last.get("message", ""),
                "wall_s": round(time.perf_counter() - self.started, 1), "runs": self.runs,
                "retries_by_cause": self.emu.limits.stats()["rejected"], "client_counters": _client_counters(self.home),
                "comparison": comparison, "watermarks_ahead": _watermarks_ahead(self.lake, self.emu.ws), **extra}


def _storms(s: _Scenario) -> dict[str, Any]:
    s.emu.limits.set_faults(storm_429=40, storm_retry_after=1)
    s.sync("storm-40")
    s.emu.limits.set_faults(storm_429=200, storm_retry_after=1)
    s.sync("storm-200")
    s.emu.limits.clear_faults()
    return s.result()


def _errors_5xx(s: _Scenario) -> dict[str, Any]:
    s.emu.limits.set_faults(error_rate_5xx=0.1, error_5xx_retry_after=1, seed=15)
    s.sync("5xx")
    s.emu.limits.clear_faults()
    return s.result()


def _outage(s: _Scenario, seconds: float) -> dict[str, Any]:
    def outage() -> None:
        time.sleep(2)  # inside the first steps
        s.emu.limits.set_faults(drop_connections=10**9)
        time.sleep(seconds)
        s.emu.limits.clear_faults()

    s.sync("outage", during=outage)
    return s.result(outage_s=seconds)


def _oauth_login(s: _Scenario) -> None:
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


def _token_expiry(s: _Scenario, every_s: float = 2.0) -> dict[str, Any]:
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


def _cancel(s: _Scenario) -> dict[str, Any]:
    def received(operation: str) -> int:
        return sum(s.emu.limits.stats()["received"].get(operation, {}).values())

    log = s.folder / "cancelled.log"
    started = time.perf_counter()
    proc = _start_sync(s.env, log)
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


def _kills(s: _Scenario, rng: random.Random, kills: int) -> dict[str, Any]:
    rounds = []
    for i in range(1, kills + 1):
        known = _run_logs(s.home)
        log = s.folder / f"killed-{i}.log"
        target = rng.randint(1, 6)  # the k-th step to start: the kill lands inside it
        s.emu.limits.set_faults(latency_ms=20)
        proc = _start_sync(s.env, log)
        inside = ""
        deadline = time.monotonic() + 1800
        while proc.poll() is None and time.monotonic() < deadline:
            started, finished = _step_events(s.home, known)
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
                       "dead_run_cleared": len(cleared), "comparison": _compare(s.lake, s.emu.ws)})
        if i < kills:  # a change for the next round to catch up (after the last, nothing syncs it)
            mutations.edit(s.emu.ws, _a_page(s.emu), title=f"Edited after kill {i}", body=f"<p>kill round {i}</p>")
    return s.result(kills=rounds)


def _a_page(emu: Emulator) -> str:
    with emu.ws.lock:
        return min(c.id for c in emu.ws.content.values() if c.type == "page" and c.status == "current")


def _large(s: _Scenario) -> dict[str, Any]:
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_faults(scale: int, seed: int, scenarios: list[str], *, outage_s: float = 90.0, kills: int = 5,
                 as_json: bool = False) -> int:
    unknown = [name for name in scenarios if name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"Unknown scenarios {', '.join(unknown)}: choose from {', '.join(SCENARIOS)}")
    rng = random.Random(seed)
    anchor = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start_date = (anchor - timedelta(days=2)).date().isoformat()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        for name in scenarios:
            # a fresh site too (scenarios mutate it), whose auth server consents at once (`oauth`)
            emu = Emulator(seed=seed, scale=scale, anchor=anchor, auto_consent=True,
                           redirect_uri=f"http://127.0.0.1:{_free_port()}/callback")
            emu.start()
            try:
                print(f"scenario {name} (scale {scale:,})", flush=True)
                s = _Scenario(name, Path(tmp), emu, start_date)
                if name == "429":
                    results.append(_storms(s))
                elif name == "5xx":
                    results.append(_errors_5xx(s))
                elif name == "outage":
                    results.append(_outage(s, outage_s))
                elif name == "oauth":
                    results.append(_token_expiry(s))
                elif name == "cancel":
                    results.append(_cancel(s))
                elif name == "kill":
                    results.append(_kills(s, rng, kills))
                else:
                    results.append(_large(s))
            finally:
                emu.stop()
    report = {"scale": scale, "seed": seed, "date": date.today().isoformat(), "scenarios": results}
    print(json.dumps(report, indent=2, default=str) if as_json else format_report(report))
    return 1 if any(_problems(r) for r in results) else 0


def _problems(r: dict[str, Any]) -> list[str]:
    problems = []
    if not r["completed"]:
        problems.append(f"did not complete: {r['message']}")
    if _bad(r["comparison"]):
        problems.append("tables differ from the site")
    if r["watermarks_ahead"]:
        problems.append(f"{r['watermarks_ahead']} items behind a watermark are missing")
    cancel = r.get("cancel")
    if cancel and (cancel["run_status"] != "CANCELED" or cancel["attachments_stored_by_interrupted_step"]
                   or cancel["attachments_watermark"]):
        problems.append(f"cancel: run {cancel['run_status']}, the interrupted step stored "
                        f"{cancel['attachments_stored_by_interrupted_step']} rows")
    for i, k in enumerate(r.get("kills", []), 1):
        if k["rerun_rc"] or (k["killed_inside"] != "(finished before the kill)" and k["dead_run_cleared"] != 1):
            problems.append(f"kill {i}: rerun exit {k['rerun_rc']}, dead runs cleared {k['dead_run_cleared']}")
    return problems


def format_report(report: dict[str, Any]) -> str:
    lines = [f"bench faults: scale {report['scale']:,}, seed {report['seed']}", "",
             f"{'scenario':<10}{'result':<11}{'wall s':>8}{'429':>6}{'503':>6}{'drops':>7}{'missing':>9}{'extra':>7}"
             f"{'stale':>7}{'dupes':>7}{'wm ahead':>10}"]
    for r in report["scenarios"]:
        c, rej = r["comparison"], r["retries_by_cause"]
        lines.append(f"{r['scenario']:<10}{'completed' if r['completed'] else 'FAILED':<11}{r['wall_s']:>8.1f}"
                     f"{rej.get('429', 0):>6}{rej.get('503', 0):>6}{rej.get('dropped', 0):>7}{c['missing']:>9}"
                     f"{c['extra']:>7}{c['stale']:>7}{c['duplicates']:>7}{r['watermarks_ahead']:>10}")
    for r in report["scenarios"]:
        lines.append("")
        lines.append(f"{r['scenario']}: " + "; ".join(
            f"{run['label']} exit {run['rc']} in {run['wall_s']} s"
            + (f", peak RSS {run['peak_rss_mb']} MB" if run.get("peak_rss_mb") is not None else "")
            + (f" ({run['message']})" if run.get("message") else "") for run in r["runs"]))
        if r["client_counters"]:
            lines.append(f"  client counters: { {k: v for k, v in r['client_counters'].items() if v} }")
        if "tokens_expired" in r:
            lines.append(f"  access tokens expired {r['tokens_expired']} times ({r['expiries']} expiries, every 2 s)")
        if "cancel" in r:
            c = r["cancel"]
            lines.append(f"  cancel: run {c['run_status']} {c['cancel_to_canceled_s']} s after the request, process "
                         f"exited after {c['cancel_to_exit_s']} s; attachment rows the interrupted step stored: "
                         f"{c['attachments_stored_by_interrupted_step']}, its watermark: "
                         f"{c['attachments_watermark'] or 'none'}")
        if "saved_bytes" in r:
            lines.append(f"  attachment {r['attachment_bytes']:,} bytes, saved {r['saved_bytes']:,} bytes, "
                         f"sync peak RSS {r['peak_rss_mb']} MB")
        for i, k in enumerate(r.get("kills", []), 1):
            c = k["comparison"]
            lines.append(f"  kill {i}: inside {k['killed_inside']}; rerun exit {k['rerun_rc']}, dead run line "
                         f"{k['dead_run_cleared']}; missing {c['missing']}, extra {c['extra']}, stale {c['stale']}, "
                         f"duplicates {c['duplicates']}")
        for problem in _problems(r):
            lines.append(f"  PROBLEM: {problem}")
    return "\n".join(lines)
