"""The full-text index: BM25 over a postings table in the same DuckDB file as the content.

Why this and not an engine: DuckDB's `fts` extension is downloaded at run time (impossible
offline), and an engine with its own files (tantivy, SQLite FTS5) could not filter by
permission inside the query: `content_access` and its `visible_items` macro live in DuckDB.
Postings in DuckDB make a search one SQL statement that ranks, filters by space and type and
keeps only what the user may see, and an update one transaction with the content it reflects.

Tables (created here: postings need no primary key, and the generic upsert is the wrong tool for
millions of rows that are only ever inserted and deleted by chunk):
    search_items     item_key, content_id, content_type, space_key (one row per indexed item)
    search_chunks    chunk_key, chunk_id, item_key, text_hash, length (in terms)
    search_terms     term, term_id (the vocabulary)
    search_postings  term_id, item_key, chunk_key, tf, length: one row per term of a chunk; the
                     item and the chunk's length are repeated so that ranking reads this table
                     alone, and it is kept in term order so a query reads few of its row groups
    search_vectors   chunk_key, vector FLOAT[] (semantic.DIMENSIONS floats): each chunk's embedding, only
                     when semantic ranking is on (search/semantic.py), written by `update_embeddings`
                     after the index; the model that made them is recorded in sync_state under
                     `search_vectors_model`
Document frequencies are counted at query time, so they are always exact. What a chunk is found
by is its item's title, the headings above it and its text; `documents.text_hash` covers those
(and the item's type and space), so `build_index` re-tokenizes a chunk only when one of them
changed, and deletes the postings of chunks that are gone. Vectors follow the same chunks, one
step later (`update_embeddings`, its own asset): a chunk that is gone loses its vector, and only
chunks without one are embedded. Chunk keys are never reused, so a vector is never taken for a
newer chunk's, and search joins vectors to `search_chunks`: until the vectors catch up, a new
chunk is found by BM25 alone and a gone chunk's vector is never read.
"""

from __future__ import annotations

import array
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pyarrow as pa

from ..storage.derived import update
from ..storage.warehouse import Warehouse
from ..sync.conflicts import retry_on_conflict
from . import semantic
from .children import mapped
from .tokens import term_counts

BATCH_CHUNKS = 5000  # chunks read, counted and written at a time (a read of the lake costs per batch)
PARALLEL_CHUNKS = 4 * BATCH_CHUNKS  # from this many new chunks, terms are counted in child processes
BATCH_VECTORS = 512
VECTORS_MODEL_KEY = "search_vectors_model"
RECLUSTER_SHARE = 0.2  # rewrite the postings in term order once this share of them arrived unordered

_TABLES = {
    "search_items": [("item_key", "INTEGER NOT NULL"), ("content_id", "VARCHAR NOT NULL"), ("content_type", "VARCHAR"),
                     ("space_key", "VARCHAR")],
    "search_chunks": [("chunk_key", "INTEGER NOT NULL"), ("chunk_id", "VARCHAR NOT NULL"),
                      ("item_key", "INTEGER NOT NULL"), ("text_hash", "VARCHAR"), ("length", "INTEGER NOT NULL")],
    "search_terms": [("term", "VARCHAR NOT NULL"), ("term_id", "INTEGER NOT NULL")],
    "search_postings": [("term_id", "INTEGER NOT NULL"), ("item_key", "INTEGER NOT NULL"),
                        ("chunk_key", "INTEGER NOT NULL"), ("tf", "INTEGER NOT NULL"), ("length", "INTEGER NOT NULL")],
}


@dataclass
class IndexReport:
    chunks: int = 0  # in the index after the run
    chunks_added: int = 0
    chunks_removed: int = 0
    terms_added: int = 0
    postings_added: int = 0
    duration_s: float = 0.0

    def metadata(self) -> dict[str, Any]:
        return {"chunks": self.chunks, "chunks_added": self.chunks_added, "chunks_removed": self.chunks_removed,
                "terms_added": self.terms_added, "postings_added": self.postings_added,
                "duration_s": round(self.duration_s, 3)}


@dataclass
class EmbeddingsReport:
    vectors: int | None = None  # chunks with an embedding; None: semantic ranking is not in use
    vectors_added: int = 0
    vectors_removed: int = 0
    embedding_s: float = 0.0
    model: str | None = None

    def metadata(self) -> dict[str, Any]:
        return {"semantic": "off (BM25 alone)" if self.vectors is None else f"{self.vectors} chunk vectors",
                "vectors_added": self.vectors_added, "vectors_removed": self.vectors_removed,
                "embedding_s": round(self.embedding_s, 3), "model": self.model or "none"}


