"""Reading content from the site: the v2 listing of each content asset (newest first, space
batch by space batch, a listing refused for one space split until that space is alone), reads
by id, and CQL searches with the space filter pushed in as CQL.

CQL searches include archived content and archived spaces, as v2 listings do.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator, TypeVar

from ..confluence.client import ConfluenceClient
from ..confluence.errors import NotFound, PermissionDenied
from ..confluence.models import Attachment, ContentV1
from ..storage.warehouse import Warehouse
from . import rows as R
from .scope import spaces_in_scope
from .step import AssetReport, SyncContext
from .windows import EPOCH

CQL_OVERLAP = timedelta(days=1)  # CQL dates are read in the account's (unknown) time zone
READ_AHEAD_ITEMS = 500  # two pages of a v2 listing
T = TypeVar("T")


@dataclass(frozen=True)
class Listing:
    table: str
    fetch: Callable[..., Iterator[Any]]  # (client, space_ids | None) -> items, newest first
    to_row: Callable[..., dict[str, Any]]
    trashed: Callable[..., Iterator[Any]] | None = None  # (client, space_ids | None) -> items in the trash
    by_ids: Callable[[ConfluenceClient, list[str]], Iterator[Any]] | None = None
    per_space: bool = True


def _pages(c: ConfluenceClient, space_ids: list[str] | None) -> Iterator[Any]:
    return c.pages(space_ids=space_ids, status=["current", "archived"], body_format="storage",
                   sort="-modified-date")


def _blogposts(c: ConfluenceClient, space_ids: list[str] | None) -> Iterator[Any]:
    return c.blogposts(space_ids=space_ids, status=["current"], body_format="storage", sort="-modified-date")


def _attachments(c: ConfluenceClient, space_ids: list[str] | None) -> Iterator[Any]:
    return c.attachments(status=["current", "archived"], sort="-modified-date")


LISTINGS: dict[str, list[Listing]] = {
    "pages": [Listing("pages", _pages, R.page_row,
                      trashed=lambda c, s: c.pages(space_ids=s, status=["trashed"], body_format="storage"),
                      by_ids=lambda c, ids: c.pages(ids=ids, status=["current", "archived"], body_format="storage"))],
    "blogposts": [Listing("blogposts", _blogposts, R.blogpost_row,
                          trashed=lambda c, s: c.blogposts(space_ids=s, status=["trashed"], body_format="storage"),
                          by_ids=lambda c, ids: c.blogposts(ids=ids, status=["current"], body_format="storage"))],
    "comments": [
        Listing("comments", lambda c, s: c.footer_comments(body_format="storage", sort="-modified-date"),
                lambda item, *a: R.comment_row(item, "footer", *a), per_space=False),
        Listing("comments", lambda c, s: c.inline_comments(body_format="storage", sort="-modified-date"),
                lambda item, *a: R.comment_row(item, "inline", *a), per_space=False),
    ],
    "attachments": [Listing("attachments", _attachments, R.attachment_row,
                            trashed=lambda c, s: c.attachments(status=["trashed"]),
                            by_ids=lambda c, ids: _attachments_by_id(c, ids), per_space=False)],
}


def space_batches(ctx: SyncContext, wh: Warehouse) -> list[list[str] | None]:
    """Push the space filter into the API as space-id (100 per call); None: the whole site.
    The spaces in scope are those of the filters now, whether or not `spaces` ran since they changed."""
    filters = ctx.settings.filters
    if not filters.space_keys_in and not filters.space_keys_not_in:
        return [None]
    ids = spaces_in_scope(wh, filters)
    return [ids[i:i + 100] for i in range(0, len(ids), 100)]


def list_by_space(ctx: SyncContext, wh: Warehouse, listing: Listing, fetch: Callable[..., Iterator[Any]],
                  report: AssetReport, since: datetime | None = None,
                  until: datetime | None = None) -> Iterator[Any]:
    """What `fetch` lists (newest first) modified in [since, until), space batch by space batch.

    A listing answered with 403 is split until the space that fails is alone: that space is
    reported (so the watermark stays), and every other space is still synced.
    """
    pending = space_batches(ctx, wh) if listing.per_space else [None]
    whole = since is None or since <= EPOCH  # read to the end: the next page may be fetched early
    while pending:
        batch = pending.pop(0)
        try:
            for item in (read_ahead if whole else iter)(fetch(ctx.client, batch)):
                modified = item.version.created_at if item.version else None
                if until is not None and (modified is None or modified >= until):
                    continue
                if since is not None and modified is not None and modified < since:
                    break
                yield item
            report.failures += ctx.client.take_skipped()  # malformed objects: recorded, tried again next run
        except PermissionDenied as exc:
            spaces = batch if batch is not None else spaces_in_scope(wh, ctx.settings.filters)
            if listing.per_space and len(spaces) > 1:
                pending[:0] = [spaces[:len(spaces) // 2], spaces[len(spaces) // 2:]]
            else:
                where = f"space {spaces[0]}" if listing.per_space and spaces else "the site"
                report.failures.append(f"{listing.table} of {where}: {exc}")


def read_ahead(items: Iterator[T], size: int = READ_AHEAD_ITEMS) -> Iterator[T]:
    """`items`, taken by a thread of its own up to `size` ahead, so that a listing's next page is
    on its way while the caller stores this one. For listings read to the end: one left early may
    have fetched a page for nothing. The thread's errors are raised here, where the items are taken."""
    handoff: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=size)
    left = threading.Event()
    end = object()

    def put(entry: tuple[Any, BaseException | None]) -> bool:
        while not left.is_set():
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def take_all() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as exc:  # handed to the caller, who decides
            put((end, exc))

    taker = threading.Thread(target=take_all, name="read-ahead", daemon=True)
    taker.start()
    try:
        while True:
            item, error = handoff.get()
            if item is end:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        left.set()
        taker.join()


