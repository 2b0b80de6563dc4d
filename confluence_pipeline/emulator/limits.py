"""Rate limits, API points, injected faults and request counts, with no HTTP in them.

The app calls, for each API request:
    if limits.should_drop(): close the connection, send nothing
    time.sleep(limits.latency_s())
    headers = limits.before(operation_id, oauth=...)   # may raise TooManyRequests / ServiceUnavailable
    ... the handler runs ...
    limits.after(operation_id, reply.points, oauth=...)

Rules (FACTS.md §6):
- Burst limit: at most `burst_limit` requests per `burst_window_s`, for all traffic. Answers
  `X-RateLimit-Limit/Remaining/Reset/NearLimit`; over the limit, 429 with Retry-After.
- Points: each request costs 1 + the objects it returns (the handler counts them). Only OAuth
  traffic draws on the app's hourly quota, which resets at the top of each UTC hour. With no
  `points_per_hour` the usage is reported against Atlassian's tier 1 (65,000) but never
  enforced. With a quota and `enforce_points`, an exhausted quota blocks every OAuth request
  until the hour turns (429, Retry-After, RateLimit-Reason confluence-quota-global-based) and
  the headers drop their `Beta-` prefix; without `enforce_points` the headers keep it and a
  request that would have been blocked carries `Beta-Retry-After` instead.
- Faults: a storm of N 429s (with Retry-After, or the gateway's variant without it), a
  seeded fraction of 503s with Retry-After, added latency, dropped connections, and N spoiled
  answers (`BAD_BODIES`).

All times come from the workspace clock, so tests and the admin API can advance time.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from .http import ServiceUnavailable, TooManyRequests
from .workspace import Workspace

TIER1_POINTS_PER_HOUR = 65000
POLICY = "global-app-quota"
QUOTA_REASON = "confluence-quota-global-based"
BURST_REASON = "confluence-burst-based"
NEAR_LIMIT_SHARE = 0.2  # X-RateLimit-NearLimit and the quota's `r` appear below 20% left


@dataclass
class LimitsConfig:
    burst_limit: int | None = None  # requests per burst window (None: unlimited)
    burst_window_s: float = 1.0
    points_per_hour: int | None = None  # None: tracked and reported against 65,000, not enforced
    enforce_points: bool = True


@dataclass
class _Faults:
    storm_429: int = 0
    storm_retry_after: int | None = 1
    error_rate_5xx: float = 0.0
    error_5xx_retry_after: int | None = 1
    latency_ms: int = 0
    drop_connections: int = 0
    bad_body: str | None = None  # one of BAD_BODIES: how the next answers are spoiled
    bad_body_count: int = 0  # how many answers (that the spoiling applies to) are spoiled
    bad_body_operation: str | None = None  # only this operation's answers (None: any)


# Answers spoiled after the handler ran, as proxies and broken services do (app.py applies them):
# malformed_json  the JSON body with its end mangled
# truncated       Content-Length as promised, half the body sent, then the connection closed
# html_200        a proxy's HTML login page with status 200
# foreign_next    a list whose next link points at another host
# invalid_timestamp  a list whose objects' timestamps are not dates
BAD_BODIES = ("malformed_json", "truncated", "html_200", "foreign_next", "invalid_timestamp")


def iso_seconds(ts: datetime) -> str:
    """X-RateLimit-Reset's format: ISO 8601 UTC to the second."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds_until(now: datetime, then: datetime) -> int:
    return max(1, math.ceil((then - now).total_seconds()))


