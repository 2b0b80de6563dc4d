"""The emulator's rate limits, API points and injected faults, as a state machine (no HTTP)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from confluence_pipeline.emulator.http import ServiceUnavailable, TooManyRequests
from confluence_pipeline.emulator.limits import Limits, LimitsConfig
from confluence_pipeline.emulator.model import Clock, Site
from confluence_pipeline.emulator.workspace import Workspace

NOON = datetime(2026, 3, 2, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def ws() -> Workspace:
    workspace = Workspace(Site("cloud-1", "acme", "https://acme.atlassian.net"), seed=1, scale=1)
    workspace.clock = Clock(NOON)
    return workspace


def _serve(limits: Limits, operation_id: str = "getPages", points: int = 0, *, oauth: bool = True) -> dict:
    headers = limits.before(operation_id, oauth=oauth)
    limits.after(operation_id, points, oauth=oauth)
    return headers


# -- burst ------------------------------------------------------------------------------------


def test_burst_limit_answers_429_with_retry_after(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig(burst_limit=5, burst_window_s=2.0))
    seen = [_serve(limits, oauth=False) for _ in range(5)]
    assert [h["X-RateLimit-Remaining"] for h in seen] == ["4", "3", "2", "1", "0"]
    assert seen[0]["X-RateLimit-Limit"] == "5" and seen[0]["X-RateLimit-NearLimit"] == "false"
    assert seen[-1]["X-RateLimit-NearLimit"] == "true"
    assert seen[0]["X-RateLimit-Reset"] == "2026-03-02T12:00:02Z"
    with pytest.raises(TooManyRequests) as err:
        limits.before("getPages", oauth=False)
    assert err.value.headers["Retry-After"] == "2"
    assert err.value.headers["X-RateLimit-Remaining"] == "0" and "RateLimit-Reason" in err.value.headers
    ws.clock.advance(2)
    assert limits.before("getPages", oauth=False)["X-RateLimit-Remaining"] == "4"


def test_no_burst_limit_means_no_burst_headers(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig())
    assert _serve(limits, oauth=False) == {}


# -- points -----------------------------------------------------------------------------------


def test_points_are_reported_in_beta_headers_when_not_enforced(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig())
    headers = _serve(limits, points=250)
    assert headers["Beta-RateLimit-Policy"] == '"global-app-quota";q=65000;w=3600'
    assert headers["Beta-RateLimit"] == '"global-app-quota";t=3600'
    assert "RateLimit" not in headers
    assert limits.stats()["points_this_hour"] == 251


def test_remaining_appears_past_80_percent(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig(points_per_hour=1000))
    _serve(limits, points=799)  # 800 used: exactly 80%
    assert "r=" not in limits.before("getPages", oauth=True)["RateLimit"]
    limits.after("getPages", 0, oauth=True)  # 801 used
    ws.clock.advance(50 * 60)
    headers = limits.before("getPages", oauth=True)
    assert headers["RateLimit-Policy"] == '"global-app-quota";q=1000;w=3600'
    assert headers["RateLimit"] == '"global-app-quota";r=199;t=600'


def test_api_token_traffic_draws_no_points(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig(points_per_hour=10))
    for _ in range(3):
        assert "RateLimit" not in _serve(limits, points=100, oauth=False)
    assert limits.stats()["points_this_hour"] == 0
    assert limits.stats()["total_points"] == 303


def test_exhausted_quota_blocks_until_the_next_utc_hour(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig(points_per_hour=100))
    _serve(limits, points=99)
    ws.clock.advance(40 * 60)
    for _ in range(2):  # no partial throttling: everything is blocked
        with pytest.raises(TooManyRequests) as err:
            limits.before("getSpaces", oauth=True)
        headers = err.value.headers
        assert headers["Retry-After"] == "1200"
        assert headers["RateLimit-Reason"] == "confluence-quota-global-based"
        assert headers["RateLimit"] == '"global-app-quota";r=0;t=1200'
        assert headers["X-RateLimit-Reset"] == "2026-03-02T13:00:00Z"
    assert _serve(limits, oauth=False) == {}, "API-token traffic is not subject to the quota"
    ws.clock.advance(20 * 60)
    assert limits.before("getSpaces", oauth=True)["RateLimit-Policy"] == '"global-app-quota";q=100;w=3600'
    assert limits.stats()["rejected"]["429"] == 2


def test_unenforced_quota_marks_would_be_limited_requests(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig(points_per_hour=100, enforce_points=False))
    _serve(limits, points=150)
    headers = limits.before("getPages", oauth=True)
    assert headers["Beta-Retry-After"] == "3600"
    assert headers["Beta-RateLimit"] == '"global-app-quota";r=0;t=3600'


# -- faults -----------------------------------------------------------------------------------


def test_storm_with_retry_after(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig())
    limits.set_faults(storm_429=2, storm_retry_after=3)
    for _ in range(2):
        with pytest.raises(TooManyRequests) as err:
            limits.before("getPages", oauth=True)
        assert err.value.headers["Retry-After"] == "3"
        assert "X-Failure-Category" not in err.value.headers
    assert "Beta-RateLimit-Policy" in limits.before("getPages", oauth=True)


def test_storm_without_retry_after_is_the_gateway_variant(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig())
    limits.set_faults(storm_429=1, storm_retry_after=None)
    with pytest.raises(TooManyRequests) as err:
        limits.before("getPages", oauth=True)
    assert "Retry-After" not in err.value.headers
    assert err.value.headers["X-Failure-Category"] == "FAILURE CLIENT RATE LIMITED"
    assert err.value.headers["X-RateLimit-Reset"] == "2026-03-02T12:00:01Z"


def _outcomes(limits: Limits, n: int) -> list[bool]:
    failed = []
    for _ in range(n):
        try:
            limits.before("getPages", oauth=False)
            failed.append(False)
        except ServiceUnavailable as err:
            assert err.headers == {"Retry-After": "4"}
            failed.append(True)
    return failed


def test_5xx_rate_is_deterministic_from_the_seed(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig())
    limits.set_faults(error_rate_5xx=0.3, error_5xx_retry_after=4, seed=7)
    first = _outcomes(limits, 200)
    limits.set_faults(error_rate_5xx=0.3, error_5xx_retry_after=4, seed=7)
    assert _outcomes(limits, 200) == first
    assert 30 < sum(first) < 90
    assert limits.stats()["rejected"]["503"] == 2 * sum(first)


def test_5xx_without_retry_after(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig())
    limits.set_faults(error_rate_5xx=1.0, error_5xx_retry_after=None)
    with pytest.raises(ServiceUnavailable) as err:
        limits.before("getPages", oauth=False)
    assert "Retry-After" not in err.value.headers


def test_drop_counter_and_latency(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig())
    limits.set_faults(drop_connections=2, latency_ms=250)
    assert [limits.should_drop() for _ in range(3)] == [True, True, False]
    assert limits.latency_s() == 0.25
    assert limits.stats()["rejected"]["dropped"] == 2
    limits.clear_faults()
    assert limits.latency_s() == 0 and limits.should_drop() is False


def test_bad_fault_settings_are_refused(ws: Workspace) -> None:
    with pytest.raises(ValueError, match="error_rate_5xx"):
        Limits(ws, LimitsConfig()).set_faults(error_rate_5xx=1.5)


# -- stats ------------------------------------------------------------------------------------


def test_stats_and_reset(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig())
    _serve(limits, "getPages", points=25)
    _serve(limits, "getPages", points=3)
    _serve(limits, "getSpaces", points=1, oauth=False)
    limits.set_faults(storm_429=1)
    with pytest.raises(TooManyRequests):
        limits.before("getSpaces", oauth=False)
    stats = limits.stats()
    assert stats["total_requests"] == 3 and stats["total_points"] == 26 + 4 + 2
    assert stats["by_operation"]["getPages"] == {"requests": 2, "points": 30, "rejected": 0}
    assert stats["by_operation"]["getSpaces"] == {"requests": 1, "points": 2, "rejected": 1}
    assert stats["rejected"] == {"429": 1, "503": 0, "dropped": 0, "bad_body": 0}
    assert stats["points_this_hour"] == 30
    limits.reset_stats()
    assert limits.stats() == {"total_requests": 0, "total_points": 0, "by_operation": {},
                              "rejected": {"429": 0, "503": 0, "dropped": 0, "bad_body": 0}, "points_this_hour": 30,
                              "received_requests": 0, "received": {}}


def test_counts_stay_exact_under_threads(ws: Workspace) -> None:
    limits = Limits(ws, LimitsConfig(burst_limit=10_000))
    def client() -> None:
        for _ in range(200):
            _serve(limits, points=1)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert limits.stats()["total_requests"] == 800 and limits.stats()["points_this_hour"] == 1600
    assert limits.before("getPages", oauth=True)["X-RateLimit-Remaining"] == str(10_000 - 801)
