"""Indexing filters: each one, switched off and on again, changes exactly what is indexed, in
`documents` and in the search index alike; edits, trash and restores reach both. The content is
synced from the emulator over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from confluence_pipeline.confluence.client import ConfluenceClient
from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator
from confluence_pipeline.search import documents, index as search_index
from confluence_pipeline.search.documents import build_documents, update_documents
from confluence_pipeline.search import semantic
from confluence_pipeline.search.index import build_index, update_embeddings, update_index
from confluence_pipeline.settings import IndexingFilters, Settings, SyncSettings
from confluence_pipeline.storage.warehouse import Warehouse
from confluence_pipeline.sync.content import sync_content
from confluence_pipeline.sync.folders import sync_folders
from confluence_pipeline.sync.spaces import sync_spaces
from confluence_pipeline.sync.step import SyncContext
from confluence_pipeline.text.attachments import EXTRACTION_VERSION, Extracted
from confluence_pipeline.text.blocks import Block
from confluence_pipeline.text.extractor import Extractor

ANCHOR = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
FILTERS = ("pages", "page_attachments", "page_comments", "blogposts", "blogpost_attachments", "blogpost_comments")


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """An emulated site, synced (content only) into a fresh data directory."""
    emu = Emulator(seed=21, scale=60, anchor=ANCHOR)
    emu.start()
    start = (ANCHOR - timedelta(days=2)).date()
    settings = Settings(data_dir=tmp_path_factory.mktemp("filters"), sync=SyncSettings(start_date=start))
    client = ConfluenceClient.with_api_token(emu.base_url, DEFAULT_EMAIL, DEFAULT_API_TOKEN)
    ctx = SyncContext(client=client, settings=settings, site_url=emu.base_url)
    windows = ctx.windows.range(start.isoformat(), datetime.now(timezone.utc).date().isoformat())
    sync_spaces(ctx)
    for asset in ("pages", "blogposts", "comments", "attachments"):
        assert not sync_content(ctx, asset, windows).failures
    sync_folders(ctx, windows)
    yield emu.ws, settings, ctx, emu
    client.close()
    emu.stop()


def category(ws, item) -> str | None:
    """The indexing filter an emulator item falls under, or None when it is never indexed."""
    if item.status != "current":
        return None
    if item.type in ("page", "blogpost"):
        return f"{item.type}s"
    if item.type in ("comment", "attachment"):
        container = ws.container_of(item)
        if container is not None and container.status == "current":
            return f"{container.type}_{item.type}s"
    return None


def expected(ws, filters: IndexingFilters) -> set[str]:
    with ws.lock:
        return {c.id for c in ws.content.values() if (kind := category(ws, c)) and getattr(filters, kind)}


def build(settings: Settings, filters: IndexingFilters) -> tuple[set[str], set[str]]:
    """Run documents, search_index and search_embeddings with `filters`; the content ids in each."""
    with Warehouse(settings.lake) as wh:
        with wh.transaction():
            build_documents(wh, filters, datetime.now(timezone.utc))
            build_index(wh)
        update_embeddings(wh)
        documents = {r[0] for r in wh.run("SELECT DISTINCT content_id FROM documents")}
        indexed = {r[0] for r in wh.run(
            "SELECT DISTINCT content_id FROM search_chunks JOIN search_items USING (item_key)")}
        if semantic.installed():  # chunk vectors follow the chunks through every change
            assert wh.run("SELECT count(*) FROM search_chunks c FULL JOIN search_vectors v USING (chunk_key) "
                          "WHERE c.chunk_key IS NULL OR v.chunk_key IS NULL")[0][0] == 0
    return documents, indexed


def test_each_filter_off_and_on_changes_exactly_its_own_items(synced):
    ws, settings, _, _ = synced
    everything = expected(ws, IndexingFilters())
    by_kind = {kind: {c.id for c in ws.content.values() if category(ws, c) == kind} for kind in FILTERS}
    assert all(by_kind.values()), {k: len(v) for k, v in by_kind.items()}  # the site has every kind
    assert build(settings, IndexingFilters()) == (everything, everything)
    # one filter switched at a time, off one by one and then on again: each step adds or removes
    # exactly that filter's items, in documents and in the index
    switched = {kind: True for kind in FILTERS}
    indexed = everything
    for kind, on in [*((k, False) for k in FILTERS), *((k, True) for k in FILTERS)]:
        switched[kind] = on
        filters = IndexingFilters(**switched)
        documents, in_index = build(settings, filters)
        assert documents == in_index == expected(ws, filters), kind
        assert documents ^ indexed == by_kind[kind], kind
        indexed = documents
    assert indexed == everything


def test_chunks_carry_what_a_hit_shows(synced):
    ws, settings, _, _ = synced
    build(settings, IndexingFilters())
    with Warehouse(settings.lake, read_only=True) as wh:
        rows = wh.run("""SELECT d.content_id, d.content_type, d.space_key, d.title, d.breadcrumbs, d.url, d.modified_at,
                                d.window_key, d.version, i.text_status, i.reason, d.headings, d.text
                         FROM documents d JOIN document_items i USING (content_id)""")
    assert rows
    with ws.lock:
        for (content_id, content_type, space_key, title, breadcrumbs, url, modified_at, window_key, version,
             status, reason, headings, text) in rows:
            item = ws.get(content_id)
            owner = ws.container_of(item) if content_type in ("comment", "attachment") else item
            space = ws.spaces[owner.space_id]
            path = [a.title for a in ws.ancestors(owner)] if owner.type == "page" else []
            if owner is not item:
                path.append(owner.title)
            assert (content_type, space_key, title) == (item.type, space.key, item.title)
            assert breadcrumbs == [space.name, *path], content_id
            assert url and url.startswith("http://127.0.0.1:") and modified_at and window_key
            assert version == item.version.number
            if item.type == "attachment" and item.media_type == "image/png":
                assert (status, reason, text) == ("skipped", "unsupported file type (image/png)", "")
            elif item.type == "attachment":
                assert status == "ok" and text, content_id
            assert "<ac:" not in text and "<p>" not in text
            assert all(isinstance(h, str) and h for h in headings)


def test_a_second_run_with_nothing_changed_rebuilds_nothing(synced):
    ws, settings, _, _ = synced
    build(settings, IndexingFilters())
    with Warehouse(settings.lake) as wh, wh.transaction():
        report = build_documents(wh, IndexingFilters(), datetime.now(timezone.utc))
        index = build_index(wh)
    assert (report.rebuilt, report.removed, report.chunks_written) == (0, 0, 0)
    assert (index.chunks_added, index.chunks_removed) == (0, 0) and index.chunks == report.chunks


def test_documents_are_built_again_only_when_their_inputs_filters_or_converter_changed(synced, monkeypatch):
    _, settings, _, _ = synced
    now = datetime.now(timezone.utc)
    with Warehouse(settings.lake) as wh:
        first = update_documents(wh, IndexingFilters(), now)
        update_index(wh)
        indexed_from = wh.get_state("built:search_index")
        again = update_documents(wh, IndexingFilters(), now)
        assert (again.built_from, again.rebuilt) == (first.built_from, 0)
        assert (again.items, again.chunks) == (first.items, first.chunks)
        assert update_index(wh).chunks == first.chunks and wh.get_state("built:search_index") == indexed_from
        off = update_documents(wh, IndexingFilters(blogposts=False), now)  # only the settings changed
        assert off.built_from > first.built_from and off.removed > 0
        back = update_documents(wh, IndexingFilters(), now)
        assert back.rebuilt == off.removed and back.items == first.items
        monkeypatch.setattr(documents, "CONVERTER_VERSION", "next")  # a new converter rebuilds everything
        assert update_documents(wh, IndexingFilters(), now).rebuilt == first.items
        monkeypatch.undo()
        assert update_documents(wh, IndexingFilters(), now).rebuilt == first.items
        page, title = wh.run("SELECT id, title FROM pages WHERE status = 'current' AND in_scope LIMIT 1")[0]
        wh.run("UPDATE pages SET title = 'Renamed', version = version + 1 WHERE id = ?", [page])
        try:
            renamed = update_documents(wh, IndexingFilters(), now)  # a table changed
            assert renamed.built_from > back.built_from and renamed.rebuilt >= 1
            titles = wh.run("SELECT DISTINCT title FROM documents WHERE content_id = ?", [page])
            assert titles == [("Renamed",)]
            assert update_index(wh).chunks_added >= 1  # the documents changed
        finally:
            wh.run("UPDATE pages SET title = ?, version = version - 1 WHERE id = ?", [title, page])
        assert update_documents(wh, IndexingFilters(), now).rebuilt >= 1


def test_many_items_are_converted_in_child_processes_into_the_same_documents(synced, monkeypatch):
    """A run that rebuilds many items converts them in child processes, batch by batch:
    the documents are exactly those converted in this process."""
    _, settings, _, _ = synced
    build(settings, IndexingFilters())

    def rebuilt() -> list[tuple]:
        with Warehouse(settings.lake) as wh:
            with wh.transaction():
                wh.run("DELETE FROM document_items")
                report = build_documents(wh, IndexingFilters(), datetime.now(timezone.utc))
            assert report.rebuilt == report.items > 100
            return wh.run("SELECT chunk_id, content_type, title, headings, markdown, text, text_hash FROM documents "
                          "ORDER BY chunk_id")

    in_process = rebuilt()
    monkeypatch.setattr(documents, "BATCH_ITEMS", 7)  # many batches, taken in turn by the children
    monkeypatch.setattr(documents, "PARALLEL_ITEMS", 1)
    assert rebuilt() == in_process


def test_a_built_index_holds_every_chunks_terms_in_term_order(synced, monkeypatch):
    """A query reads only the row groups of its terms: a build of the whole index writes the
    postings ordered by term. A large build counts terms in child processes: the postings are
    those counted in this process."""
    _, settings, _, _ = synced
    build(settings, IndexingFilters())

    def rebuilt() -> list[tuple]:
        with Warehouse(settings.lake) as wh:
            with wh.transaction():
                for table in ("search_postings", "search_chunks", "search_items", "search_terms"):
                    wh.run(f"DELETE FROM {table}")
                report = build_index(wh)
            wh.run("SET threads = 1")  # a scan in storage order
            stored = wh.run("SELECT term_id, chunk_key FROM search_postings")
            assert report.postings_added == len(stored) > 1000
            assert stored == sorted(stored)
            assert report.chunks == wh.count("documents")
            assert wh.count("search_items") == wh.run("SELECT count(DISTINCT content_id) FROM documents")[0][0]
            return wh.run("""SELECT t.term, c.chunk_id, p.tf, p.length FROM search_postings p
                             JOIN search_terms t USING (term_id) JOIN search_chunks c USING (chunk_key)
                             ORDER BY c.chunk_id, t.term""")

    in_process = rebuilt()
    monkeypatch.setattr(search_index, "BATCH_CHUNKS", 50)  # many batches, taken in turn by the children
    monkeypatch.setattr(search_index, "PARALLEL_CHUNKS", 1)
    assert rebuilt() == in_process


def test_attachment_text_is_read_at_download_and_documents_use_it(synced):
    """The attachments step reads each file's text as it lands; documents take that text and read
    a file again only where none was stored for its saved version."""
    _, settings, _, _ = synced
    build(settings, IndexingFilters())
    with Warehouse(settings.lake) as wh:
        stored = wh.run("""SELECT id, local_path, media_type, title, extracted_text, extracted_key, downloaded_version
                           FROM attachments WHERE status = 'current' AND local_path IS NOT NULL ORDER BY id""")
        assert stored and all(key == f"{version}/{EXTRACTION_VERSION}" for *_, key, version in stored)
        with Extractor() as extractor:  # what the step stored is what extraction makes of the file
            for _, path, media_type, title, text, *_ in stored:
                assert Extracted.from_json(text) == extractor.extract(Path(path), media_type, title)
        some = next(row[0] for row in stored if Extracted.from_json(row[4]).status == "ok")

        def rebuilt_text() -> str:
            wh.run("DELETE FROM document_items WHERE content_id = ?", [some])  # as if it changed
            build_documents(wh, IndexingFilters(), datetime.now(timezone.utc))
            return wh.run("SELECT string_agg(text, ' ') FROM documents WHERE content_id = ?", [some])[0][0]

        class Undo(Exception):
            pass

        with pytest.raises(Undo), wh.transaction():
            real = rebuilt_text()
            marked = Extracted([Block("zebracorn", "zebracorn")]).to_json()
            wh.run("UPDATE attachments SET extracted_text = ? WHERE id = ?", [marked, some])
            assert rebuilt_text() == "zebracorn"  # the stored text, not the file
            wh.run("UPDATE attachments SET extracted_key = NULL WHERE id = ?", [some])
            assert rebuilt_text() == real  # none stored for this version: the file is read again
            raise Undo


def indexed_terms(settings: Settings, content_id: str) -> set[str]:
    with Warehouse(settings.lake, read_only=True) as wh:
        return {r[0] for r in wh.run("""
            SELECT DISTINCT t.term FROM search_postings p JOIN search_terms t USING (term_id)
            JOIN search_items i USING (item_key) WHERE i.content_id = ?""", [content_id])}


def test_edits_trash_and_restores_reach_documents_and_the_index(synced):
    ws, settings, ctx, emu = synced
    today = datetime.now(timezone.utc).date().isoformat()
    latest = ctx.windows.range(today, today)

    def change(path: str, body: dict | None = None) -> None:
        requests.post(f"{emu.base_url}/__emulator__/content/{path}", json=body or {}, timeout=10).raise_for_status()

    def sync_and_build() -> tuple[set[str], set[str]]:
        for asset in ("pages", "comments", "attachments"):
            assert not sync_content(ctx, asset, latest).failures
        return build(settings, IndexingFilters())

    build(settings, IndexingFilters())
    with ws.lock:
        page = next(c for c in ws.content.values() if c.type == "page" and c.status == "current"
                    and any(k.container_id == c.id and k.status == "current" for k in ws.content.values()))
        belongings = {k.id for k in ws.content.values() if k.container_id == page.id and category(ws, k)}
    change(f"{page.id}/edit", {"body": "<h2>Harvest</h2><p>Quokkaberry jam recipes.</p>"})
    documents, indexed = sync_and_build()
    assert page.id in documents and {"quokkaberri", "jam", "harvest"} <= indexed_terms(settings, page.id)
    with Warehouse(settings.lake, read_only=True) as wh:  # the old body is gone, not kept beside
        texts = wh.run("SELECT text FROM documents WHERE content_id = ?", [page.id])
    assert texts == [("Harvest\n\nQuokkaberry jam recipes.",)]
    change(f"{page.id}/trash")
    documents, indexed = sync_and_build()
    assert not ({page.id} | belongings) & (documents | indexed)  # its comments and attachments go too
    assert indexed_terms(settings, page.id) == set()
    change(f"{page.id}/restore")
    documents, indexed = sync_and_build()
    assert {page.id} | belongings <= documents & indexed
    assert "quokkaberri" in indexed_terms(settings, page.id)


def test_mentions_take_the_names_the_directory_gives_them_when_it_gives_them(synced):
    ws, settings, _, _ = synced
    documents, _ = build(settings, IndexingFilters())  # no directory synced here: names are unknown
    with ws.lock:
        mentioning = {c.id: c for c in ws.content.values() if c.id in documents and 'ri:account-id="' in c.body}
        page = next(iter(mentioning.values()))
        account_id = page.body.split('ri:account-id="')[1].split('"')[0]
        expected = {c.id for c in mentioning.values() if account_id in c.body}
        name = ws.users[account_id].display_name
    with Warehouse(settings.lake) as wh:
        assert "@unknown user" in wh.run("SELECT string_agg(text, ' ') FROM documents WHERE content_id = ?",
                                         [page.id])[0][0]
        wh.upsert("users", [{"account_id": account_id, "display_name": name}])  # as the users asset would
        with wh.transaction():
            report = build_documents(wh, IndexingFilters(), datetime.now(timezone.utc))
        assert f"@{name}" in wh.run("SELECT string_agg(text, ' ') FROM documents WHERE content_id = ?", [page.id])[0][0]
        wh.run("DELETE FROM users")
    assert report.rebuilt == len(expected)  # only the items that mention that person