class Limits:
    def __init__(self, ws: Workspace, config: LimitsConfig) -> None:
        self.ws = ws
        self.config = config
        self._lock = threading.Lock()
        self._faults = _Faults()
        self._random = random.Random(0)
        self._burst_start: datetime | None = None
        self._burst_count = 0
        self._hour_start: datetime | None = None
        self._points_used = 0  # OAuth points charged in the current UTC hour
        self.reset_stats()

    # -- per request -------------------------------------------------------------------------
    def before(self, operation_id: str, *, oauth: bool) -> dict[str, str]:
        """Admit a request or raise its 429/503; returns the rate-limit headers to send."""
        with self._lock:
            now = self.ws.clock.now()
            try:
                self._apply_faults(now)
                headers = self._admit_burst(now)
                if oauth:
                    headers.update(self._admit_points(now))
            except (TooManyRequests, ServiceUnavailable) as err:
                self._rejected[str(err.status)] += 1
                self._operation(operation_id)["rejected"] += 1
                raise
            return headers

    def after(self, operation_id: str, points: int, *, oauth: bool) -> None:
        """Charge a served request: 1 base point plus `points` for the objects it returned."""
        cost = 1 + points
        with self._lock:
            if oauth:
                self._roll_hour(self.ws.clock.now())
                self._points_used += cost
            self._total_requests += 1
            self._total_points += cost
            entry = self._operation(operation_id)
            entry["requests"] += 1
            entry["points"] += cost

    def should_drop(self) -> bool:
        """True when this request's connection must be closed without a response."""
        with self._lock:
            if self._faults.drop_connections <= 0:
                return False
            self._faults.drop_connections -= 1
            self._rejected["dropped"] += 1
            return True

    def latency_s(self) -> float:
        return self._faults.latency_ms / 1000

    # -- faults ------------------------------------------------------------------------------
    def set_faults(self, *, storm_429: int = 0, storm_retry_after: int | None = 1,
                   error_rate_5xx: float = 0.0, latency_ms: int = 0, drop_connections: int = 0,
                   error_5xx_retry_after: int | None = 1, seed: int = 0, bad_body: str | None = None,
                   bad_body_count: int = 1, bad_body_operation: str | None = None) -> None:
        """Replace the injected faults (counters start afresh; the 5xx draw restarts from `seed`)."""
        if not 0.0 <= error_rate_5xx <= 1.0:
            raise ValueError(f"error_rate_5xx must be between 0 and 1, not {error_rate_5xx}")
        if min(storm_429, latency_ms, drop_connections, bad_body_count) < 0:
            raise ValueError("storm_429, latency_ms, drop_connections and bad_body_count must not be negative")
        if bad_body is not None and bad_body not in BAD_BODIES:
            raise ValueError(f"bad_body must be one of {', '.join(BAD_BODIES)}, not {bad_body!r}")
        with self._lock:
            self._faults = _Faults(storm_429, storm_retry_after, error_rate_5xx, error_5xx_retry_after,
                                   latency_ms, drop_connections, bad_body, bad_body_count if bad_body else 0,
                                   bad_body_operation)
            self._random = random.Random(seed)

    def take_bad_body(self, operation_id: str, applies: Callable[[str], bool]) -> str | None:
        """The spoiling to apply to this answer, if any (`applies(kind)`: whether it can), counted."""
        with self._lock:
            faults = self._faults
            if faults.bad_body is None or faults.bad_body_count <= 0:
                return None
            if faults.bad_body_operation not in (None, operation_id) or not applies(faults.bad_body):
                return None
            faults.bad_body_count -= 1
            self._rejected["bad_body"] += 1
            return faults.bad_body

    def clear_faults(self) -> None:
        self.set_faults()

    def _apply_faults(self, now: datetime) -> None:
        faults = self._faults
        if faults.storm_429 > 0:
            faults.storm_429 -= 1
            if faults.storm_retry_after is None:  # the gateway's variant: no Retry-After
                raise TooManyRequests("Rate limited at the gateway: wait until X-RateLimit-Reset", headers={
                    "X-Failure-Category": "FAILURE CLIENT RATE LIMITED",
                    "X-RateLimit-Reset": iso_seconds(now + timedelta(seconds=1))})
            raise TooManyRequests("Rate limit exceeded: retry after Retry-After seconds", headers={
                "Retry-After": str(faults.storm_retry_after),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": iso_seconds(now + timedelta(seconds=faults.storm_retry_after)),
                "X-RateLimit-NearLimit": "true",
                "RateLimit-Reason": BURST_REASON})
        if faults.error_rate_5xx and self._random.random() < faults.error_rate_5xx:
            retry_after = faults.error_5xx_retry_after
            headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
            raise ServiceUnavailable("The service is temporarily unavailable: retry later", headers=headers)

    # -- burst -------------------------------------------------------------------------------
    def _admit_burst(self, now: datetime) -> dict[str, str]:
        limit = self.config.burst_limit
        if limit is None:
            return {}
        window = timedelta(seconds=self.config.burst_window_s)
        if self._burst_start is None or now >= self._burst_start + window:
            self._burst_start, self._burst_count = now, 0
        reset = self._burst_start + window
        if self._burst_count >= limit:
            raise TooManyRequests("Rate limit exceeded: retry after Retry-After seconds", headers={
                "Retry-After": str(_seconds_until(now, reset)),
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": iso_seconds(reset),
                "X-RateLimit-NearLimit": "true",
                "RateLimit-Reason": BURST_REASON})
        self._burst_count += 1
        remaining = limit - self._burst_count
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": iso_seconds(reset),
                "X-RateLimit-NearLimit": "true" if remaining < limit * NEAR_LIMIT_SHARE else "false"}

    # -- points ------------------------------------------------------------------------------
    def _roll_hour(self, now: datetime) -> datetime:
        hour = now.replace(minute=0, second=0, microsecond=0)
        if hour != self._hour_start:
            self._hour_start, self._points_used = hour, 0
        return hour

    def _admit_points(self, now: datetime) -> dict[str, str]:
        reset = self._roll_hour(now) + timedelta(hours=1)
        quota = self.config.points_per_hour or TIER1_POINTS_PER_HOUR
        enforced = self.config.points_per_hour is not None and self.config.enforce_points
        remaining = max(quota - self._points_used, 0)
        seconds_left = _seconds_until(now, reset)
        prefix = "" if enforced else "Beta-"
        state = f'"{POLICY}";t={seconds_left}'
        if self._points_used > quota * (1 - NEAR_LIMIT_SHARE):
            state = f'"{POLICY}";r={remaining};t={seconds_left}'
        headers = {f"{prefix}RateLimit-Policy": f'"{POLICY}";q={quota};w=3600', f"{prefix}RateLimit": state}
        if self.config.points_per_hour is None or remaining > 0:
            return headers
        if not enforced:
            headers["Beta-Retry-After"] = str(seconds_left)
            return headers
        headers.update({"Retry-After": str(seconds_left), "RateLimit-Reason": QUOTA_REASON,
                        "X-RateLimit-Reset": iso_seconds(reset)})
        raise TooManyRequests("The app's hourly points quota is used up: wait for the next UTC hour",
                              headers=headers)

    # -- stats -------------------------------------------------------------------------------
    def _operation(self, operation_id: str) -> dict[str, int]:
        return self._by_operation.setdefault(operation_id, {"requests": 0, "points": 0, "rejected": 0})

    def count_received(self, operation_id: str, status: int) -> None:
        """Count an API request whatever its answer: routing 404s, 401/403, 410 and 429 too."""
        with self._lock:
            self._received_total += 1
            by_status = self._received.setdefault(operation_id, {})
            by_status[str(status)] = by_status.get(str(status), 0) + 1

    def stats(self) -> dict:
        """Requests and points served since the last reset, rejections, this hour's OAuth points,
        and every request received (`received`: operation -> status -> count), as real rate
        limiting counts them."""
        with self._lock:
            self._roll_hour(self.ws.clock.now())
            return {"total_requests": self._total_requests, "total_points": self._total_points,
                    "by_operation": {op: dict(entry) for op, entry in self._by_operation.items()},
                    "rejected": dict(self._rejected),
                    "points_this_hour": self._points_used,
                    "received_requests": self._received_total,
                    "received": {op: dict(by_status) for op, by_status in self._received.items()}}

    def reset_stats(self) -> None:
        """Zero the counters; the burst window and the points quota are untouched."""
        with self._lock:
            self._total_requests = 0
            self._total_points = 0
            self._by_operation: dict[str, dict[str, int]] = {}
            self._rejected = {"429": 0, "503": 0, "dropped": 0, "bad_body": 0}
            self._received_total = 0
            self._received: dict[str, dict[str, int]] = {}
