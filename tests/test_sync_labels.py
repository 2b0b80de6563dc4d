"""Label changes make no new version: the reconciliation pass is what brings them in."""

from __future__ import annotations

from conftest import Pipeline

from confluence_pipeline.emulator.model import Label


def _stored_labels(pipeline: Pipeline, content_id: str) -> set[str]:
    with pipeline.warehouse() as wh:
        return {r[0] for r in wh.run("SELECT name FROM labels WHERE content_id = ?", [content_id])}


def test_reconcile_catches_label_only_changes(emu, pipeline: Pipeline) -> None:
    pipeline.sync()
    ws = emu.ws
    with ws.lock:
        labelled = next(c for c in ws.content.values() if c.type == "page" and c.status == "current" and c.label_ids)
        removed = ws.labels[labelled.label_ids[0]].name
        label = Label(ws.new_id(), "reconciled-label")
        ws.labels[label.id] = label
        labelled.label_ids = [*labelled.label_ids[1:], label.id]  # no new version, as in Confluence
        ws.touch()
    before = _stored_labels(pipeline, labelled.id)
    assert removed in before and "reconciled-label" not in before

    pipeline.sync()  # an incremental run cannot see it: the page's version did not change
    assert _stored_labels(pipeline, labelled.id) == before

    report = pipeline.reconcile()
    after = _stored_labels(pipeline, labelled.id)
    assert "reconciled-label" in after and removed not in after
    assert after == {ws.labels[i].name for i in labelled.label_ids}
    assert report.counts.inserted >= 1
