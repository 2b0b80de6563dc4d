"""How the client sends one logical call to Confluence: session, auth, retries, pacing, counters.

`Transport` holds one pooled `requests.Session` (connect/read timeouts), the auth object, the
retry policy, the pacer, the throttle and the call counters; `request()` is the only way a call
goes out.

Failures. Idempotent calls (GET, and POST /users-bulk, a read) are retried on 429, 5xx and
lost connections per `RetryPolicy`, whose budgets are in time (`max_rate_limit_wait` for 429s,
`max_outage` for the rest); then a clear error from `failures.py` naming the budget and the setting.
A 429 also halves the `Throttle` that the client's threads share and holds them all until the
server's Retry-After, so parallel listings and downloads slow down together and then recover.
Under OAuth a 401 (or a 403/404 that a probe shows was an expired token, FACTS.md §11) renews
the token once and retries once. A 2xx body that is not JSON (a proxy's page, a cut answer) is
retried like an outage.

Counters. Every HTTP call is counted by operation (the spec's operationId), with the API points
it cost by Atlassian's model (1 per call, +1 per core object, +2 per identity object):
`stats()`, for Dagster metadata.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping

import orjson
import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from .auth import OAuthTokenAuth
from .errors import ApiError, redact_url
from .failures import (NETWORK_ERRORS, detail, error_for, exhausted, network_reason, not_json, scope_mismatch,
                       unreachable)
from .operations import READ_POSTS
from .ratelimit import Pacer, RetryPolicy, Stopped, Throttle
from .session import Session

log = logging.getLogger(__name__)

RETRY_CAUSES = ("rate_limited", "server_error", "no_answer")  # 429 | 5xx | no answer (dropped, refused, timed out)
LOG_EVERY = 30.0  # seconds of waiting between two log lines about one call


def _objects(body: Any) -> int:
    """How many objects an answer returned, for the points estimate."""
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        results = body.get("results")
        return len(results) if isinstance(results, list) else 1
    return 0


def json_body(response: requests.Response) -> Any:
    """An answer's JSON, decoded by orjson: a listing page of 250 items with their bodies is most
    of a megabyte, and each page's decoding stands between one call and the next. Raises
    requests' JSONDecodeError, as `Response.json` does."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise requests.exceptions.JSONDecodeError(exc.msg, exc.doc, exc.pos) from None


class _Retry(Exception):
    """A failed try that may be retried: its status (None: no answer) and headers."""

    def __init__(self, status: int | None, headers: Mapping[str, str], cause: str) -> None:
        super().__init__(cause)
        self.status = status
        self.headers = headers
        self.cause = cause


class Transport:
    """One site's connection: every call of a `ConfluenceClient` goes through `request()`."""

    def __init__(self, root_url: str, auth: AuthBase, *, retry: RetryPolicy | None = None,
                 pacer: Pacer | None = None, timeout: tuple[float, float] = (10.0, 60.0), pool_size: int = 10,
                 session: requests.Session | None = None) -> None:
        self.root_url = root_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.stopped = threading.Event()
        self.pacer = pacer or Pacer(sleep=self._wait, clock=self.retry.clock, max_pause=self.retry.max_rate_limit_wait)
        self.throttle = Throttle(pool_size, clock=self.retry.clock, sleep=self._wait)
        self._auth = auth
        self._session = session or Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._stats_lock = threading.Lock()
        self._calls: dict[str, int] = {}
        self._points: dict[str, int] = {}
        self._retries = dict.fromkeys(RETRY_CAUSES, 0)
        self._renewals = 0
        self._waited_for = {"rate_limit": 0.0, "outage": 0.0}

    def close(self) -> None:
        self._session.close()

    def stop(self) -> None:
        """End every wait of every thread at once and send no more requests (see `ConfluenceClient.stop`)."""
        self.stopped.set()
        self.throttle.stop()

    def _wait(self, seconds: float) -> None:
        """The retry policy's sleep, ended early by `stop()`."""
        if self.retry.sleep is time.sleep:  # real time: wait on the stop signal instead
            self.stopped.wait(seconds)
        else:
            self.retry.sleep(seconds)  # a test's clock
        if self.stopped.is_set():
            raise Stopped("the client was stopped while waiting to retry")

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

    def request(self, name: str, method: str, target: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, consume: Callable[[requests.Response], Any] = json_body,
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
            if self.stopped.is_set():
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