def ids_listing(client: ConfluenceClient, table: str, space_ids: list[str] | None, statuses: list[str], *,
                ids: list[str] | None = None) -> Iterator[Any]:
    listing = client.pages if table == "pages" else client.blogposts
    return listing(ids=ids, space_ids=space_ids, status=statuses)


def _attachments_by_id(client: ConfluenceClient, ids: list[str]) -> Iterator[Attachment]:
    """Attachments one by one (there is no bulk read); gone ones are skipped. Only for the few
    that left the trash: a restore does not change the version, so no listing shows it."""
    for attachment_id in ids:
        try:
            yield client.attachment(attachment_id)
        except NotFound:
            continue


FOLDER_EXPAND = tuple(f"content.{e}" for e in ("version", "space", "ancestors", "history", "extensions"))


def search_content(ctx: SyncContext, cql: str, expand: tuple[str, ...]) -> Iterator[ContentV1]:
    """Content by CQL, archived content and archived spaces included: CQL leaves them out by
    default, v2 listings do not. No excerpts: the sync never reads them, and making them is a
    fifth of what a search of 250 ids costs the server."""
    for hit in ctx.client.search(cql, expand=expand, limit=250, excerpt="none", include_archived_spaces=True,
                                 content_statuses=("current", "archived")):
        if hit.content is not None:
            yield hit.content


def cql_space_clauses(ctx: SyncContext, wh: Warehouse) -> list[str]:
    """The space filter as CQL: nothing (the whole site), or `space in (...)` per 100 spaces in scope."""
    batches = space_batches(ctx, wh)
    if batches == [None]:
        return [""]
    keys = dict(wh.run("SELECT id, key FROM spaces"))
    return [f" and space in ({cql_keys(keys[space_id] for space_id in batch)})" for batch in batches]


def cql_keys(keys: Iterable[str]) -> str:
    return ",".join(f'"{key}"' for key in keys)


def folders_by_ids(ctx: SyncContext, ids: list[str]) -> Iterator[ContentV1]:
    for start in range(0, len(ids), 250):
        yield from search_content(ctx, f"type = folder and id in ({','.join(ids[start:start + 250])})", FOLDER_EXPAND)
