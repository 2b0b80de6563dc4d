"""Attachment files: the bytes of each attachment in scope whose current version is not saved
yet, fetched a few at a time, and the text of each file read while the next ones arrive."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import pyarrow as pa

from ..confluence.errors import ConfluenceError
from ..storage.warehouse import Warehouse
from ..text.attachments import EXTRACTION_VERSION
from ..text.extractor import Extractor
from .staging import FLUSH_ROWS
from .step import AssetReport, SyncContext

DOWNLOAD_WORKERS = 4  # attachment files fetched at once: a download waits on the network, not on us
HELD_TEXT_CHARS = 64 * 1024 * 1024  # extracted text held before it is written (a file's can reach 2 M chars)

_SAVED = pa.schema([("id", pa.string()), ("local_path", pa.string()), ("downloaded_version", pa.int32()),
                    ("extracted_text", pa.string()), ("extracted_key", pa.string())])


def download_attachments(ctx: SyncContext, wh: Warehouse, report: AssetReport) -> None:
    """Save the bytes of every attachment in scope whose current version is not saved yet, as
    data/attachments/<id> (never by file name): new, changed, restored and failed before.
    DOWNLOAD_WORKERS files are fetched at once (the client is thread-safe; the warehouse is
    written from this thread only).

    While the pool waits on the network, this thread reads the text of each file that landed (in
    the extracting child process) for the `documents` step, which would otherwise read every file
    after the sync; only for current attachments whose kind the indexing filters index."""
    folder = ctx.data_dir / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    for partial in folder.glob(".*.part"):  # the client's temporary files, left by a run killed mid-download
        partial.unlink()
    wanted = wh.run("""SELECT id, container_id, version, status, container_type, media_type, title FROM attachments
                       WHERE status IN ('current', 'archived') AND in_scope AND container_id IS NOT NULL
                         AND downloaded_version IS DISTINCT FROM version ORDER BY id""")
    indexing = ctx.settings.indexing
    indexed = {"page": indexing.page_attachments, "blogpost": indexing.blogpost_attachments}

    def fetch(attachment_id: str, container_id: str, version: int, status: str, *_: object) -> Path:
        dest = folder / attachment_id
        ctx.client.download_attachment(container_id, attachment_id, dest, version=version, status=status,
                                       max_bytes=ctx.settings.sync.max_attachment_mb * 1024 * 1024)
        return dest

    calls_before = ctx.client.stats()["calls"]
    saved: list[tuple] = []
    held = 0  # characters of text in `saved`
    pool = ThreadPoolExecutor(DOWNLOAD_WORKERS, thread_name_prefix="download")
    try:
        with Extractor() as extractor:
            futures = {pool.submit(fetch, *row): row for row in wanted}
            started = time.perf_counter()
            for done, future in enumerate(as_completed(futures), 1):
                if done % FLUSH_ROWS == 0:
                    eta = (time.perf_counter() - started) / done * (len(wanted) - done)
                    ctx.progress(f"attachments: {done:,}/{len(wanted):,} files downloaded, about {eta:.0f} s to go")
                attachment_id, _, version, status, container_type, media_type, title = futures[future]
                try:
                    dest = future.result()
                except ConfluenceError as exc:
                    report.failures.append(f"attachment {attachment_id}: {exc}")
                    continue
                text = key = None
                if status == "current" and indexed.get(container_type):
                    text = extractor.extract_json(dest, media_type, title)
                    key = f"{version}/{EXTRACTION_VERSION}"
                saved.append((attachment_id, str(dest), version, text, key))
                held += len(text or "")
                if len(saved) >= FLUSH_ROWS or held >= HELD_TEXT_CHARS:
                    _record(wh, saved)
                    saved, held = [], 0
        _record(wh, saved)
    except BaseException as exc:
        if not isinstance(exc, Exception):  # the step interrupted (run cancelled): no thread sits out its wait
            ctx.client.stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    report.pooled_calls = (ctx.client.stats()["calls"] - calls_before, DOWNLOAD_WORKERS)


def _record(wh: Warehouse, saved: list[tuple]) -> None:
    """Where each saved file is, its version and its text: one statement for the batch."""
    if not saved:
        return
    wh.con.register("downloaded", pa.Table.from_pylist([dict(zip(_SAVED.names, row)) for row in saved],
                                                        schema=_SAVED))
    try:
        wh.run("""UPDATE attachments SET local_path = d.local_path, downloaded_version = d.downloaded_version,
                         extracted_text = d.extracted_text, extracted_key = d.extracted_key
                  FROM downloaded d WHERE attachments.id = d.id""")
    finally:
        wh.con.unregister("downloaded")
