"""Permission-aware search over the synced copy.

    hits = search(load_settings().lake, "rollback window", as_user="alice@example.com")

Ranking is Okapi BM25 (k1 = 1.2, b = 0.75, Lucene's idf) over chunks; an item ranks by its best
chunk, and the hit shows that chunk's snippet. The permission filter sits inside the same SQL
statement: candidates are kept only when the access model's `visible_items(account_id)` macro
(confluence_pipeline.access) lists them, so a search never returns what the user may not see,
and the limit applies after the filter. Without an access model, search refuses to answer.

Hybrid ranking (when the index has chunk vectors, search/semantic.py): the query is embedded
too, and the candidates are every item BM25 matches plus the `SEMANTIC_CANDIDATES` items closest
in meaning (cosine similarity of their closest chunk, at least `semantic.MIN_SIMILARITY`). Each scores
`BM25_WEIGHT * bm25 / ceiling + (1 - BM25_WEIGHT) * similarity`, where the ceiling is the highest
BM25 score the query could reach, so both parts lie in 0..1 and keep their gaps: a page that
matches a rare identifier far better than any other stays on top (reciprocal-rank fusion, which
sees only ranks, let pages ranked well by both lists overtake it), and a paraphrase that shares
no word with a page still finds it. The permission filter and the limit sit where they do in
BM25 alone; the score of a hybrid hit is the fused score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

import duckdb

from ..storage.lake import Lake, LakeError
from ..storage.warehouse import Warehouse
from . import semantic
from .index import VECTORS_MODEL_KEY, has_vectors
from .tokens import terms, terms_with_spans

K1 = 1.2
B = 0.75
SNIPPET_CHARS = 240
CONTENT_TYPES = ("page", "blogpost", "comment", "attachment")
MODES = ("bm25", "hybrid")
Mode = Literal["bm25", "hybrid"]
# Of the fused score; similarity has the rest. With 0.5 the static model's similarities, close
# together for every chunk that shares the query's topic, pushed attachments matching a rare
# identifier out of the top five (64/66 planted facts at scale 150; 0.65 and 0.7 find all 66).
BM25_WEIGHT = 0.7
SEMANTIC_CANDIDATES = 200

# Parameters: term ids, their counts in the query, chunk count N, average chunk length, space key
# (twice), type (twice), the user's account id, the limit.
_SCORED = f"""
WITH query_terms AS (
    SELECT unnest(?::INTEGER[]) AS term_id, unnest(?::INTEGER[]) AS qtf),
weights AS (  -- each query term's idf (Lucene's), times how often the query says it
    SELECT q.term_id, q.qtf * ln(1 + (?::DOUBLE - count(*) + 0.5) / (count(*) + 0.5)) AS weight
    FROM search_postings p JOIN query_terms q USING (term_id) GROUP BY q.term_id, q.qtf),
scored AS (
    SELECT p.chunk_key, any_value(p.item_key) AS item_key,
           sum(w.weight * p.tf * ({K1} + 1) / (p.tf + {K1} * (1 - {B} + {B} * p.length / ?::DOUBLE))) AS score
    FROM search_postings p JOIN weights w USING (term_id) GROUP BY p.chunk_key),"""
_SEARCH = f"""{_SCORED}
best AS (  -- an item ranks by its best chunk
    SELECT item_key, arg_max(chunk_key, score) AS chunk_key, max(score) AS score FROM scored GROUP BY item_key),
candidates AS (
    SELECT i.content_id, b.chunk_key, b.score FROM best b JOIN search_items i USING (item_key)
    WHERE (?::VARCHAR IS NULL OR i.space_key = ?) AND (?::VARCHAR IS NULL OR i.content_type = ?))
SELECT content_id, chunk_key, score FROM candidates
-- The permission filter: only items the user can see, by the access model (confluence_pipeline.access).
WHERE content_id IN (SELECT content_id FROM visible_items(?) WHERE content_id IN (SELECT content_id FROM candidates))
ORDER BY score DESC, content_id
LIMIT ?"""

# Parameters: as _SEARCH up to the average chunk length, then the query's vector, space key (twice),
# type (twice), the similarity floor, how many nearest items, the user's account id, the limit.
# DIMS: the width of the model's vectors (a lake stores lists; similarity wants fixed-size arrays).
_HYBRID = f"""{_SCORED}
ceiling AS (  -- the highest BM25 score this query can reach: every term, tf without bound
    SELECT sum(weight) * ({K1} + 1) AS score FROM weights),
lexical AS (
    SELECT item_key, arg_max(chunk_key, score) AS chunk_key, max(score) AS score FROM scored GROUP BY item_key),
closeness AS (
    SELECT c.item_key, v.chunk_key, array_cosine_similarity(v.vector::FLOAT[DIMS], ?::FLOAT[DIMS]) AS similarity
    FROM search_vectors v JOIN search_chunks c USING (chunk_key)),
items AS (
    SELECT item_key, content_id FROM search_items
    WHERE (?::VARCHAR IS NULL OR space_key = ?) AND (?::VARCHAR IS NULL OR content_type = ?)),
