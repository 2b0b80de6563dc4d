"""How a spec operation becomes a typed read: one object, a listing through its pager, id filters in batches.

The client's operations (`content.py`, `directory.py`) are written with these building blocks.
A listed object that does not parse is left out and kept for `take_skipped()`, so the rest of
the listing goes on and the caller can record what was left out.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterable, Iterator, Mapping, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from .operations import OPERATIONS
from .pagination import CursorPages, Fetch, OffsetPages, SearchCursorPages
from .transport import Transport

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


def query_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Wire query parameters: None dropped, lists comma-joined, booleans lower-case."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None or (isinstance(value, (list, tuple, set, frozenset)) and not value):
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple, set, frozenset)):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = str(value)
    return out


def batches(values: Iterable[str], size: int) -> Iterator[list[str]]:
    """`values` in lists of at most `size`, for operations that take a bounded number of ids."""
    batch: list[str] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class Reads:
    """Typed reads over one `Transport`; the base of `ConfluenceClient`'s operation groups."""

    def __init__(self, transport: Transport, *, site_url: str, page_size: int) -> None:
        self._transport = transport
        self.site_url = site_url
        self.page_size = page_size  # items per v2 page: the API maximum unless a test wants more pages
        self._skipped_lock = threading.Lock()
        self._skipped: list[str] = []

    def _fetch(self, name: str) -> Fetch:
        operation = OPERATIONS[name]

        def fetch(path: str, params: Mapping[str, Any] | None) -> tuple[Any, Mapping[str, str]]:
            body, response = self._transport.request(name, operation.method, path, params=params,
                                                     weight=operation.weight)
            return body, response.headers

        return fetch

    def _get(self, name: str, model: type[M], params: Mapping[str, Any] | None = None, **args: Any) -> M:
        operation = OPERATIONS[name]
        body, _ = self._transport.request(name, "GET", operation.site_path(**args),
                                          params=query_params(params or {}), weight=operation.weight)
        return model.model_validate(body)

    def _list(self, pages: type[CursorPages | OffsetPages | SearchCursorPages], name: str, model: type[M],
              params: Mapping[str, Any] | None = None, **args: Any) -> Iterator[M]:
        path = OPERATIONS[name].site_path(**args)
        hosts = frozenset(urlsplit(url).netloc.lower() for url in (self.site_url, self._transport.root_url))
        for item in pages(self._fetch(name), path, query_params(params or {}), hosts=hosts):
            try:
                yield model.model_validate(item)
            except ValidationError as exc:
                self._skip(name, item, exc)

    def _skip(self, name: str, item: Any, exc: ValidationError) -> None:
        """One listed object Confluence sent malformed (e.g. an invalid timestamp): left out of the
        listing and noted, so the rest of it goes on and the caller can report what was skipped."""
        ident = item.get("id") if isinstance(item, dict) else None
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        reason = f"{name}: object {ident or '(no id)'} skipped, its {field} is invalid ({str(first.get('input'))[:60]!r})"
        log.warning("Confluence sent a malformed object; %s", reason)
        with self._skipped_lock:
            self._skipped.append(reason)

    def take_skipped(self) -> list[str]:
        """The objects left out of listings since the last call (each with why), and forget them."""
        with self._skipped_lock:
            skipped, self._skipped = self._skipped, []
        return skipped

    def _v2_list(self, name: str, model: type[M], params: Mapping[str, Any] | None = None,
                 **args: Any) -> Iterator[M]:
        return self._list(CursorPages, name, model, {"limit": self.page_size, **(params or {})}, **args)

    def _by_ids(self, name: str, model: type[M], params: Mapping[str, Any], *, key: str,
                values: Iterable[str] | None, size: int) -> Iterator[M]:
        """A listing filtered by ids, split into calls of at most `size` ids."""
        if values is None:
            yield from self._v2_list(name, model, params)
            return
        for batch in batches((str(v) for v in values), size):
            yield from self._v2_list(name, model, {**params, key: batch})
