"""Retry policy and pacing for Confluence Cloud's rate limits (FACTS.md §6).

`RetryPolicy` decides how long to wait before retrying a failed idempotent call: the server's
`Retry-After` (or, on a gateway 429 without it, `X-RateLimit-Reset`) is the minimum, otherwise
exponential backoff with a 0.7–1.3 jitter; bounded in time, separately for 429s
(`max_rate_limit_wait`) and for outages (`max_outage`). `Throttle` is the concurrency limit the
client's threads share: it halves on a 429 and climbs back on success. `Pacer` reads the
rate-limit headers of every answer and slows the next requests down before a limit is hit: the
burst headers (`X-RateLimit-Remaining`, `-Reset`, `-NearLimit`) and the hourly points quota
(`RateLimit`/`Beta-RateLimit` with `r=` remaining and `t=` seconds to reset, `RateLimit-Policy`
with `q=`). Under 3LO that keeps a sync inside its hourly budget instead of running into "all
requests blocked until reset".

All take their `sleep`, `clock` and `random` as arguments, so tests never wait. A client that is
stopped (its run cancelled) ends its waits at once and raises `Stopped` in every thread.
"""

from __future__ import annotations

import random as _random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping

from .errors import RateLimited


class Stopped(Exception):
    """The client was stopped (its run is being cancelled): a wait ended early, no request is sent."""


NEAR_LIMIT_SHARE = 0.2  # Atlassian flags "near limit" below 20% left; pace from there on
RESET_PAD = 1.0  # X-RateLimit-Reset has whole seconds (or minutes): wait a little past it


def retry_after_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """`Retry-After` in seconds (it may be a number or an HTTP date), or None."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def reset_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until `X-RateLimit-Reset` (ISO 8601, with or without seconds), or None."""
    value = headers.get("X-RateLimit-Reset")
    if not value:
        return None
    try:
        reset = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if reset.tzinfo is None:
        reset = reset.replace(tzinfo=timezone.utc)
    return max(0.0, reset.timestamp() - now)


def _structured_entries(value: str) -> list[dict[str, str]]:
    """`"global-app-quota";r=11000;t=600, "tenant-app-quota";q=5` → [{"name":..., "r":..., ...}]."""
    entries = []
    for item in value.split(","):
        parts = [p.strip() for p in item.split(";") if p.strip()]
        if not parts:
            continue
        entry = {"name": parts[0].strip('"')}
        for part in parts[1:]:
            key, _, val = part.partition("=")
            entry[key.strip()] = val.strip().strip('"')
        entries.append(entry)
    return entries


def _number(entry: Mapping[str, str], key: str) -> float | None:
    try:
        return float(entry[key])
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class PointsState:
    remaining: float | None  # None: Atlassian sends r= only past ~80% use
    reset_in: float | None
    quota: float | None


def points_state(headers: Mapping[str, str]) -> PointsState | None:
    """The tightest points quota the headers report (entries in any number and order)."""
    state = headers.get("RateLimit") or headers.get("Beta-RateLimit")
    policy = headers.get("RateLimit-Policy") or headers.get("Beta-RateLimit-Policy")
    if not state and not policy:
        return None
    entries = _structured_entries(state or "")
    quotas = {e["name"]: _number(e, "q") for e in _structured_entries(policy or "")}
    with_remaining = [e for e in entries if _number(e, "r") is not None]
    if with_remaining:
        tightest = min(with_remaining, key=lambda e: _number(e, "r"))
    elif entries:
        tightest = entries[0]
    else:
        return PointsState(None, None, min((q for q in quotas.values() if q), default=None))
    return PointsState(_number(tightest, "r"), _number(tightest, "t"), quotas.get(tightest["name"]))


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep retrying one idempotent call: a budget in time, per cause of failure.

    429s are waited out (Retry-After, else X-RateLimit-Reset) for up to `max_rate_limit_wait`
    seconds of waiting in all; transient failures (5xx, no answer, timeouts) back off
    exponentially with jitter for up to `max_outage` seconds from the call's first such failure.
    """

    max_rate_limit_wait: float = 600.0  # sync.max_rate_limit_wait
    max_outage: float = 300.0  # sync.max_outage
    base_delay: float = 2.0  # first backoff step, doubled per retry
    max_delay: float = 30.0  # cap of one backoff step
    jitter: tuple[float, float] = (0.7, 1.3)
    random: Callable[[], float] = field(default=_random.random, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def delay(self, retry: int, status: int | None, headers: Mapping[str, str]) -> float:
        """Seconds to wait before retry number `retry` (1-based) after `status` (None: no answer)."""
        now = self.clock()
        asked = retry_after_seconds(headers, now)
        if asked is None and status == 429:
            asked = reset_seconds(headers, now)
        if asked is not None:
            # never before the server's time; spread the herd a little after it
            return asked * (1.0 + (self.jitter[1] - 1.0) * self.random())
        step = min(self.base_delay * 2 ** (retry - 1), self.max_delay)
        low, high = self.jitter
        return step * (low + (high - low) * self.random())


class Throttle:
    """How many requests the client's threads may have in flight, shared by all of them.

    Additive increase, multiplicative decrease: each 429 halves the limit (at most once per
    `cooldown` seconds, so one burst of 429s counts once) and pushes a shared "not before" time
    to when the server said to come back, so the other threads hold off instead of each
    collecting its own 429; every success adds 1/limit, so the limit climbs back by one per
    round of successes.
    """

    def __init__(self, limit: int, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, cooldown: float = 1.0) -> None:
        self.max_limit = max(1, limit)
        self._limit = float(self.max_limit)
        self.lowest = self.max_limit
        self._clock = clock
        self._sleep = sleep
        self._cooldown = cooldown
        self._cond = threading.Condition()
        self._in_flight = 0
        self._not_before = 0.0
        self._last_decrease = float("-inf")
        self._stopped = False

    @property
    def limit(self) -> int:
        return int(self._limit)

    def acquire(self) -> float:
        """Wait for a free slot and for the shared "not before" time; returns the seconds slept."""
        with self._cond:
            while self._in_flight >= int(self._limit) and not self._stopped:
                self._cond.wait()
            if self._stopped:
                raise Stopped("the client was stopped while waiting for a free request slot")
            self._in_flight += 1
        pause = self._not_before - self._clock()
        if pause > 0.001:  # under a millisecond is clock noise
            try:
                self._sleep(pause)
            except BaseException:
                self.release()
                raise
            return pause
        return 0.0

    def stop(self) -> None:
        """Wake every thread waiting for a slot: they raise `Stopped`."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def succeeded(self) -> None:
        with self._cond:
            if self._limit < self.max_limit:
                self._limit = min(self.max_limit, self._limit + 1.0 / self._limit)
                self._cond.notify_all()

    def rate_limited(self, retry_in: float) -> None:
        now = self._clock()
        with self._cond:
            self._not_before = max(self._not_before, now + retry_in)
            if now - self._last_decrease >= self._cooldown:
                self._last_decrease = now
                self._limit = max(1.0, self._limit / 2)
                self.lowest = min(self.lowest, int(self._limit))