nearest AS (  -- each item by its closest chunk, and its rank by that
    SELECT s.item_key, arg_max(s.chunk_key, s.similarity) AS chunk_key, max(s.similarity) AS similarity,
           row_number() OVER (ORDER BY max(s.similarity) DESC, s.item_key) AS semantic_rank
    FROM closeness s JOIN items USING (item_key) GROUP BY s.item_key),
candidates AS (  -- every item BM25 matches, and the closest items by meaning
    SELECT i.content_id, coalesce(l.chunk_key, n.chunk_key) AS chunk_key,
           {BM25_WEIGHT} * coalesce(l.score / (SELECT score FROM ceiling), 0)
               + {1 - BM25_WEIGHT} * greatest(coalesce(n.similarity, 0), 0) AS score
    FROM items i LEFT JOIN lexical l USING (item_key) LEFT JOIN nearest n USING (item_key)
    WHERE l.item_key IS NOT NULL OR (n.similarity >= ? AND n.semantic_rank <= ?))
SELECT content_id, chunk_key, score FROM candidates
-- The permission filter: only items the user can see, by the access model (confluence_pipeline.access).
WHERE content_id IN (SELECT content_id FROM visible_items(?) WHERE content_id IN (SELECT content_id FROM candidates))
ORDER BY score DESC, content_id
LIMIT ?"""

# What a hit shows, for the few chunks that made the cut.
_SHOW = """
SELECT c.chunk_key, d.content_type, d.title, d.breadcrumbs, d.url, d.space_key, d.modified_at, d.headings, d.text
FROM documents d JOIN search_chunks c USING (chunk_id)
WHERE d.chunk_id IN (SELECT chunk_id FROM search_chunks WHERE chunk_key IN (SELECT unnest(?)))"""


class SearchError(Exception):
    """A search that cannot be answered; the message says what to do."""


@dataclass(frozen=True)
class Hit:
    content_id: str
    type: str  # page | blogpost | comment | attachment
    title: str
    breadcrumbs: list[str]
    url: str | None
    snippet: str  # matched words in **bold**
    score: float
    space_key: str | None
    modified_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["modified_at"] = self.modified_at.isoformat() if self.modified_at else None
        data["score"] = round(self.score, 4)
        return data


def search(lake: Lake, query: str, *, as_user: str, space: str | None = None, type: str | None = None,
           limit: int = 10, mode: Mode | None = None) -> list[Hit]:
    """The best `limit` items for `query` that `as_user` (email or account id) may see. `mode`:
    "bm25", "hybrid" (BM25 fused with semantic similarity), or None: hybrid when the index has
    vectors and the model is installed, else BM25."""
    with Searcher(lake) as searcher:
        return searcher.search(query, as_user=as_user, space=space, type=type, limit=limit, mode=mode)


class Searcher:
    """Searches over one open (read-only) connection to the lake: for programs that ask many
    questions. Each search sees the last committed snapshot; a sync committing meanwhile never
    waits for it nor disturbs it."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._wh: Warehouse | None = None
        self._statistics: tuple[float, float] | None = None
        self._vectors: bool | None = None
        self._vectors_model: str | None = None

    def __enter__(self) -> "Searcher":
        try:
            self._wh = Warehouse(self.lake, read_only=True).__enter__()
        except LakeError as exc:
            raise SearchError(str(exc)) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._wh is not None:
            self._wh.__exit__(*exc)
            self._wh = None

    def search(self, query: str, *, as_user: str, space: str | None = None, type: str | None = None,
               limit: int = 10, mode: Mode | None = None) -> list[Hit]:
        if mode is not None and mode not in MODES:
            raise SearchError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if type is not None and type not in CONTENT_TYPES:
            raise SearchError(f"type must be one of {', '.join(CONTENT_TYPES)}, not {type!r}")
        if limit < 1:
            raise SearchError(f"limit must be at least 1, not {limit}")
        if self._wh is None:
            raise SearchError("Searcher is not open: use `with Searcher(path) as searcher:`")
        wh = self._wh
        counts: dict[str, int] = {}
        for term in terms(query):
            counts[term] = counts.get(term, 0) + 1
        hybrid = self.mode(mode) == "hybrid"
        if not counts:  # no word to search for (only stop words)
            return []
        try:
            account_id = self.account_id(as_user)
            ids = dict(wh.run("SELECT term, term_id FROM search_terms WHERE term IN (SELECT unnest(?))",
                              [list(counts)]))
            known = [t for t in counts if t in ids]
            if not known and not hybrid:  # with vectors, meaning alone can still answer
                return []
            chunks, average_length = self.statistics()
            lexical = [[ids[t] for t in known], [counts[t] for t in known], chunks, average_length]
            if hybrid:
                vector = semantic.embed_query(query)
                ranked = wh.run(_HYBRID.replace("DIMS", str(len(vector))), [*lexical, vector, space, space, type,
                                type, semantic.MIN_SIMILARITY, SEMANTIC_CANDIDATES, account_id, limit])
            else:
                ranked = wh.run(_SEARCH, [*lexical, space, space, type, type, account_id, limit])
            shown = {row[0]: row[1:] for row in wh.run(_SHOW, [[row[1] for row in ranked]])}
        except duckdb.CatalogException as exc:
            raise self._not_built(exc) from None
        return _hits(ranked, shown, set(counts))

    def _not_built(self, exc: duckdb.CatalogException) -> SearchError:
        return SearchError(f"The lake ({self.lake.describe()}) lacks the search index or the access model "
                           f"({exc.args[0].splitlines()[0]}):"
                           " materialize documents, search_index and content_access (`confluence-pipeline sync`);"
                           " search answers only with what the user may see")

    def mode(self, asked: Mode | None) -> Mode:
        """The ranking a search uses: as asked, or hybrid when vectors and the model are both there."""
        assert self._wh is not None
        if self._vectors is None:  # read once: the file is open read-only
            self._vectors = has_vectors(self._wh) and self._wh.count("search_vectors") > 0
            self._vectors_model = self._wh.get_state(VECTORS_MODEL_KEY) if self._vectors else None
        # a query is comparable only with vectors of the model that embeds it
        usable = bool(self._vectors) and semantic.installed() and self._vectors_model == semantic.model_name()
        if asked == "bm25" or (asked is None and not usable):
            return "bm25"
        if not semantic.installed():
            raise SearchError(f"hybrid search: {semantic.INSTALL_HINT}")
        if not self._vectors:
            raise SearchError(f"hybrid search: the lake ({self.lake.describe()}) has no chunk vectors; "
                              "materialize search_embeddings (after search_index; a sync does both) with the "
                              "semantic extra installed and search.semantic auto or on")
        if not usable:
            raise SearchError(f"hybrid search: the lake's chunk vectors were made by {self._vectors_model}, not by "
                              f"the installed model {semantic.model_name()}; materialize search_embeddings "
                              "(a sync does it) to embed the chunks again")
        return "hybrid"

    def statistics(self) -> tuple[float, float]:
        """How many chunks the index holds and their average length in terms (BM25's N and avgdl),
        read once: the file is open read-only."""
        if self._statistics is None:
            assert self._wh is not None
            n, average = self._wh.run("SELECT count(*), avg(length) FROM search_chunks")[0]
            self._statistics = (float(n), float(average or 1.0))
        return self._statistics

    def account_id(self, user: str) -> str:
        """The account id of a user given by email or account id (the synced `users` table)."""
        assert self._wh is not None
        rows = self._wh.run("SELECT account_id FROM users WHERE deleted_at IS NULL AND "
                            "(account_id = ? OR lower(email) = lower(?)) ORDER BY account_id = ? DESC LIMIT 1",
                            [user, user, user])
        if not rows:
            raise SearchError(f"No user {user!r} in the synced directory: give an email or account id listed by "
                              "`confluence-pipeline query \"SELECT account_id, email, display_name FROM users\"`")
        return rows[0][0]


