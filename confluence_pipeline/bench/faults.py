"""`confluence-pipeline bench faults`: full syncs through injected faults, each scenario on a fresh
data directory, every sync `python -m confluence_pipeline.cli sync` in its own process against the
emulator served by this one. After each scenario the tables are compared with the site (missing,
extra, stale rows and duplicates: all must be 0, with site_check's comparison) and no watermark
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
import random
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ..emulator.app import Emulator
from . import faults_scenarios
from .common import free_port, midnight_utc
from .site_check import differs

SCENARIOS = ("429", "5xx", "outage", "oauth", "cancel", "kill", "large")


def bench_faults(scale: int, seed: int, scenarios: list[str], *, outage_s: float = 90.0, kills: int = 5,
                 as_json: bool = False) -> int:
    unknown = [name for name in scenarios if name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"Unknown scenarios {', '.join(unknown)}: choose from {', '.join(SCENARIOS)}")
    rng = random.Random(seed)
    anchor = midnight_utc()
    start_date = (anchor - timedelta(days=2)).date().isoformat()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        for name in scenarios:
            # a fresh site too (scenarios mutate it), whose auth server consents at once (`oauth`)
            emu = Emulator(seed=seed, scale=scale, anchor=anchor, auto_consent=True,
                           redirect_uri=f"http://127.0.0.1:{free_port()}/callback")
            emu.start()
            try:
                print(f"scenario {name} (scale {scale:,})", flush=True)
                s = faults_scenarios.Scenario(name, Path(tmp), emu, start_date)
                if name == "429":
                    results.append(faults_scenarios.storms_429(s))
                elif name == "5xx":
                    results.append(faults_scenarios.errors_5xx(s))
                elif name == "outage":
                    results.append(faults_scenarios.connection_outage(s, outage_s))
                elif name == "oauth":
                    results.append(faults_scenarios.token_expiry(s))
                elif name == "cancel":
                    results.append(faults_scenarios.cancel_run(s))
                elif name == "kill":
                    results.append(faults_scenarios.kill_and_rerun(s, rng, kills))
                else:
                    results.append(faults_scenarios.large_attachment(s))
            finally:
                emu.stop()
    report = {"scale": scale, "seed": seed, "date": date.today().isoformat(), "scenarios": results}
    print(json.dumps(report, indent=2, default=str) if as_json else format_report(report))
    return 1 if any(_problems(r) for r in results) else 0


def _problems(r: dict[str, Any]) -> list[str]:
    problems = []
    if not r["completed"]:
        problems.append(f"did not complete: {r['message']}")
    if differs(r["comparison"]):
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
