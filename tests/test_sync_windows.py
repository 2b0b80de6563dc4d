"""Windows materialized in any order, and twice, give the same database as one run over them all."""

from __future__ import annotations

import random
from datetime import timedelta


from confluence_pipeline.readers import changes
from conftest import START_DATE, WINDOWED, Pipeline, make_pipeline, today


def _dump(pipeline: Pipeline) -> dict[str, list[tuple]]:
    """Every table but sync_state, minus synced_at; deleted_at as whether it is set (it is the time the
    sync noticed), local paths relative to the data directory."""
    with pipeline.warehouse() as wh:
        out = {}
        for table in ("spaces", *WINDOWED):
            columns = [c for (c,) in wh.run("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                                            "ORDER BY ordinal_position", [table]) if c != "synced_at"]
            select = ", ".join({"deleted_at": "deleted_at IS NULL", "local_path": "parse_filename(local_path)"}
                               .get(c, f'"{c}"') for c in columns)
            out[table] = wh.run(f"SELECT {select} FROM {table} ORDER BY ALL")
    return out


def _deleted_at(pipeline: Pipeline) -> dict[str, list[tuple]]:
    """When the sync first saw each deleted row deleted."""
    with pipeline.warehouse() as wh:
        return {t: wh.run(f"SELECT * EXCLUDE (synced_at) FROM {t} WHERE deleted_at IS NOT NULL ORDER BY ALL")
                for t in WINDOWED}


def _history(pipeline: Pipeline) -> set[tuple[str, str, str]]:
    """(table, window, id) of every row the change feed reports as inserted since the lake began."""
    return {(c.table, c.row["window_key"], c.key["id"]) for c in changes(0, tables=WINDOWED[:-1],
                                                                         data_dir=pipeline.data_dir)}


def test_windows_in_any_order_and_twice_give_the_same_database(emu, tmp_path, monkeypatch):
    in_one_run = make_pipeline(emu, tmp_path / "one", monkeypatch)
    assert all(r.success for r in in_one_run.sync())
    expected = _dump(in_one_run)

    piecemeal = make_pipeline(emu, tmp_path / "each", monkeypatch)
    windows = [START_DATE.isoformat(), (START_DATE + timedelta(days=1)).isoformat(), today()]
    assert piecemeal.materialize(["spaces"]).success
    assert piecemeal.materialize(WINDOWED, today(), today()).success  # the latest window first (a schedule)
    assert piecemeal.materialize(WINDOWED, windows[0], today()).success  # then a backfill reaching now
    assert _dump(piecemeal) == expected  # the latest window's watermark did not hide the older windows
    first_deleted = _deleted_at(piecemeal)
    random.Random(4).shuffle(windows)
    for window in windows:  # every window again, in random order
        assert piecemeal.materialize(WINDOWED, window, window).success

    assert _dump(piecemeal) == expected
    assert _deleted_at(piecemeal) == first_deleted  # when the sync first saw it deleted, kept
    assert _history(piecemeal) == _history(in_one_run)
