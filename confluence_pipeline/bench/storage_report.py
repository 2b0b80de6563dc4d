"""The report of `confluence-pipeline bench storage`: its four parts as tables."""

from __future__ import annotations

from typing import Any

from .site_check import comparison_line


def _site_cells(c: dict[str, Any]) -> str:
    return f"{c['missing']:>8}{c['extra']:>6}{c['stale']:>6}{c['duplicates']:>6}"


def format_report(r: dict[str, Any]) -> str:
    p1, p2, p3, p4 = (r["readers_beside_writers"], r["postgres_concurrent_jobs"], r["kill_and_rerun"], r["storage"])
    lines = [f"storage bench, seed {r['seed']}, scale {r['scale']:,}: {r['edits']} edits per round, "
             f"{r['incrementals']} incremental syncs, {r['kills']} kills", "",
             "1. readers beside writers (SQLite catalog; readers and syncs are separate processes)",
             f"   {'sync':<16}{'exit':>6}{'wall s':>9}{'steps':>7}"]
    lines += [f"   {s['kind']:<16}{s['rc']:>6}{s['wall_s']:>9.1f}{s['steps']:>7}" for s in p1["syncs"]]
    lines += [f"   failed runs: {p1['failed_runs']} (must be 0)",
              f"   {'reader':<38}{'reads':>7}{'failed':>8}{'p50 ms':>8}{'p95 ms':>8}{'snapshots seen':>16}"
              f"{'waits*':>8}"]
    for mode, label in (("poll", "new connection per read (every 100 ms)"),
                        ("held", "one connection held (every 100 ms)")):
        s = p1["readers"][mode]
        p50 = f"{s['p50_ms']:.1f}" if s["p50_ms"] is not None else "-"
        p95 = f"{s['p95_ms']:.1f}" if s["p95_ms"] is not None else "-"
        lines.append(f"   {label:<38}{s['reads']:>7}{s['failed']:>8}{p50:>8}{p95:>8}{s['snapshots_seen']:>16}"
                     f"{s['waits']:>8}")
        lines += [f"      {e}" for e in s["errors"]]
    lines += ["   * reads tried before the first sync committed anything (nothing to read yet; not failures)",
              f"   tables vs site after these syncs: {comparison_line(p1['site'])}", "",
              "2. `sync` and `sync --reconcile` at once on a PostgreSQL catalog"]
    if "skipped" in p2:
        lines.append(f"   skipped: {p2['skipped']}")
    else:
        lines += [f"   full sync first: exit {p2['full']['rc']}, {p2['full']['wall_s']:.1f} s",
                  *(f"   {label:<18} exit {run['rc']}, {run['wall_s']:.1f} s" for label, run in p2["runs"].items()),
                  f"   tables vs site: {comparison_line(p2['site'])}",
                  f"   the purged page's row: {p2['purged_page_status']} (want purged)"]
    lines += ["", "3. kill -9 inside a step, then a rerun (no cleanup in between)",
              f"   {'round':<6}{'kill at s':>10}{'step started (k/n)':>44}{'+delay s':>9}  {'rerun exit':>10}"
              f"{'wall s':>8}{'missing':>8}{'extra':>6}{'stale':>6}{'dup':>6}"]
    for i, k in enumerate(p3["rounds"], 1):
        at = f"{k['killed_at_s']:.1f}" if k["killed"] else "no kill"
        step = f"{k['step_started']} ({k['target_step']})"
        lines.append(f"   {i:<6}{at:>10}{step:>44}{k['delay_s']:>9.1f}  {k['rerun']['rc']:>10}"
                     f"{k['rerun']['wall_s']:>8.1f}{_site_cells(k['site'])}")
        lines.append(f"          killed inside: {', '.join(k['inside']) or 'no step (between steps)'}")
    m = p3["maintenance"]
    lines += [f"   failed reruns: {p3['failed_runs']} (must be 0)",
              f"   maintenance (retention 30 days, orphan grace 0): {m['orphans_deleted']} orphaned files and "
              f"{m['spill_files_deleted']} spill files deleted",
              f"   tables vs site after it: {comparison_line(m['site'])}", "",
              "4. storage (the SQLite-catalog lake of parts 1 and 3)",
              f"   {'':<30}{'lake/ bytes':>14}{'files':>7}{'parquet':>9}{'catalog bytes':>15}{'snapshots':>11}"
              f"{'current data bytes':>20}"]
    for key, label in (("before", "before maintenance"), ("after_30d", "after retention 30 days"),
                       ("after_0d", "after retention 0")):
        s = p4["storage"][key]
        lines.append(f"   {label:<30}{s['lake_bytes']:>14,}{s['lake_files']:>7}{s['parquet_files']:>9}"
                     f"{s['catalog_bytes']:>15,}{s['snapshots']:>11}{s['current_data_bytes']:>20,}")
    for name, label in (("30d", "retention 30 days"), ("0d", "retention 0")):
        m = p4[f"maintenance_{name}"]
        lines.append(f"   maintenance, {label}: merged {m['files_merged']} files into {m['files_created']}, expired "
                     f"{m['snapshots_expired']} snapshots, deleted {m['old_files_deleted']} unused and "
                     f"{m['orphans_deleted']} orphaned files in {m['duration_s']:.1f} s; tables vs site: "
                     f"{comparison_line(m['site'])}")
    rss = r["peak_rss_mb"]
    lines += ["", f"peak RSS: this process (with the emulator) {rss['bench_process_with_emulator']:,} MB, "
                  f"largest child process {rss['largest_child']:,} MB",
              "all checks passed" if not r["problems"] else "PROBLEMS: " + "; ".join(r["problems"])]
    return "\n".join(lines)
