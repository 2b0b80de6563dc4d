"""The `documents` table: the text of every item the indexing filters let through, in chunks
that follow headings, kept in step with the synced content.

Which items: current pages and blog posts, and the current comments and attachments of current
pages and blog posts, each kind switched by its indexing filter (`IndexingFilters`), within the
sync filters' scope (`in_scope`). Trashed, purged, archived and out-of-scope items are not indexed.

How it stays in step: every item to index has a fingerprint of what its chunks are made from
(version, title, breadcrumbs, URL, space, the downloaded file's version, the display names of
the people its body mentions, the converter's version). A run rebuilds the items whose fingerprint changed and deletes the chunks of items that
are no longer to be indexed (deleted, trashed, filtered out), wherever their window: a restore,
a rename of an ancestor (new breadcrumbs) or a filter switched back on changes no window of its
own. The cost is one SQL comparison plus the conversion of what changed.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from ..settings import IndexingFilters
from ..storage.derived import update
from ..storage.schema import DOCUMENT_ITEMS, DOCUMENTS
from ..storage.warehouse import Warehouse, arrow_schema
from ..text.attachments import EXTRACTION_VERSION, Extracted, Limits
from ..text.extractor import Extractor
from ..text.blocks import Names
from ..text.chunks import Chunk, chunk_blocks
from ..text.storage import convert
from .children import mapped

CONVERTER_VERSION = "1"  # raise when conversion or chunking changes: every item is rebuilt
BATCH_ITEMS = 500
# A run that rebuilds this many items (a first sync, a change of converter) converts them in
# child processes (children.py) while this one reads and writes the lake; fewer are not worth a
# process's start (about 0.5 s).
PARALLEL_ITEMS = 4 * BATCH_ITEMS
CONTENT_TYPES = ("page", "blogpost", "comment", "attachment")
# What the documents are made from (`update_documents`).
INPUTS = ("pages", "blogposts", "comments", "attachments", "folders", "spaces", "users")

# Every item the filters let through, with what its chunks show and its fingerprint.
_SOURCES = """
CREATE OR REPLACE TEMP TABLE document_sources AS
WITH containers AS (
    SELECT 'page' AS type, id, space_id, title, status, deleted_at, coalesce(ancestor_titles, []) AS path FROM pages
    UNION ALL SELECT 'blogpost', id, space_id, title, status, deleted_at, [] FROM blogposts),
items AS (
    SELECT id AS content_id, 'page' AS content_type, space_id, title, coalesce(ancestor_titles, []) AS path,
           web_url, modified_at, version, window_key, NULL::VARCHAR AS media_type, NULL::VARCHAR AS local_path,
           NULL::INTEGER AS file_version
    FROM pages WHERE $pages AND status = 'current' AND deleted_at IS NULL AND in_scope IS NOT FALSE
    UNION ALL
    SELECT id, 'blogpost', space_id, title, [], web_url, modified_at, version, window_key, NULL, NULL, NULL
    FROM blogposts WHERE $blogposts AND status = 'current' AND deleted_at IS NULL AND in_scope IS NOT FALSE
    UNION ALL
    SELECT c.id, 'comment', k.space_id, coalesce(c.title, 'Comment on ' || k.title), k.path || [k.title],
           c.web_url, c.modified_at, c.version, c.window_key, NULL, NULL, NULL
    FROM comments c JOIN containers k ON k.id = c.container_id AND k.type = c.container_type
    WHERE (($page_comments AND c.container_type = 'page') OR ($blogpost_comments AND c.container_type = 'blogpost'))
      AND c.status = 'current' AND c.deleted_at IS NULL AND c.in_scope IS NOT FALSE
      AND k.status = 'current' AND k.deleted_at IS NULL
    UNION ALL
    SELECT a.id, 'attachment', k.space_id, a.title, k.path || [k.title], a.web_url, a.modified_at, a.version,
           a.window_key, a.media_type, a.local_path, a.downloaded_version
    FROM attachments a JOIN containers k ON k.id = a.container_id AND k.type = a.container_type
    WHERE (($page_attachments AND a.container_type = 'page')
           OR ($blogpost_attachments AND a.container_type = 'blogpost'))
      AND a.status = 'current' AND a.deleted_at IS NULL AND a.in_scope IS NOT FALSE
      AND k.status = 'current' AND k.deleted_at IS NULL),
