"""What runs report and what they cost: metadata on every materialization, asset checks that pass
after a clean sync, a no-change incremental run within 15 calls, a full page sync near the floor of
one call per 250 pages."""

from __future__ import annotations

import math

from conftest import START_DATE, WINDOWED, make_pipeline, start_emulator, today

from confluence_pipeline.confluence.client import ConfluenceClient
from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL
from confluence_pipeline.sync import staging
from confluence_pipeline.sync.content import sync_content
from confluence_pipeline.sync.spaces import sync_spaces
from confluence_pipeline.sync.step import SyncContext

REPORTED = {"rows_inserted", "rows_updated", "rows_deleted", "api_calls", "api_points", "windows", "duration_s",
            "failures"}
# Calls that read one object: a sync must not need them for what a listing returns.
PER_OBJECT = {"getPageById", "getBlogPostById", "getAttachmentById", "getFolderById", "getFooterCommentById",
              "getInlineCommentById", "getPageLabels", "getBlogPostLabels", "getPageAncestors", "getFolderAncestors"}


def requests(emu, operation: str | None = None) -> int:
    stats = emu.limits.stats()
    if operation is None:
        return stats["total_requests"]
    return stats["by_operation"].get(operation, {}).get("requests", 0)


def test_every_materialization_reports_its_numbers_and_the_checks_pass(pipeline):
    emu = pipeline.emu
    get_pages = requests(emu, "getPages")
    results = pipeline.sync(checks=True)

    assert all(r.success for r in results)
    materializations = [m for r in results for m in r.get_asset_materialization_events()]
    assert {m.asset_key.to_user_string() for m in materializations} == {"spaces", *WINDOWED}
    for event in materializations:
        metadata = event.materialization.metadata
        assert REPORTED <= set(metadata), event.asset_key
        assert metadata["api_calls"].value > 0 and metadata["api_points"].value >= metadata["api_calls"].value
        assert metadata["duration_s"].value > 0 and metadata["failures"].value == 0
        if event.asset_key.to_user_string() != "spaces":
            assert metadata["windows"].value == f"{START_DATE.isoformat()}..{today()}"
    pages = results[1].asset_materializations_for_node("pages")[0].metadata
    with pipeline.warehouse() as wh:
        assert pages["rows_inserted"].value == wh.count("pages")
        assert pages["rows_deleted"].value == wh.count("pages", "status = 'trashed'")
    assert pages["api_calls"].value == requests(emu, "getPages") - get_pages
    # each window of the range shows its own rows, and the table's totals stay on the step
    spaces = results[0].asset_materializations_for_node("spaces")[0].metadata
    windows = {e.partition: e.metadata for e in results[1].asset_materializations_for_node("pages")}
    with pipeline.warehouse() as wh:
        assert spaces["dagster/row_count"].value == wh.count("spaces")
        stored = dict(wh.run("SELECT window_key, count(*) FROM pages GROUP BY 1"))
        fetched = dict(wh.run("SELECT window_key, count(*) FROM pages WHERE status <> 'trashed' GROUP BY 1"))
        assert pages["run_row_count"].value == wh.count("pages")
    assert {w: m["dagster/row_count"].value for w, m in windows.items() if m["dagster/row_count"].value} == stored
    assert {w: m["rows_fetched"].value for w, m in windows.items() if m["rows_fetched"].value} == fetched
    assert sum(m["rows_fetched"].value for m in windows.values()) == pages["run_rows_fetched"].value
    checks = [e for r in results for e in r.get_asset_check_evaluations()]
    assert len(checks) >= 15 and [c.check_name for c in checks if not c.passed] == []

    before = requests(emu)
    latest = pipeline.materialize(WINDOWED, today(), today(), checks=True)

    assert latest.success
    assert requests(emu) - before <= 15
    for event in latest.get_asset_materialization_events():
        metadata = event.materialization.metadata
        assert metadata["rows_inserted"].value == metadata["rows_updated"].value == 0, event.asset_key
        assert metadata["windows"].value == today()
    assert all(c.passed for c in latest.get_asset_check_evaluations())


def test_a_full_sync_of_pages_costs_one_call_per_250_pages_and_no_call_per_page(tmp_path, monkeypatch):
    emu = start_emulator(seed=5, scale=1000)
    try:
        pipeline = make_pipeline(emu, tmp_path, monkeypatch)
        assert pipeline.materialize(["spaces"]).success
        before = emu.limits.stats()["by_operation"]
        assert pipeline.materialize(["pages"]).success
        after = emu.limits.stats()["by_operation"]

        statuses = [c.status for c in emu.ws.content.values() if c.type == "page"]
        listed, trashed = sum(s in ("current", "archived") for s in statuses), statuses.count("trashed")
        floor = math.ceil(listed / 250) + math.ceil(trashed / 250)
        calls = after["getPages"]["requests"] - before.get("getPages", {}).get("requests", 0)
        assert listed > 750 and calls <= 1.25 * floor
        assert not PER_OBJECT & {op for op, entry in after.items() if entry["requests"]}
    finally:
        emu.stop()


def test_long_steps_report_progress_while_they_list(pipeline, monkeypatch):
    monkeypatch.setattr(staging, "FLUSH_ROWS", 40)  # a batch: the step reports at each one
    messages: list[str] = []
    with ConfluenceClient.with_api_token(pipeline.emu.base_url, DEFAULT_EMAIL, DEFAULT_API_TOKEN) as client:
        ctx = SyncContext(client=client, settings=pipeline.settings, site_url=pipeline.emu.base_url,
                          progress=messages.append)
        sync_spaces(ctx)
        report = sync_content(ctx, "pages", ctx.windows.range(START_DATE.isoformat(), today()))

    so_far = [m for m in messages if m.startswith("pages: ") and "fetched so far" in m]
    assert len(so_far) == report.fetched // 40 >= 2
    assert so_far[0].startswith("pages: 40 fetched so far, ") and so_far[1].startswith("pages: 80 fetched so far, ")
