"""What `confluence-pipeline bench faults` measures of a scenario besides the site comparison: a
sync's peak RSS and last failure line, the client's retry and wait counters from the steps'
metadata, and items a watermark has passed that the tables do not hold."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from ..storage.warehouse import Warehouse
from .sync_runs import finish_sync, run_logs, start_sync

WATERMARKED = {"pages": ("page",), "blogposts": ("blogpost",), "comments": ("comment",),
               "attachments": ("attachment",)}


def sync_measured(env: dict[str, str], log: Path) -> dict[str, Any]:
    """One sync to its end, with the process's peak RSS (from its own rusage, not this process's)."""
    started = time.perf_counter()
    proc = start_sync(env, log)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = finish_sync(proc, started, log)
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    return result


def last_failure(log: Path) -> str:
    """What a failed sync said last: its last line naming a failure."""
    lines = log.read_text(errors="replace").splitlines()
    named = [line.strip() for line in lines if "failed" in line or "Error" in line]
    return (named or lines or [""])[-1][:300]


def client_counters(home: Path) -> dict[str, float]:
    """Numeric step metadata about retries and waits, summed over the runs in this home: one
    materialization per step (a step over several windows reports the same figures in each)."""
    totals: dict[str, float] = {}
    for path in run_logs(home):
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


def watermarks_ahead(lake, ws) -> int:
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