def _hits(ranked: list[tuple], shown: dict[int, tuple], query_terms: set[str]) -> list[Hit]:
    hits = []
    for content_id, chunk_key, score in ranked:
        content_type, title, breadcrumbs, url, space_key, modified_at, headings, text = shown[chunk_key]
        hits.append(Hit(content_id, content_type, title or "", list(breadcrumbs or []), url,
                        snippet(text or "", query_terms, headings or []), float(score), space_key, modified_at))
    return hits


def snippet(text: str, query_terms: set[str], headings: list[str], width: int = SNIPPET_CHARS) -> str:
    """About `width` characters of `text` around the densest run of query terms, matches in bold."""
    flat = " ".join(text.split())
    spans = [(term, start, end) for term, start, end in terms_with_spans(flat) if term in query_terms]
    if not spans:
        lead = " › ".join(headings)
        body = flat[:width].rsplit(" ", 1)[0] + " …" if len(flat) > width else flat
        return f"{lead}: {body}" if lead and body else (lead or body)
    best_start, best_count = spans[0][1], 0
    for i, (_, start, _) in enumerate(spans):
        distinct = {term for term, s, e in spans[i:] if e <= start + width}
        if len(distinct) > best_count:
            best_start, best_count = start, len(distinct)
    begin = max(0, best_start - width // 4)
    if begin:
        space = flat.rfind(" ", 0, begin)
        begin = space + 1 if space >= 0 else 0
    end = min(len(flat), begin + width)
    if end < len(flat):
        space = flat.rfind(" ", begin, end)
        end = space if space > begin else end
    merged: list[list[int]] = []  # matches inside the window; touching ones (CJK pairs) become one
    for _, start, stop in spans:
        if start < begin or stop > end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    out, cursor = [], begin
    for start, stop in merged:
        out += [flat[cursor:start], "**", flat[start:stop], "**"]
        cursor = stop
    out.append(flat[cursor:end])
    return ("… " if begin else "") + "".join(out) + (" …" if end < len(flat) else "")