mentions AS (  -- who each body mentions (ri:userkey holds an account id too), and their names now
    SELECT m.id, md5(string_agg(m.account_id || '=' || coalesce(u.display_name, ''), ',' ORDER BY m.account_id))
               AS names
    FROM (SELECT id, unnest(regexp_extract_all(body_storage, 'ri:(?:account-id|userkey)="([^"]*)"', 1)) AS account_id
          FROM (SELECT id, body_storage FROM pages UNION ALL SELECT id, body_storage FROM blogposts
                UNION ALL SELECT id, body_storage FROM comments)
          WHERE body_storage LIKE '%<ri:user%') m
    LEFT JOIN users u ON u.account_id = m.account_id
    GROUP BY m.id)
SELECT i.*, s.key AS space_key, [coalesce(s.name, s.key, '')] || i.path AS breadcrumbs,
       md5(concat_ws('|', '$converter', i.content_type, i.version, i.title, i.path::VARCHAR, i.web_url, s.key, s.name,
                     i.media_type, i.local_path, i.file_version, m.names)) AS fingerprint
FROM items i LEFT JOIN spaces s ON s.id = i.space_id LEFT JOIN mentions m ON m.id = i.content_id
"""

_STALE_BODIES = """
CREATE OR REPLACE TEMP TABLE document_bodies AS
WITH wanted AS (SELECT unnest(?) AS id)
SELECT id, body_storage FROM pages SEMI JOIN wanted USING (id)
UNION ALL SELECT id, body_storage FROM blogposts SEMI JOIN wanted USING (id)
UNION ALL SELECT id, body_storage FROM comments SEMI JOIN wanted USING (id)"""

# what the attachments step read from the files it saved, where it is of the saved version
_EXTRACTED = """
SELECT id, extracted_text FROM attachments
WHERE id IN (SELECT unnest(?)) AND extracted_key = downloaded_version || '/' || ?"""


@dataclass
class DocumentsReport:
    items: int = 0  # indexed after the run
    chunks: int = 0
    rebuilt: int = 0
    removed: int = 0
    chunks_written: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # attachments whose text could not be read, by reason
    duration_s: float = 0.0
    built_from: int | None = None  # the lake snapshot whose content the documents show

    def metadata(self) -> dict[str, Any]:
        return {"items_indexed": self.items, "built_from_snapshot": self.built_from or 0, "chunks": self.chunks,
                "items_rebuilt": self.rebuilt, "items_removed": self.removed, "chunks_written": self.chunks_written,
                "attachments_without_text": sum(self.skipped.values()), "duration_s": round(self.duration_s, 3)}


def _sources_sql(filters: IndexingFilters) -> str:
    sql = _SOURCES.replace("$converter", CONVERTER_VERSION)
    for name in ("page_attachments", "page_comments", "blogpost_attachments", "blogpost_comments", "pages",
                 "blogposts"):
        sql = sql.replace(f"${name}", "TRUE" if getattr(filters, name) else "FALSE")
    return sql


def _names(wh: Warehouse) -> Names:
    """Display names for mentions (the directory's `users`) and titles for links that name content by id."""
    users = dict(wh.run("SELECT account_id, display_name FROM users WHERE display_name IS NOT NULL"))
    content = dict(wh.run("SELECT id, title FROM pages UNION ALL SELECT id, title FROM blogposts "
                          "UNION ALL SELECT id, title FROM folders"))
    return Names(users=users, content=content)


def _hash(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def build_documents(wh: Warehouse, filters: IndexingFilters, now: datetime, *, limits: Limits = Limits(),
                    progress: Callable[[str], None] = lambda message: None) -> DocumentsReport:
    """Bring `documents` and `document_items` in line with the synced content and the filters.
    Call inside a transaction: the run's writes land together or not at all."""
    report = DocumentsReport()
    started = time.perf_counter()
    wh.run(_sources_sql(filters))
    removed = [r[0] for r in wh.run(
        "SELECT content_id FROM document_items WHERE content_id NOT IN (SELECT content_id FROM document_sources)")]
    stale = wh.run("""
        SELECT s.content_id, s.content_type, s.space_id, s.space_key, s.title, s.breadcrumbs, s.web_url, s.modified_at,
               s.version, s.window_key, s.media_type, s.local_path, s.fingerprint
        FROM document_sources s LEFT JOIN document_items d USING (content_id)
        WHERE d.fingerprint IS DISTINCT FROM s.fingerprint
        ORDER BY s.content_type, s.content_id""")
    gone = removed + [row[0] for row in stale]
    # the bodies to convert, read from the lake in one pass (not one scan of every body per batch)
    wh.run(_STALE_BODIES, [[row[0] for row in stale if row[1] != "attachment"]])
    wh.run("DELETE FROM documents WHERE content_id IN (SELECT unnest(?))", [gone])
    wh.run("DELETE FROM document_items WHERE content_id IN (SELECT unnest(?))", [gone])  # stale ones: inserted anew
    report.removed = len(removed)
    if stale:
        progress(f"documents: converting {len(stale)} changed items")
        names = _names(wh)
        with Extractor(limits) as extractor:
            batches = (stale[start:start + BATCH_ITEMS] for start in range(0, len(stale), BATCH_ITEMS))
            sourced = ((len(batch), (batch, _sources(wh, batch, extractor), now)) for batch in batches)
            done = 0
            parallel = len(stale) >= PARALLEL_ITEMS
            for size, (chunks, items, skipped) in mapped(_documents, names, sourced, in_children=parallel):
                wh.insert("documents", chunks)
                wh.insert("document_items", items)
                report.chunks_written += chunks.num_rows
                report.skipped.update(skipped)
                done += size
                progress(f"documents: {done}/{len(stale)} items")
    wh.run("DROP TABLE document_sources")
    wh.run("DROP TABLE document_bodies")
    report.rebuilt = len(stale)
    report.items = wh.count("document_items")
    report.chunks = wh.count("documents")
    report.duration_s = time.perf_counter() - started
    return report


def update_documents(wh: Warehouse, filters: IndexingFilters, now: datetime, *,
                     progress: Callable[[str], None] = lambda message: None) -> DocumentsReport:
    """`build_documents` in a transaction of its own; skipped when none of the tables the documents
    are made from changed since the last build (nor the filters, nor the code): it would compare
    every item's fingerprint (a second at scale 100,000) to rebuild nothing."""
    started = time.perf_counter()

    def build(snapshot: int) -> DocumentsReport:
        report = build_documents(wh, filters, now, progress=progress)
        report.built_from = snapshot
        return report

    def unchanged(snapshot: int) -> DocumentsReport:
        return DocumentsReport(items=wh.count("document_items"), chunks=wh.count("documents"),
                               duration_s=time.perf_counter() - started, built_from=snapshot)

    version = _hash(_sources_sql(filters), EXTRACTION_VERSION, Limits())
    return update(wh, "documents", INPUTS, version, build, unchanged)


def _sources(wh: Warehouse, batch: list[tuple], extractor: Extractor) -> list[tuple[str, str]]:
    """What each item of the batch is made from: ("body", storage format) for pages, blog posts
    and comments; ("extracted", Extracted as JSON) for attachments, as the attachments step stored
    it, else read from the saved file now."""
    files = [row[0] for row in batch if row[1] == "attachment"]
    others = [row[0] for row in batch if row[1] != "attachment"]
    # each read only where the batch holds such items (the batches follow content type)
    bodies = dict(wh.run("SELECT id, body_storage FROM document_bodies WHERE id IN (SELECT unnest(?))",
                         [others])) if others else {}
    stored = dict(wh.run(_EXTRACTED, [files, EXTRACTION_VERSION])) if files else {}
    sources = []
    for content_id, content_type, _, _, title, *_, media_type, local_path, _ in batch:
        if content_type != "attachment":
            sources.append(("body", bodies.get(content_id)))
        elif content_id in stored:
            sources.append(("extracted", stored[content_id]))
        else:
            extracted = (extractor.extract_json(Path(local_path), media_type, title) if local_path else
                         Extracted(status="skipped", reason="file not downloaded").to_json())
            sources.append(("extracted", extracted))
    return sources


Chunked = tuple[list[Chunk], str, str]  # an item's chunks, its text status, and the reason (or "")


def _documents(work: tuple[list[tuple], list[tuple[str, str]], datetime], names: Names
               ) -> tuple[pa.Table, pa.Table, Counter[str]]:
    """A batch of items (rows of `document_sources`, what each is made from, the run's time) as
    the rows of `documents` and `document_items`, and the reasons of attachments without text.
    Runs in the children on a large rebuild, so that building the rows is spread with the
    conversion and the caller's process only writes them."""
    batch, sources, now = work
    docs: dict[str, list[Any]] = {name: [] for name in DOCUMENTS.column_names}
    items: dict[str, list[Any]] = {name: [] for name in DOCUMENT_ITEMS.column_names}
    skipped: Counter[str] = Counter()
    for (content_id, content_type, space_id, space_key, title, breadcrumbs, url, modified_at, version, window_key,
         _, _, fingerprint), (chunks, status, reason) in zip(batch, _chunked(sources, names)):
        if status == "skipped":
            skipped[reason] += 1
        n = max(len(chunks), 1)
        for name, value in (("content_id", content_id), ("content_type", content_type),
                            ("space_id", space_id), ("space_key", space_key), ("title", title),
                            ("breadcrumbs", list(breadcrumbs or [])), ("url", url),
                            ("modified_at", modified_at), ("version", version), ("window_key", window_key),
                            ("indexed_at", now)):
            docs[name] += [value] * n
        if chunks:
            docs["chunk_id"] += [f"{content_id}:{c.index}" for c in chunks]
            docs["chunk_index"] += [c.index for c in chunks]
            docs["headings"] += [list(c.headings) for c in chunks]
            docs["markdown"] += [c.markdown for c in chunks]
            docs["text"] += [c.text for c in chunks]
            docs["text_hash"] += [_hash(content_type, space_key, title, c.headings, c.text) for c in chunks]
        else:  # still findable by its title (an image, an empty page)
            for name, value in (("chunk_id", f"{content_id}:0"), ("chunk_index", 0), ("headings", []),
                                ("markdown", ""), ("text", ""),
                                ("text_hash", _hash(content_type, space_key, title, ""))):
                docs[name].append(value)
        for name, value in (("content_id", content_id), ("content_type", content_type),
                            ("fingerprint", fingerprint), ("version", version), ("window_key", window_key),
                            ("chunks", n), ("chars", sum(len(c.text) for c in chunks)),
                            ("text_status", status), ("reason", reason or None), ("indexed_at", now)):
            items[name].append(value)
    return (pa.table(docs, schema=arrow_schema(DOCUMENTS)),
            pa.table(items, schema=arrow_schema(DOCUMENT_ITEMS)), skipped)


def _chunked(sources: list[tuple[str, str]], names: Names) -> list[Chunked]:
    out = []
    for kind, source in sources:
        if kind == "extracted":
            extracted = Extracted.from_json(source)
            blocks, status, reason = extracted.blocks, extracted.status, extracted.reason
        else:
            converted = convert(source, names)
            blocks, reason = converted.blocks, "; ".join(converted.warnings)
            status = "ok" if blocks else "empty"
        out.append((chunk_blocks(blocks), status, reason))
    return out
