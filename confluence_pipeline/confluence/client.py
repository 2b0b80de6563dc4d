"""The connector's one way of talking to Confluence Cloud.

`ConfluenceClient` holds one pooled `requests.Session` (connect/read timeouts), an auth object,
the retry policy, the pacer and the call counters. Its typed methods return models, and
generators for lists, so memory stays flat however long a listing is. Reads by id go in bulk
where the API allows (`id=` up to 250, `space-id=` up to 100, users-bulk 250, v1 user/bulk 100,
CQL `id in (...)` with restrictions expanded): callers never loop one call per object.

Hosts. API-token mode talks to the site: `{site_url}/wiki/api/v2/...`, `{site_url}/wiki/rest/api/...`.
OAuth talks to the gateway: `{api_url}/ex/confluence/{cloudId}/wiki/...`. Either way every
request is a site-relative path (`/wiki/...`) put behind `root_url`.

Failures. Idempotent calls (GET, and POST /users-bulk, a read) are retried on 429, 5xx and
lost connections per `RetryPolicy`, whose budgets are in time (`max_rate_limit_wait` for 429s,
`max_outage` for the rest); then a clear error from `failures.py` naming the budget and the setting.
A 429 also halves the `Throttle` that the client's threads share and holds them all until the
server's Retry-After, so parallel listings and downloads slow down together and then recover.
Under OAuth a 401 (or a 403/404 that a probe shows was an expired token, FACTS.md §11) renews
the token once and retries once. A 2xx body that is not JSON (a proxy's page, a cut answer) is
retried like an outage; a next link to another host is refused; a listed object that does not
parse is left out and kept for `take_skipped()`, so the caller can record it.

Counters. Every HTTP call is counted by operation (the spec's operationId), with the API points
it cost by Atlassian's model (1 per call, +1 per core object, +2 per identity object):
`stats()`, for Dagster metadata.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ValidationError
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from .auth import BasicTokenAuth, OAuthApp, OAuthTokenAuth
from .errors import ApiError, AuthError, TooLarge, check_site_url, redact_url
from .failures import (API_TOKENS_URL, NETWORK_ERRORS, detail, error_for, exhausted, network_reason, not_json,
                       scope_mismatch, unreachable)
from .models import (Ancestor, Attachment, AuditRecord, BlogPost, ContentProperty, ContentRestriction,
                     ContentV1, Descendant, DirectChild, Folder, FooterComment, Group, GroupList,
                     InlineComment, Label, Page, RestrictionPrincipals, SearchResult, Space, SpacePermission,
                     User, UserList, UserV1, Version)
from .operations import (DOWNLOAD_HOP, ID_NAME, MAX_IDS, MAX_SPACE_IDS, MAX_V1_USERS, OPERATIONS, READ_POSTS,
                         V2_LIMIT, operation_for)
from .pagination import CursorPages, Fetch, OffsetPages, SearchCursorPages, site_path
from .ratelimit import Pacer, RetryPolicy, Stopped, Throttle
from .tokens import TokenStore

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

RESTRICTION_BATCH = 100  # content ids per CQL `id in (...)` restriction read
DEFAULT_MAX_DOWNLOAD = 100 * 1024 * 1024
RETRY_CAUSES = ("rate_limited", "server_error", "no_answer")  # 429 | 5xx | no answer (dropped, refused, timed out)
LOG_EVERY = 30.0  # seconds of waiting between two log lines about one call
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


def _objects(body: Any) -> int:
    """How many objects an answer returned, for the points estimate."""
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        results = body.get("results")
        return len(results) if isinstance(results, list) else 1
    return 0


class _Retry(Exception):
    """A failed try that may be retried: its status (None: no answer) and headers."""

    def __init__(self, status: int | None, headers: Mapping[str, str], cause: str) -> None:
        super().__init__(cause)
        self.status = status
        self.headers = headers
        self.cause = cause


class ConfluenceClient:
    """Typed, paginated, rate-limit-aware reads of one Confluence Cloud site."""

    def __init__(self, root_url: str, auth: AuthBase, *, site_url: str | None = None,
                 retry: RetryPolicy | None = None, pacer: Pacer | None = None,
                 timeout: tuple[float, float] = (10.0, 60.0), pool_size: int = 10, page_size: int = V2_LIMIT,
                 session: requests.Session | None = None) -> None:
        if not 1 <= page_size <= V2_LIMIT:
            raise ValueError(f"page_size must be between 1 and {V2_LIMIT}, not {page_size}")
        self.root_url = root_url.rstrip("/")
        self.page_size = page_size  # items per v2 page: the API maximum unless a test wants more pages
        self.site_url = (site_url or root_url).rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._stop = threading.Event()
        self.pacer = pacer or Pacer(sleep=self._wait, clock=self.retry.clock, max_pause=self.retry.max_rate_limit_wait)
        self.throttle = Throttle(pool_size, clock=self.retry.clock, sleep=self._wait)
        self._auth = auth
        self._session = session or requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._stats_lock = threading.Lock()
        self._calls: dict[str, int] = {}
        self._points: dict[str, int] = {}
        self._retries = dict.fromkeys(RETRY_CAUSES, 0)
        self._renewals = 0
        self._waited_for = {"rate_limit": 0.0, "outage": 0.0}
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
        self._session.close()

    def stop(self) -> None:
        """End every wait (backoff, Retry-After, pacing, a free slot) of every thread using this client
        at once, and send no more requests: its step is being interrupted (the run cancelled), and the
        threads must not sit out a 30 s backoff first. Each raises `Stopped`."""
        self._stop.set()
        self.throttle.stop()

    def _wait(self, seconds: float) -> None:
        """The retry policy's sleep, ended early by `stop()`."""
        if self.retry.sleep is time.sleep:  # real time: wait on the stop signal instead
            self._stop.wait(seconds)
        else:
            self.retry.sleep(seconds)  # a test's clock
        if self._stop.is_set():
            raise Stopped("the client was stopped while waiting to retry")

    def __enter__(self) -> "ConfluenceClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- counters --------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Calls and estimated API points, in total and by operation; retries, renewals, waits."""
        with self._stats_lock:
            return {
                "calls": sum(self._calls.values()),
                "points": sum(self._points.values()),
                "retries": sum(self._retries.values()),
                "retries_by_cause": dict(self._retries),
                "token_renewals": self._renewals,
                "waited_seconds": round(sum(self._waited_for.values()), 3),
                "waited_rate_limit_seconds": round(self._waited_for["rate_limit"], 3),
                "waited_outage_seconds": round(self._waited_for["outage"], 3),
                "concurrency_limit": self.throttle.limit,
                "concurrency_lowest": self.throttle.lowest,
                "by_operation": {name: {"calls": calls, "points": self._points.get(name, 0)}
                                 for name, calls in sorted(self._calls.items())},
            }

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._calls.clear()
            self._points.clear()
            self._retries = dict.fromkeys(RETRY_CAUSES, 0)
            self._renewals = 0
            self._waited_for = {"rate_limit": 0.0, "outage": 0.0}

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self._calls[name] = self._calls.get(name, 0) + 1

    def _charge(self, name: str, points: int) -> None:
        with self._stats_lock:
            self._points[name] = self._points.get(name, 0) + points

    # -- one HTTP call, with retries ----------------------------------------------------------
    def _url(self, target: str) -> str:
        return target if "://" in target else self.root_url + target

    def _request(self, name: str, method: str, target: str, *, params: Mapping[str, Any] | None = None,
                 json: Any = None, consume: Callable[[requests.Response], Any] = lambda r: r.json(),
                 allow_redirects: bool = True, stream: bool = False, weight: int = 1,
                 authenticate: bool = True) -> tuple[Any, requests.Response]:
        """Send one logical call (retrying as the policy allows); returns (consumed body, response).

        `consume` reads the body inside the retry loop, so a connection lost mid-body is retried too.
        """
        url = self._url(target)
        idempotent = method == "GET" or name in READ_POSTS
        oauth = isinstance(self._auth, OAuthTokenAuth)
        renewed = False
        tries = 0
        rate_waited = 0.0  # this call's waits on 429s
        outage_since: float | None = None  # when this call first failed without a usable answer
        retries = {"rate_limit": 0, "outage": 0}
        while True:
            if self._stop.is_set():
                raise Stopped(f"the client was stopped before {name}")
            tries += 1
            self._note_wait(self.pacer.wait() + self.throttle.acquire())
            sent_at = self.retry.clock()
            try:
                response = self._session.request(method, url, params=params, json=json, timeout=self.timeout,
                                                 auth=self._auth if authenticate else None,
                                                 allow_redirects=allow_redirects, stream=stream)
                try:
                    self._count(name)
                    status = response.status_code
                    if status < 400:
                        try:
                            body = consume(response)
                        except requests.exceptions.JSONDecodeError:
                            # a proxy's HTML page, or a body cut short: a glitch until the budget says otherwise
                            if not idempotent:
                                raise ApiError(f"Confluence answered {name} with {not_json(response)}",
                                               status=status, url=response.url) from None
                            raise _Retry(status, {}, not_json(response)) from None
                        points = 1 + weight * (1 if stream else _objects(body))
                        self._charge(name, points)
                        self.pacer.observe(response.headers, points)
                        self.throttle.succeeded()
                        return body, response
                    if status != 429:  # a 429's wait is the retry policy's business
                        self.pacer.observe(response.headers)
                    if oauth and not renewed and self._token_rejected(response):
                        renewed = True
                        self._auth.renew(response.request)
                        with self._stats_lock:
                            self._renewals += 1
                        tries -= 1  # a renewal is not a retry
                        continue
                    if idempotent and (status == 429 or status >= 500):
                        raise _Retry(status, response.headers, f"{status} {detail(response)}".strip())
                    raise error_for(name, response, self._auth)
                finally:
                    if stream:
                        response.close()
            except NETWORK_ERRORS as exc:
                if not idempotent:
                    raise unreachable(name, url, exc) from None
                failure = _Retry(None, {}, network_reason(exc))
            except _Retry as retry:
                failure = retry
            finally:
                self.throttle.release()
            budget_name = "rate_limit" if failure.status == 429 else "outage"
            retries[budget_name] += 1  # backoff grows with the retries of this budget only
            delay = self.retry.delay(retries[budget_name], failure.status, failure.headers)
            if failure.status == 429:
                cause, spent, budget = "rate_limited", rate_waited, self.retry.max_rate_limit_wait
                self.throttle.rate_limited(delay)
            else:
                cause = "no_answer" if failure.status is None else "server_error"
                outage_since = sent_at if outage_since is None else outage_since
                spent, budget = self.retry.clock() - outage_since, self.retry.max_outage
            left = budget - spent
            if left <= 0 or (failure.status == 429 and delay > left):
                raise exhausted(name, url, failure.status, failure.cause, tries, spent, delay, self.retry)
            delay = min(delay, left)  # an outage gets one last try at the end of its budget
            # a line at the first retry of each budget, then one per 30 s of waiting: never silent for long
            crossed = int((spent + delay) // LOG_EVERY) > int(spent // LOG_EVERY)
            log.log(logging.WARNING if retries[budget_name] == 1 or crossed else logging.DEBUG,
                    "Confluence %s %s failed (%s); retry %d in %.1f s (%.0f s of the %.0f s %s budget so far)",
                    name, redact_url(url), failure.cause, tries, delay, spent, budget, budget_name.replace("_", "-"))
            self._wait(delay)
            if failure.status == 429:
                rate_waited += delay
            with self._stats_lock:
                self._retries[cause] += 1
                self._waited_for[budget_name] += delay

    def _note_wait(self, seconds: float) -> None:
        """Pacing and throttling before a request: waiting on the rate limit, but no retry."""
        if seconds:
            with self._stats_lock:
                self._waited_for["rate_limit"] += seconds

    def _token_rejected(self, response: requests.Response) -> bool:
        """Under OAuth: did this answer reject the access token (not the request)?"""
        if response.status_code == 401:
            return not scope_mismatch(response)
        if response.status_code in (403, 404):
            return self._auth.token_expired(response.request)
        return False

    # -- building blocks ---------------------------------------------------------------------
    def _fetch(self, name: str) -> Fetch:
        operation = OPERATIONS[name]

        def fetch(path: str, params: Mapping[str, Any] | None) -> tuple[Any, Mapping[str, str]]:
            body, response = self._request(name, operation.method, path, params=params,
                                           weight=operation.weight)
            return body, response.headers

        return fetch

    def _get(self, name: str, model: type[M], params: Mapping[str, Any] | None = None, **args: Any) -> M:
        operation = OPERATIONS[name]
        body, _ = self._request(name, "GET", operation.site_path(**args), params=_query(params or {}),
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
        with self._stats_lock:
            self._skipped.append(reason)

    def take_skipped(self) -> list[str]:
        """The objects left out of listings since the last call (each with why), and forget them."""
        with self._stats_lock:
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
            body, _ = self._request(name, "GET", OPERATIONS[name].site_path(id=content_id),
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
        _, response = self._request(name, "GET", path, params=_query({"version": version, "status": status}),
                                    allow_redirects=False, consume=lambda r: None)
        if not response.is_redirect:
            raise ApiError(f"Confluence answered the download of attachment {attachment_id} with "
                           f"{response.status_code} instead of a redirect to the file: please report it",
                           status=response.status_code, url=response.url)
        target, same_site = self._redirect_target(response.headers["Location"])
        destination = Path(dest)
        size, _ = self._request(DOWNLOAD_HOP, "GET", target, stream=True, authenticate=same_site,
                                consume=lambda r: _save(r, destination, max_bytes, attachment_id, self._stop))
        return size

    def _redirect_target(self, location: str) -> tuple[str, bool]:
        """Where a download redirect points: (site path or absolute URL, whether to send our auth)."""
        parts = urlsplit(location)
        if not parts.netloc:
            return site_path(location if location.startswith("/") else "/" + location), True
        ours = {urlsplit(self.site_url).netloc, urlsplit(self.root_url).netloc}
        if parts.netloc in ours and "/wiki/" in parts.path:
            return site_path(location), True
        return location, False

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
            body, _ = self._request(name, "POST", operation.site_path(), json={"accountIds": batch},
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
            body, _ = self._request(name, "GET", operation.site_path(), params={"accountId": ",".join(batch)},
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
        body, _ = self._request("searchByCQL", "GET", OPERATIONS["searchByCQL"].site_path(), params=_query(params),
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
        body, _ = self._request("getRestrictions", "GET", path, weight=2,
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
            body, _ = self._request(name, "GET", path, weight=2, params={
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


def _save(response: requests.Response, dest: Path, max_bytes: int, attachment_id: str,
          stop: threading.Event) -> int:
    """Stream a download to `dest` through a temporary file; nothing is left behind on failure, or
    when the client is stopped half-way (a 150 MB file does not hold a cancelled step up)."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"Attachment {attachment_id} is {int(declared)} bytes, over the {max_bytes}-byte "
                       "download cap: raise the cap to fetch it, or leave it out", url=response.url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.part")
    size = 0
    try:
        with open(partial, "wb") as handle:
            for chunk in response.iter_content(chunk_size=64 * 1024):
                if stop.is_set():
                    raise Stopped(f"the client was stopped while downloading attachment {attachment_id}")
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"Attachment {attachment_id} is over the {max_bytes}-byte download cap: "
                                   "raise the cap to fetch it, or leave it out", url=response.url)
                handle.write(chunk)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return size
