"""One pagination object per Confluence listing scheme, each made fresh for one listing.

- `CursorPages`: v2 lists. Follow `_links.next` (or the `Link` header's rel="next"); only the
  absence of a next link ends the listing, never a short or empty page.
- `OffsetPages`: v1 start/limit lists (groups, members, audit, user search). Follow
  `_links.next`; without one, a full page asks for `start + size`, a short page ends it.
- `SearchCursorPages`: v1 CQL search (`/search`, `/content/search`): a cursor in `_links.next`
  that lacks `/wiki` (`/rest/api/search?...&cursor=...`).

Every request is a *site-relative* path (`/wiki/api/v2/pages?...`, `/wiki/rest/api/...`) that
the client puts behind its own root: the site (`https://x.atlassian.net`) or the OAuth gateway
(`https://api.atlassian.com/ex/confluence/{cloudId}`). Next links are never resolved with
`urljoin` against `_links.base`: that would drop the gateway prefix (FACTS.md §1).

Listings are generators of raw JSON items, one page in memory at a time, and refuse to follow
a next link they have already followed (a service bug would otherwise loop forever).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping
from urllib.parse import parse_qsl, urlsplit

from requests.utils import parse_header_links

from .errors import ApiError

Params = Mapping[str, Any] | None
# fetch(site_path, params) -> (JSON body, response headers)
Fetch = Callable[[str, Params], tuple[Any, Mapping[str, str]]]


def site_path(link: str, hosts: frozenset[str] | None = None) -> str:
    """A next link as a site-relative path starting with /wiki, keeping its query.

    Accepts what Confluence sends: `/wiki/api/v2/...` (v2), `/rest/api/...` (v1 search, no
    /wiki), `/api/v2/...` (include-* blocks) and absolute URLs on one of `hosts` (the site and
    the gateway). An absolute link to any other host is refused: it is not Confluence's to send,
    and following it would at best read someone else's data.
    """
    parts = urlsplit(link)
    if parts.netloc and hosts is not None and parts.netloc.lower() not in hosts:
        raise ApiError(f"Confluence sent a next-page link to another host ({parts.netloc}, not "
                       f"{' or '.join(sorted(hosts))}); it was not followed, so the listing is incomplete. "
                       "A proxy between this client and Confluence may be rewriting answers: check "
                       "CONFLUENCE_SITE_URL and any proxy, then run again")
    path = parts.path
    if parts.scheme and "/wiki/" in path:
        path = path[path.index("/wiki/"):]  # drops a host and any gateway prefix
    if path.startswith("/rest/") or path.startswith("/api/v2/"):
        path = "/wiki" + path
    if not path.startswith("/wiki/"):
        raise ApiError(f"Confluence sent a next-page link this client cannot follow ({link!r}): "
                       "please report it with the operation that produced it")
    return f"{path}?{parts.query}" if parts.query else path


class _Pages:
    """Drives one listing: fetch a page, yield its items, ask the scheme for the next request."""

    def __init__(self, fetch: Fetch, path: str, params: Params = None, *,
                 hosts: frozenset[str] | None = None) -> None:
        self._fetch = fetch
        self._path = path
        self._params = dict(params or {})
        self.hosts = hosts  # hosts an absolute next link may name (None: any)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        path, params = self._path, self._params
        followed: set[str] = set()
        while True:
            body, headers = self._fetch(path, params)
            if not isinstance(body, dict):
                raise ApiError(f"Confluence answered {path} with a {type(body).__name__} instead of a list "
                               "envelope: check that the site URL points at Confluence Cloud")
            yield from body.get("results") or []
            following = self.next_request(path, params, body, headers)
            if following is None:
                return
            key = following[0] + repr(sorted((following[1] or {}).items()))
            if key in followed:
                raise ApiError(f"Confluence returned the same next page twice while listing {self._path}: "
                               "stopped to avoid an endless loop; retry the sync, and report it if it "
                               "repeats")
            followed.add(key)
            path, params = following

    def next_request(self, path: str, params: dict[str, Any], body: dict[str, Any],
                     headers: Mapping[str, str]) -> tuple[str, dict[str, Any]] | None:
        raise NotImplementedError


def _body_next(body: Mapping[str, Any]) -> str | None:
    links = body.get("_links")
    return links.get("next") if isinstance(links, Mapping) else None


def _header_next(headers: Mapping[str, str]) -> str | None:
    for link in parse_header_links(headers.get("Link", "")):
        if "next" in link.get("rel", "").split():
            return link.get("url") or None
    return None


class CursorPages(_Pages):
    """v2 cursor lists."""

    def next_request(self, path, params, body, headers):
        link = _body_next(body) or _header_next(headers)
        return (site_path(link, self.hosts), {}) if link else None


class SearchCursorPages(_Pages):
    """v1 CQL search: the cursor lives in `_links.next` only."""

    def next_request(self, path, params, body, headers):
        link = _body_next(body)
        return (site_path(link, self.hosts), {}) if link else None


class OffsetPages(_Pages):
    """v1 start/limit lists."""

    def next_request(self, path, params, body, headers):
        link = _body_next(body)
        if link:
            return site_path(link, self.hosts), {}
        size = body.get("size", len(body.get("results") or []))
        query = {**dict(parse_qsl(urlsplit(path).query)), **params}
        limit = body.get("limit") or query.get("limit")
        if not size or limit is None or size < int(limit):
            return None
        start = int(body.get("start", query.get("start", 0)))
        return urlsplit(path).path, {**query, "start": start + size}
