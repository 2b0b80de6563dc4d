"""The connector's one way of talking to Confluence Cloud.

`ConfluenceClient` sends every call through one `Transport` (`transport.py`: the pooled session,
auth, retries, pacing and call counters). Its typed methods return models, and
generators for lists, so memory stays flat however long a listing is. Reads by id go in bulk
where the API allows (`id=` up to 250, `space-id=` up to 100, users-bulk 250, v1 user/bulk 100,
CQL `id in (...)` with restrictions expanded): callers never loop one call per object.

Hosts. API-token mode talks to the site: `{site_url}/wiki/api/v2/...`, `{site_url}/wiki/rest/api/...`.
OAuth talks to the gateway: `{api_url}/ex/confluence/{cloudId}/wiki/...`. Either way every
request is a site-relative path (`/wiki/...`) put behind `root_url`. A listed object that does
not parse is left out and kept for `take_skipped()`, so the caller can record it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ValidationError
from requests.auth import AuthBase

from .auth import BasicTokenAuth, OAuthApp, OAuthTokenAuth
from .downloads import DEFAULT_MAX_DOWNLOAD, redirect_target, save
from .errors import ApiError, AuthError, check_site_url
from .failures import API_TOKENS_URL
from .models import (Ancestor, Attachment, AuditRecord, BlogPost, ContentProperty, ContentRestriction,
                     ContentV1, Descendant, DirectChild, Folder, FooterComment, Group, GroupList,
                     InlineComment, Label, Page, RestrictionPrincipals, SearchResult, Space, SpacePermission,
                     User, UserList, UserV1, Version)
from .operations import (DOWNLOAD_HOP, ID_NAME, MAX_IDS, MAX_SPACE_IDS, MAX_V1_USERS, OPERATIONS, V2_LIMIT,
                         operation_for)
from .pagination import CursorPages, Fetch, OffsetPages, SearchCursorPages
from .ratelimit import Pacer, RetryPolicy
from .tokens import TokenStore
from .transport import Transport

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

RESTRICTION_BATCH = 100  # content ids per CQL `id in (...)` restriction read
RESTRICTION_EXPAND = ("restrictions.read.restrictions.user", "restrictions.read.restrictions.group",
                      "restrictions.update.restrictions.user", "restrictions.update.restrictions.group")


def _query(params: Mapping[str, Any]) -> dict[str, str]:
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


def _batches(values: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class ConfluenceClient:
    """Typed, paginated, rate-limit-aware reads of one Confluence Cloud site."""

    def __init__(self, root_url: str, auth: AuthBase, *, site_url: str | None = None,
                 retry: RetryPolicy | None = None, pacer: Pacer | None = None,
                 timeout: tuple[float, float] = (10.0, 60.0), pool_size: int = 10, page_size: int = V2_LIMIT,
                 session: requests.Session | None = None) -> None:
        if not 1 <= page_size <= V2_LIMIT:
            raise ValueError(f"page_size must be between 1 and {V2_LIMIT}, not {page_size}")
        self._transport = Transport(root_url, auth, retry=retry, pacer=pacer, timeout=timeout,
                                    pool_size=pool_size, session=session)
        self.root_url = self._transport.root_url
        self.page_size = page_size  # items per v2 page: the API maximum unless a test wants more pages
        self.site_url = (site_url or root_url).rstrip("/")
        self.timeout = self._transport.timeout
        self.retry = self._transport.retry
        self.pacer = self._transport.pacer
        self.throttle = self._transport.throttle
        self._auth = auth
        self._skipped_lock = threading.Lock()
        self._skipped: list[str] = []

    @classmethod
    def with_api_token(cls, site_url: str, email: str, api_token: str, **kwargs: Any) -> "ConfluenceClient":
        """A client of `https://{site}.atlassian.net` with an email and API token (basic auth)."""
        if not site_url or not email or not api_token:
            raise AuthError("API-token mode needs the site URL, the account's email and an API token: "
                            "set CONFLUENCE_SITE_URL, CONFLUENCE_EMAIL and CONFLUENCE_API_TOKEN (create a "
                            f"token at {API_TOKENS_URL})")
        try:
            check_site_url(site_url)
        except ValueError as exc:
            raise AuthError(f"The {exc}") from None
        return cls(site_url, BasicTokenAuth(email, api_token), site_url=site_url, **kwargs)

    @classmethod
    def with_oauth(cls, store: TokenStore, app: OAuthApp, **kwargs: Any) -> "ConfluenceClient":
        """A client of the site chosen at `auth login`, through the OAuth gateway."""
        auth = OAuthTokenAuth(store, app)
        tokens = auth.tokens()
        return cls(f"{app.api_url}/ex/confluence/{tokens.cloud_id}", auth, site_url=tokens.site_url, **kwargs)

    def __repr__(self) -> str:
        return f"ConfluenceClient(root_url={self.root_url!r}, auth={self._auth!r})"

    def close(self) -> None:
        self._transport.close()

    def stop(self) -> None:
        """End every wait (backoff, Retry-After, pacing, a free slot) of every thread using this client
        at once, and send no more requests: its step is being interrupted (the run cancelled), and the
        threads must not sit out a 30 s backoff first. Each raises `Stopped`."""
        self._transport.stop()

    def __enter__(self) -> "ConfluenceClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- counters --------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Calls and estimated API points, in total and by operation; retries, renewals, waits."""
        return self._transport.stats()

    def reset_stats(self) -> None:
        self._transport.reset_stats()

    # -- building blocks ---------------------------------------------------------------------
    def _fetch(self, name: str) -> Fetch:
        operation = OPERATIONS[name]

        def fetch(path: str, params: Mapping[str, Any] | None) -> tuple[Any, Mapping[str, str]]:
            body, response = self._transport.request(name, operation.method, path, params=params,
                                           weight=operation.weight)
            return body, response.headers

        return fetch

    def _get(self, name: str, model: type[M], params: Mapping[str, Any] | None = None, **args: Any) -> M:
        operation = OPERATIONS[name]
        body, _ = self._transport.request(name, "GET", operation.site_path(**args), params=_query(params or {}),
                                weight=operation.weight)
        return model.model_validate(body)

    def _list(self, pages: type[CursorPages | OffsetPages | SearchCursorPages], name: str, model: type[M],
              params: Mapping[str, Any] | None = None, **args: Any) -> Iterator[M]:
        path = OPERATIONS[name].site_path(**args)
        hosts = frozenset(urlsplit(url).netloc.lower() for url in (self.site_url, self.root_url))
        for item in pages(self._fetch(name), path, _query(params or {}), hosts=hosts):
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
        for batch in _batches((str(v) for v in values), size):
            yield from self._v2_list(name, model, {**params, key: batch})

    # -- spaces ------------------------------------------------------------------------------
    def spaces(self, *, ids: Iterable[str] | None = None, keys: Iterable[str] | None = None,
               type: str | None = None, status: str | None = None, labels: Iterable[str] | None = None,
               sort: str | None = None, description_format: str | None = None,
               include_icon: bool | None = None) -> Iterator[Space]:
        params = {"type": type, "status": status, "labels": labels and list(labels), "sort": sort,
                  "description-format": description_format, "include-icon": include_icon}
        if ids is not None:
            if keys is not None:
                params["keys"] = list(keys)
            return self._by_ids("getSpaces", Space, params, key="ids", values=ids, size=MAX_IDS)
        return self._by_ids("getSpaces", Space, params, key="keys", values=keys, size=MAX_IDS)

    def space(self, space_id: str, *, description_format: str | None = None,
              include: Iterable[str] = ()) -> Space:
        """One space; `include` names include-* flags (labels, properties, permissions, ...)."""
        params = {"description-format": description_format, **{f"include-{i}": True for i in include}}
        return self._get("getSpaceById", Space, params, id=space_id)

    def space_permissions(self, space_id: str) -> Iterator[SpacePermission]:
        return self._v2_list("getSpacePermissionsAssignments", SpacePermission, id=space_id)

    # -- pages and blog posts --------------------------------------------------------------------
    def pages(self, *, ids: Iterable[str] | None = None, space_ids: Iterable[str] | None = None,
              status: Iterable[str] | None = None, body_format: str | None = None, sort: str | None = None,
              title: str | None = None) -> Iterator[Page]:
        """Pages site-wide; `ids` (any number, 250 per call) or `space_ids` (100 per call) filter."""
        return self._content_list("getPages", Page, ids, space_ids, status, body_format, sort, title)

    def blogposts(self, *, ids: Iterable[str] | None = None, space_ids: Iterable[str] | None = None,
                  status: Iterable[str] | None = None, body_format: str | None = None,
                  sort: str | None = None, title: str | None = None) -> Iterator[BlogPost]:
        return self._content_list("getBlogPosts", BlogPost, ids, space_ids, status, body_format, sort, title)

    def _content_list(self, name: str, model: type[M], ids: Iterable[str] | None,
                      space_ids: Iterable[str] | None, status: Iterable[str] | None, body_format: str | None,
                      sort: str | None, title: str | None) -> Iterator[M]:
        params = {"status": status and list(status), "body-format": body_format, "sort": sort, "title": title}
        if ids is not None:
            if space_ids is not None:
                params["space-id"] = list(space_ids)
            return self._by_ids(name, model, params, key="id", values=ids, size=MAX_IDS)
        return self._by_ids(name, model, params, key="space-id", values=space_ids, size=MAX_SPACE_IDS)

    def pages_in_space(self, space_id: str, *, depth: str | None = None, status: Iterable[str] | None = None,
                       body_format: str | None = None, sort: str | None = None,
                       title: str | None = None) -> Iterator[Page]:
        params = {"depth": depth, "status": status and list(status), "body-format": body_format, "sort": sort,
                  "title": title}
        return self._v2_list("getPagesInSpace", Page, params, id=space_id)

    def blogposts_in_space(self, space_id: str, *, status: Iterable[str] | None = None,
                           body_format: str | None = None, sort: str | None = None,
                           title: str | None = None) -> Iterator[BlogPost]:
        params = {"status": status and list(status), "body-format": body_format, "sort": sort, "title": title}
        return self._v2_list("getBlogPostsInSpace", BlogPost, params, id=space_id)

    def page(self, page_id: str, *, body_format: str | None = None, status: str | None = None,
             version: int | None = None, include: Iterable[str] = ()) -> Page:
        """One page; `include` names include-* flags (labels, properties, versions, ...)."""
        params = {"body-format": body_format, "status": status, "version": version,
                  **{f"include-{i}": True for i in include}}
        return self._get("getPageById", Page, params, id=page_id)

    def blogpost(self, blogpost_id: str, *, body_format: str | None = None, status: str | None = None,
                 version: int | None = None, include: Iterable[str] = ()) -> BlogPost:
        params = {"body-format": body_format, "status": status, "version": version,
                  **{f"include-{i}": True for i in include}}
        return self._get("getBlogPostById", BlogPost, params, id=blogpost_id)

    def versions(self, kind: str, content_id: str, *, body_format: str | None = None,
                 sort: str | None = None) -> Iterator[Version]:
        """Versions of a page or blog post (`kind`)."""
        params = {"body-format": body_format, "sort": sort}
        return self._v2_list(operation_for("versions", kind), Version, params, id=content_id)

    def labels_of(self, kind: str, content_id: str, *, prefix: str | None = None) -> Iterator[Label]:
        """Labels of a page, blog post or space (`kind`)."""
        return self._v2_list(operation_for("labels", kind), Label, {"prefix": prefix}, id=content_id)

    def properties_of(self, kind: str, content_id: str, *,
                      key: str | None = None) -> Iterator[ContentProperty]:
        """Content properties of a page or blog post (`kind`)."""
        name = operation_for("properties", kind)
        return self._v2_list(name, ContentProperty, {"key": key}, **{ID_NAME[name]: content_id})

    # -- the page tree ---------------------------------------------------------------------------
    def ancestors(self, kind: str, content_id: str) -> list[Ancestor]:
        """Ancestors of a page or folder, top first (the endpoint has no cursor: it is asked again
        from the highest ancestor found while a full page comes back)."""
        chain: list[Ancestor] = []
        while True:
            name = operation_for("ancestors", kind)
            body, _ = self._transport.request(name, "GET", OPERATIONS[name].site_path(id=content_id),
                                    params={"limit": V2_LIMIT})
            batch = [Ancestor.model_validate(item) for item in body.get("results") or []]
            chain = batch + chain
            if len(batch) < V2_LIMIT:
                return chain
            kind, content_id = batch[0].type or kind, batch[0].id

    def descendants(self, kind: str, content_id: str, *, depth: int | None = None) -> Iterator[Descendant]:
        """Items below a page or folder (pages, folders, ...), `depth` levels deep (API default 2, max 10)."""
        return self._v2_list(operation_for("descendants", kind), Descendant, {"depth": depth}, id=content_id)

    def direct_children(self, kind: str, content_id: str, *,
                        sort: str | None = None) -> Iterator[DirectChild]:
        return self._v2_list(operation_for("children", kind), DirectChild, {"sort": sort}, id=content_id)

    def folder(self, folder_id: str, *, include: Iterable[str] = ()) -> Folder:
        return self._get("getFolderById", Folder, {f"include-{i}": True for i in include}, id=folder_id)

    # -- comments -------------------------------------------------------------------------------
    def footer_comments(self, *, body_format: str | None = None,
                        sort: str | None = None) -> Iterator[FooterComment]:
        """Every footer comment of the site, replies included (with `parentCommentId`)."""
        return self._v2_list("getFooterComments", FooterComment, {"body-format": body_format, "sort": sort})

    def inline_comments(self, *, body_format: str | None = None,
                        sort: str | None = None) -> Iterator[InlineComment]:
        return self._v2_list("getInlineComments", InlineComment, {"body-format": body_format, "sort": sort})

    def footer_comments_of(self, kind: str, content_id: str, *, body_format: str | None = None,
                           status: Iterable[str] | None = None,
                           sort: str | None = None) -> Iterator[FooterComment]:
        """Root footer comments of a page or blog post (replies come from `comment_replies`)."""
        params = {"body-format": body_format, "status": status and list(status), "sort": sort}
        return self._v2_list(operation_for("footer", kind), FooterComment, params, id=content_id)

    def inline_comments_of(self, kind: str, content_id: str, *, body_format: str | None = None,
                           status: Iterable[str] | None = None, sort: str | None = None,
                           resolution_status: Iterable[str] | None = None) -> Iterator[InlineComment]:
        params = {"body-format": body_format, "status": status and list(status), "sort": sort,
                  "resolution-status": resolution_status and list(resolution_status)}
        return self._v2_list(operation_for("inline", kind), InlineComment, params, id=content_id)

    def comment_replies(self, comment_kind: str, comment_id: str, *, body_format: str | None = None,
                        sort: str | None = None) -> Iterator[FooterComment | InlineComment]:
        """Replies to a footer or inline comment (`comment_kind`)."""
        model = FooterComment if comment_kind == "footer" else InlineComment
        return self._v2_list(operation_for("replies", comment_kind), model,
                             {"body-format": body_format, "sort": sort}, id=comment_id)

    def comment(self, comment_kind: str, comment_id: str) -> FooterComment | InlineComment:
        """One footer or inline comment (`comment_kind`), whatever its status."""
        if comment_kind == "footer":
            return self._get("getFooterCommentById", FooterComment, **{"comment-id": comment_id})
        return self._get("getInlineCommentById", InlineComment, **{"comment-id": comment_id})

    # -- attachments ---------------------------------------------------------------------------
    def attachments(self, *, status: Iterable[str] | None = None, media_type: str | None = None,
                    filename: str | None = None, sort: str | None = None) -> Iterator[Attachment]:
        params = {"status": status and list(status), "mediaType": media_type, "filename": filename,
                  "sort": sort}
        return self._v2_list("getAttachments", Attachment, params)

    def attachments_of(self, kind: str, content_id: str, *, status: Iterable[str] | None = None,
                       media_type: str | None = None, filename: str | None = None,
                       sort: str | None = None) -> Iterator[Attachment]:
        params = {"status": status and list(status), "mediaType": media_type, "filename": filename,
                  "sort": sort}
        return self._v2_list(operation_for("attachments", kind), Attachment, params, id=content_id)

    def attachment(self, attachment_id: str) -> Attachment:
        return self._get("getAttachmentById", Attachment, id=attachment_id)

    def download_attachment(self, container_id: str, attachment_id: str, dest: str | os.PathLike[str], *,
                            version: int | None = None, status: str | None = None,
                            max_bytes: int = DEFAULT_MAX_DOWNLOAD) -> int:
        """Save an attachment's bytes to `dest` (atomically); returns the size. `status`: the
        attachment's (the operation looks for a current one unless told, so archived files need it).

        Uses v1's download operation, which answers 302 to the file; the hop is followed with the
        same auth when it stays on the site (relative, or absolute on the site or gateway host),
        and without it elsewhere (a pre-signed media URL must not receive our token).
        Raises `TooLarge` (keeping nothing) past `max_bytes`.
        """
        name = "downloadAttatchment"
        path = OPERATIONS[name].site_path(id=container_id, attachmentId=attachment_id)
        _, response = self._transport.request(name, "GET", path, params=_query({"version": version, "status": status}),
                                    allow_redirects=False, consume=lambda r: None)
        if not response.is_redirect:
            raise ApiError(f"Confluence answered the download of attachment {attachment_id} with "
                           f"{response.status_code} instead of a redirect to the file: please report it",
                           status=response.status_code, url=response.url)
        target, same_site = redirect_target(response.headers["Location"], self.site_url, self.root_url)
        destination = Path(dest)
        size, _ = self._transport.request(DOWNLOAD_HOP, "GET", target, stream=True, authenticate=same_site,
                                consume=lambda r: save(r, destination, max_bytes, attachment_id,
                                                                 self._transport.stopped))
        return size

    # -- labels and users -------------------------------------------------------------------------
    def labels(self, *, label_ids: Iterable[str] | None = None, prefixes: Iterable[str] | None = None,
               sort: str | None = None) -> Iterator[Label]:
        params = {"label-id": label_ids and list(label_ids), "prefix": prefixes and list(prefixes),
                  "sort": sort}
        return self._v2_list("getLabels", Label, params)

    def users(self, account_ids: Iterable[str]) -> Iterator[User]:
        """Users by account id via v2 users-bulk, 250 per call; unknown ids are simply absent."""
        name = "createBulkUserLookup"
        operation = OPERATIONS[name]
        for batch in _batches(dict.fromkeys(account_ids), MAX_IDS):
            body, _ = self._transport.request(name, "POST", operation.site_path(), json={"accountIds": batch},
                                    weight=operation.weight)
            for item in body.get("results") or []:
                yield User.model_validate(item)

    def current_user(self) -> UserV1:
        """The account these credentials act as (in OAuth mode, the user who granted the token)."""
        return self._get("getCurrentUser", UserV1)

    def users_v1(self, account_ids: Iterable[str]) -> Iterator[UserV1]:
        """Users by account id via v1 user/bulk, 100 per call (it drops ids beyond 100)."""
        name = "getBulkUserLookup"
        operation = OPERATIONS[name]
        for batch in _batches(dict.fromkeys(account_ids), MAX_V1_USERS):
            body, _ = self._transport.request(name, "GET", operation.site_path(), params={"accountId": ",".join(batch)},
                                    weight=operation.weight)
            for item in body.get("results") or []:
                yield UserV1.model_validate(item)

    # -- v1: CQL search, restrictions, groups, audit --------------------------------------------------
    def search(self, cql: str, *, expand: Iterable[str] = (), limit: int = 100, excerpt: str | None = None,
               include_archived_spaces: bool | None = None,
               content_statuses: Iterable[str] | None = None) -> Iterator[SearchResult]:
        """CQL search (`/wiki/rest/api/search`), following its cursor. `content_statuses` widens
        what CQL sees (current only by default) through `cqlcontext`, e.g. to archived pages."""
        cqlcontext = json.dumps({"contentStatuses": list(content_statuses)}) if content_statuses else None
        params = {"cql": cql, "expand": list(expand), "limit": limit, "excerpt": excerpt,
                  "includeArchivedSpaces": include_archived_spaces, "cqlcontext": cqlcontext}
        return self._list(SearchCursorPages, "searchByCQL", SearchResult, params)

    def search_count(self, cql: str, *, include_archived_spaces: bool | None = None,
                     content_statuses: Iterable[str] | None = None) -> int:
        """How many results a CQL search has (its `totalSize`), in one call of one result."""
        cqlcontext = json.dumps({"contentStatuses": list(content_statuses)}) if content_statuses else None
        params = {"cql": cql, "limit": 1, "includeArchivedSpaces": include_archived_spaces, "cqlcontext": cqlcontext}
        body, _ = self._transport.request("searchByCQL", "GET", OPERATIONS["searchByCQL"].site_path(), params=_query(params),
                                weight=OPERATIONS["searchByCQL"].weight)
        return int(body["totalSize"])

    def search_content(self, cql: str, *, expand: Iterable[str] = (),
                       limit: int = 100) -> Iterator[ContentV1]:
        """CQL content search (`/wiki/rest/api/content/search`) with v1 `expand`."""
        return self._list(SearchCursorPages, "searchContentByCQL", ContentV1,
                          {"cql": cql, "expand": list(expand), "limit": limit})

    def restrictions_bulk(self, content_ids: Iterable[str]) -> Iterator[ContentV1]:
        """Read and update restrictions of many content items, 100 ids per CQL query.

        Each item's `restrictions.read` / `.update` is a `ContentRestriction`. Items the
        account cannot see are absent from the answer (the caller reports them).
        """
        for batch in _batches(dict.fromkeys(_numeric_id(i) for i in content_ids), RESTRICTION_BATCH):
            yield from self.search_content(f"id in ({','.join(batch)})", expand=RESTRICTION_EXPAND,
                                           limit=RESTRICTION_BATCH)

    def restrictions(self, content_id: str) -> list[ContentRestriction]:
        """Both operations' restrictions of one item (the first 100 users and groups of each)."""
        path = OPERATIONS["getRestrictions"].site_path(id=content_id)
        body, _ = self._transport.request("getRestrictions", "GET", path, weight=2,
                                params={"expand": "restrictions.user,restrictions.group"})
        return [ContentRestriction.model_validate(item) for item in body.get("results") or []]

    def restriction(self, content_id: str, operation: str, *, limit: int = 100) -> ContentRestriction:
        """One operation's restriction with every user and group (its lists page by start/limit)."""
        name = "getRestrictionsForOperation"
        path = OPERATIONS[name].site_path(id=content_id, operationKey=operation)
        users: list[UserV1] = []
        groups: list[Group] = []
        start = 0
        while True:
            body, _ = self._transport.request(name, "GET", path, weight=2, params={
                "expand": "restrictions.user,restrictions.group", "start": start, "limit": limit})
            page = ContentRestriction.model_validate(body)
            users += page.users
            groups += page.groups
            if len(page.users) < limit and len(page.groups) < limit:
                return ContentRestriction(operation=page.operation, restrictions=RestrictionPrincipals(
                    user=UserList(results=users, size=len(users)),
                    group=GroupList(results=groups, size=len(groups))))
            start += limit

    def groups(self, *, access_type: str | None = None) -> Iterator[Group]:
        return self._list(OffsetPages, "getGroups", Group, {"accessType": access_type, "limit": 200})

    def group_members(self, group_id: str) -> Iterator[UserV1]:
        return self._list(OffsetPages, "getGroupMembersByGroupId", UserV1, {"limit": 200}, groupId=group_id)

    def user_groups(self, account_id: str) -> Iterator[Group]:
        return self._list(OffsetPages, "getGroupMembershipsForUser", Group,
                          {"accountId": account_id, "limit": 200})

    def search_users(self, cql: str) -> Iterator[SearchResult]:
        """User search (`/wiki/rest/api/search/user`), e.g. `type = user` (up to 10k users)."""
        return self._list(OffsetPages, "searchUser", SearchResult, {"cql": cql, "limit": 200})

    def audit(self, *, start: datetime | None = None, end: datetime | None = None,
              search: str | None = None) -> Iterator[AuditRecord]:
        """Audit records between `start` and `end` (aware datetimes; sent as epoch ms). Needs admin."""
        params = {"startDate": start and _epoch_ms(start), "endDate": end and _epoch_ms(end),
                  "searchString": search, "limit": 1000}
        return self._list(OffsetPages, "getAuditRecords", AuditRecord, params)


def _numeric_id(content_id: str) -> str:
    value = str(content_id)
    value = value[3:] if value.startswith("att") else value
    if not value.isdigit():
        raise ValueError(f"{content_id!r} is not a Confluence content id (digits, or att + digits)")
    return value


def _epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no timezone: pass an aware datetime (e.g. in UTC)")
    return int(moment.timestamp() * 1000)