def ensure_index_tables(wh: Warehouse) -> None:
    for name, columns in _TABLES.items():
        wh.create_table(name, columns)


def index_text(title: str | None, headings: list[str] | None, text: str | None) -> str:
    """What a chunk is found by: its item's title, the headings above it, its text."""
    return "\n".join([title or "", *(headings or []), text or ""])


def update_index(wh: Warehouse) -> IndexReport:
    """`build_index` in a transaction of its own; skipped when `documents` did not change since the
    last build (it would compare every chunk to add and remove none)."""
    started = time.perf_counter()
    return update(wh, "search_index", ("documents",), "", lambda snapshot: build_index(wh),
                  lambda snapshot: IndexReport(chunks=wh.count("search_chunks"),
                                               duration_s=time.perf_counter() - started))


def build_index(wh: Warehouse) -> IndexReport:
    """Bring the index in line with `documents`: drop chunks that changed or are gone, add new ones.
    Call inside a transaction."""
    report = IndexReport()
    started = time.perf_counter()
    ensure_index_tables(wh)
    wh.run("CREATE OR REPLACE TEMP TABLE search_postings_new AS FROM search_postings LIMIT 0")
    wh.run("""CREATE OR REPLACE TEMP TABLE search_gone AS
        SELECT s.chunk_key FROM search_chunks s LEFT JOIN documents d
            ON d.chunk_id = s.chunk_id AND d.text_hash = s.text_hash
        WHERE d.chunk_id IS NULL""")
    report.chunks_removed = wh.count("search_gone")
    if report.chunks_removed:
        wh.run("DELETE FROM search_postings WHERE chunk_key IN (SELECT chunk_key FROM search_gone)")
        wh.run("DELETE FROM search_chunks WHERE chunk_key IN (SELECT chunk_key FROM search_gone)")
    wh.run("DROP TABLE search_gone")
    wh.run("""CREATE OR REPLACE TEMP TABLE search_new AS
        SELECT row_number() OVER (ORDER BY d.content_type, d.content_id, d.chunk_index) AS n, d.chunk_id
        FROM documents d LEFT JOIN search_chunks s ON s.chunk_id = d.chunk_id WHERE s.chunk_id IS NULL""")
    new = wh.count("search_new")
    if new:
        state = _State(vocabulary=dict(wh.run("SELECT term, term_id FROM search_terms")),
                       items=dict(wh.run("SELECT content_id, item_key FROM search_items")),
                       chunk_key=int(wh.run("SELECT coalesce(max(chunk_key), 0) + 1 FROM search_chunks")[0][0]))
        state.term_id = max(state.vocabulary.values(), default=0) + 1
        state.item_key = max(state.items.values(), default=0) + 1
        state.written = set(state.items.values())
        for rows, counts in mapped(_count_terms, None, _new_chunks(wh, new), in_children=new >= PARALLEL_CHUNKS):
            _add_chunks(wh, rows, counts, state, report)
    wh.run("DROP TABLE search_new")
    if report.chunks_removed:
        wh.run("DELETE FROM search_items WHERE item_key NOT IN (SELECT item_key FROM search_chunks)")
    _store_postings(wh, report.postings_added)
    report.chunks_added = new
    report.chunks = wh.count("search_chunks")
    report.duration_s = time.perf_counter() - started
    return report


@dataclass
class _State:
    """The vocabulary, the items' keys, and the next keys to hand out (they only ever grow)."""

    vocabulary: dict[str, int]
    items: dict[str, int]  # content id -> item key
    chunk_key: int
    term_id: int = 1
    item_key: int = 1
    written: set[int] = field(default_factory=set)  # item keys with a row in search_items


_CHUNKS = pa.schema([("chunk_key", pa.int32()), ("chunk_id", pa.string()), ("item_key", pa.int32()),
                     ("text_hash", pa.string()), ("length", pa.int32())])
_POSTINGS = pa.schema([("term_id", pa.int32()), ("item_key", pa.int32()), ("chunk_key", pa.int32()),
                       ("tf", pa.int32()), ("length", pa.int32())])