class Pacer:
    """Spaces requests out when the last answer said a limit is near.

    `observe` is fed every answer's headers and what the call cost in points; `wait` sleeps
    as long as needed before the next request (and returns how long it slept).
    """

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 max_pause: float = 3600.0) -> None:
        self._sleep = sleep
        self._clock = clock
        self.max_pause = max_pause
        self._lock = threading.Lock()
        self._last_request = 0.0
        self._burst: tuple[float, float, bool] | None = None  # remaining, reset at, near limit
        self._points: tuple[float, float, float | None] | None = None  # remaining, reset at, quota
        self._cost: float | None = None  # running mean of the points one call costs

    def observe(self, headers: Mapping[str, str], cost: float | None = None) -> None:
        now = self._clock()
        with self._lock:
            if cost is not None and cost > 0:
                self._cost = cost if self._cost is None else 0.8 * self._cost + 0.2 * cost
            remaining = headers.get("X-RateLimit-Remaining")
            reset_in = reset_seconds(headers, now)
            if remaining is not None and reset_in is not None:
                try:
                    near = headers.get("X-RateLimit-NearLimit", "").lower() == "true"
                    self._burst = (float(remaining), now + reset_in, near)
                except ValueError:
                    self._burst = None
            points = points_state(headers)
            if points is not None and points.remaining is not None and points.reset_in is not None:
                self._points = (points.remaining, now + points.reset_in, points.quota)
            elif points is not None:
                self._points = None  # no r=: comfortably under the quota

    def wait(self) -> float:
        with self._lock:
            now = self._clock()
            pause = max(self._burst_pause(now), self._points_pause(now))
            if pause > self.max_pause:
                raise RateLimited(
                    f"Confluence's rate limit (the hourly API points quota or the burst limit) resets in "
                    f"{pause:.0f} s, longer than this client may pause ({self.max_pause:.0f} s): raise "
                    "sync.max_rate_limit_wait in confluence.yaml to wait for it, run the sync again after the "
                    "reset, spread syncs across the hour, or ask Atlassian for the per-tenant quota tier")
            self._last_request = now + pause
        if pause > 0:
            self._sleep(pause)
        return pause

    def _burst_pause(self, now: float) -> float:
        self._burst = _unexpired(self._burst, now)
        if self._burst is None:
            return 0.0
        remaining, reset_at, near = self._burst
        if remaining <= 0:
            return reset_at - now + RESET_PAD
        if not near:
            return 0.0
        return max(0.0, self._last_request + (reset_at - now) / remaining - now)

    def _points_pause(self, now: float) -> float:
        self._points = _unexpired(self._points, now)
        if self._points is None:
            return 0.0
        remaining, reset_at, quota = self._points
        calls_left = remaining / max(self._cost or 1.0, 1.0)
        if calls_left < 2:
            return reset_at - now  # keep one call in reserve: costs vary; wait for the new hour
        if quota is not None and remaining > quota * NEAR_LIMIT_SHARE:
            return 0.0
        return max(0.0, self._last_request + (reset_at - now) / calls_left - now)


def _unexpired(window: tuple[float, float, Any] | None, now: float) -> tuple[float, float, Any] | None:
    """A (remaining, reset_at, ...) budget, or None once its reset time has passed."""
    return window if window is not None and now < window[1] else None
