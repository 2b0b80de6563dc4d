"""Attachment files: the bytes of each attachment in scope whose current version is not saved
yet, fetched a few at a time."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from ..confluence.errors import ConfluenceError
from ..storage.warehouse import Warehouse
from .staging import FLUSH_ROWS
from .step import AssetReport, SyncContext

DOWNLOAD_WORKERS = 4  # attachment files fetched at once: a download waits on the network, not on us


def download_attachments(ctx: SyncContext, wh: Warehouse, report: AssetReport) -> None:
    """Save the bytes of every attachment in scope whose current version is not saved yet, as
    data/attachments/<id> (never by file name): new, changed, restored and failed before.
    DOWNLOAD_WORKERS files are fetched at once (the client is thread-safe; the warehouse is
    written from this thread only)."""
    folder = ctx.data_dir / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    for partial in folder.glob(".*.part"):  # the client's temporary files, left by a run killed mid-download
        partial.unlink()
    wanted = wh.run("""SELECT id, container_id, version, status FROM attachments
                       WHERE status IN ('current', 'archived') AND in_scope AND container_id IS NOT NULL
                         AND downloaded_version IS DISTINCT FROM version ORDER BY id""")

    def fetch(attachment_id: str, container_id: str, version: int, status: str) -> Path:
        dest = folder / attachment_id
        ctx.client.download_attachment(container_id, attachment_id, dest, version=version, status=status,
                                       max_bytes=ctx.settings.sync.max_attachment_mb * 1024 * 1024)
        return dest

    pool = ThreadPoolExecutor(DOWNLOAD_WORKERS, thread_name_prefix="download")
    try:
        futures = {pool.submit(fetch, *row): row for row in wanted}
        started = time.perf_counter()
        for done, future in enumerate(as_completed(futures), 1):
            if done % FLUSH_ROWS == 0:
                eta = (time.perf_counter() - started) / done * (len(wanted) - done)
                ctx.progress(f"attachments: {done:,}/{len(wanted):,} files downloaded, about {eta:.0f} s to go")
            attachment_id, _, version, _ = futures[future]
            try:
                dest = future.result()
            except ConfluenceError as exc:
                report.failures.append(f"attachment {attachment_id}: {exc}")
                continue
            wh.run("UPDATE attachments SET local_path = ?, downloaded_version = ? WHERE id = ?",
                   [str(dest), version, attachment_id])
    except BaseException as exc:
        if not isinstance(exc, Exception):  # the step interrupted (run cancelled): no thread sits out its wait
            ctx.client.stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