_ITEMS = pa.schema([("item_key", pa.int32()), ("content_id", pa.string()), ("content_type", pa.string()),
                    ("space_key", pa.string())])
_TERMS = pa.schema([("term", pa.string()), ("term_id", pa.int32())])


def _new_chunks(wh: Warehouse, new: int) -> Iterator[tuple[list[tuple], list[str]]]:
    """The chunks of `search_new` in batches, each with the texts they are found by."""
    for first in range(1, new + 1, BATCH_CHUNKS):
        rows = wh.run("""
            SELECT d.chunk_id, d.content_id, d.content_type, d.space_key, d.text_hash, d.title, d.headings, d.text
            FROM search_new n JOIN documents d USING (chunk_id) WHERE n.n BETWEEN ? AND ? ORDER BY n.n""",
                      [first, first + BATCH_CHUNKS - 1])
        yield rows, [index_text(title, headings, text) for *_, title, headings, text in rows]


def _count_terms(texts: list[str], _: None = None) -> list[dict[str, int]]:
    return [term_counts(text) for text in texts]


def _int32(values: array.array) -> pa.Array:
    return pa.Array.from_buffers(pa.int32(), len(values), [None, pa.py_buffer(values)])


def _add_chunks(wh: Warehouse, rows: list[tuple], counts: list[dict[str, int]], state: _State,
                report: IndexReport) -> None:
    chunks: dict[str, list] = {name: [] for name in _CHUNKS.names}
    # postings as C int arrays (a chunk's repeated keys are one C-level repeat; Arrow takes the buffers)
    postings = {name: array.array("i") for name in _POSTINGS.names}
    items: dict[int, tuple[str, str, str]] = {}
    new_terms: list[tuple[str, int]] = []
    for (chunk_id, content_id, content_type, space_key, text_hash, *_), found in zip(rows, counts):
        length = sum(found.values())
        item_key = state.items.get(content_id)
        if item_key is None:
            item_key = state.items[content_id] = state.item_key
            state.item_key += 1
        items[item_key] = (content_id, content_type, space_key)
        chunk_key = state.chunk_key
        state.chunk_key += 1
        for name, value in zip(_CHUNKS.names, (chunk_key, chunk_id, item_key, text_hash, length)):
            chunks[name].append(value)
        n = len(found)  # a posting per term, column by column
        postings["item_key"] += array.array("i", [item_key]) * n
        postings["chunk_key"] += array.array("i", [chunk_key]) * n
        postings["tf"].extend(found.values())
        postings["length"] += array.array("i", [length]) * n
    # the terms' ids, in C loops over the batch's millions of terms (new ones numbered in term order)
    terms = list(itertools.chain.from_iterable(counts))
    for term in sorted(set(terms).difference(state.vocabulary)):
        state.vocabulary[term] = state.term_id
        new_terms.append((term, state.term_id))
        state.term_id += 1
    postings["term_id"] = array.array("i", map(state.vocabulary.__getitem__, terms))
    # an item's row is rewritten with what its newest chunks say (a move changes its space)
    stored = [key for key in items if key in state.written]  # an item's chunks may span batches
    if stored:
        wh.run("DELETE FROM search_items WHERE item_key IN (SELECT unnest(?))", [stored])
    state.written.update(items)
    insert_arrow(wh, "search_items", pa.table({"item_key": list(items), "content_id": [v[0] for v in items.values()],
                                          "content_type": [v[1] for v in items.values()],
                                          "space_key": [v[2] for v in items.values()]}, schema=_ITEMS))
    insert_arrow(wh, "search_chunks", pa.table(chunks, schema=_CHUNKS))
    if new_terms:
        insert_arrow(wh, "search_terms", pa.table({"term": [t for t, _ in new_terms], "term_id": [i for _, i in new_terms]},
                                             schema=_TERMS))
    insert_arrow(wh, "search_postings_new", pa.table([_int32(column) for column in postings.values()],
                                                     schema=_POSTINGS))
    report.terms_added += len(new_terms)
    report.postings_added += len(postings["tf"])


def has_vectors(wh: Warehouse) -> bool:
    return bool(wh.run("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'search_vectors'")[0][0])


def update_embeddings(wh: Warehouse, semantic_setting: semantic.SemanticSetting = "auto", *,
                      progress: Callable[[str], None] = lambda message: None) -> EmbeddingsReport:
    """Bring `search_vectors` in line with the index: drop the vectors of chunks that are gone and
    embed every chunk that has none (new or changed chunks; all of them the first time or after a
    change of model). With `semantic_setting` off, drop the table: search is BM25 alone.

    Call outside a transaction: each step is its own short one (a batch of vectors at a time), so
    readers and the next sync's writers never wait for the embedding, and work already committed
    survives an interrupted run."""
    report = EmbeddingsReport()
    if not semantic.wanted(semantic_setting):  # `on` without the model fails here, before any write
        if semantic_setting == "off":
            _commit(wh, progress, lambda: wh.run("DROP TABLE IF EXISTS search_vectors"))
        return report
    report.model = semantic.model_name()
    ensure_index_tables(wh)

    def start() -> int:
        # a lake stores lists, not fixed-size arrays: search casts them back (FLOAT[384])
        wh.create_table("search_vectors", [("chunk_key", "INTEGER NOT NULL"), ("vector", "FLOAT[] NOT NULL")])
        if wh.get_state(VECTORS_MODEL_KEY) != report.model:
            removed = wh.count("search_vectors")
            wh.run("DELETE FROM search_vectors")
            wh.set_state(VECTORS_MODEL_KEY, report.model)
            return removed
        removed = wh.count("search_vectors", "chunk_key NOT IN (SELECT chunk_key FROM search_chunks)")
        if removed:
            wh.run("DELETE FROM search_vectors WHERE chunk_key NOT IN (SELECT chunk_key FROM search_chunks)")
        return removed

    report.vectors_removed = _commit(wh, progress, start)
    missing = [r[0] for r in wh.run("""SELECT c.chunk_key FROM search_chunks c
        LEFT JOIN search_vectors v USING (chunk_key) WHERE v.chunk_key IS NULL ORDER BY c.chunk_key""")]
    started = time.perf_counter()
    for first in range(0, len(missing), BATCH_VECTORS):
        keys = missing[first:first + BATCH_VECTORS]
        rows = wh.run("""SELECT c.chunk_key, d.title, d.headings, d.text
            FROM search_chunks c JOIN documents d USING (chunk_id) WHERE c.chunk_key IN (SELECT unnest(?))
            ORDER BY c.chunk_key""", [keys])
        vectors = semantic.embed([index_text(title, headings, text) for _, title, headings, text in rows])
        batch = pa.table({
            "chunk_key": pa.array([r[0] for r in rows], pa.int32()),
            "vector": pa.ListArray.from_arrays(
                pa.array(range(0, (len(rows) + 1) * semantic.DIMENSIONS, semantic.DIMENSIONS), pa.int32()),
                pa.array(vectors.ravel(), pa.float32()))})
        _commit(wh, progress, lambda: insert_arrow(wh, "search_vectors", batch))
        progress(f"search_embeddings: embedded {first + len(keys)}/{len(missing)} chunks")
    report.embedding_s = time.perf_counter() - started
    report.vectors_added = len(missing)
    report.vectors = wh.count("search_vectors")
    return report


def _commit(wh: Warehouse, progress: Callable[[str], None], work: Callable[[], Any]) -> Any:
    def attempt() -> Any:
        with wh.transaction():
            return work()
    return retry_on_conflict(attempt, progress=progress)


def _store_postings(wh: Warehouse, added: int) -> None:
    """Move the run's postings (`search_postings_new`) into the index. Postings are kept in term
    order, so that a query's scan skips the row groups of other terms (DuckDB's min/max zone
    maps): once the new ones are this share of them all, every posting is rewritten in order;
    below it they are appended."""
    if added and added >= RECLUSTER_SHARE * (wh.count("search_postings") + added):
        wh.run("INSERT INTO search_postings_new SELECT * FROM search_postings")
        wh.run("DELETE FROM search_postings")
        wh.run("INSERT INTO search_postings SELECT * FROM search_postings_new ORDER BY term_id, chunk_key")
    elif added:
        wh.run("INSERT INTO search_postings SELECT * FROM search_postings_new")
    wh.run("DROP TABLE search_postings_new")


def insert_arrow(wh: Warehouse, table: str, data: pa.Table) -> None:
    """Append an Arrow table's rows to `table` (same columns, same order)."""
    wh.con.register("search_incoming", data)
    try:
        wh.run(f"INSERT INTO {table} SELECT * FROM search_incoming")
    finally:
        wh.con.unregister("search_incoming")
