"""Retries, pacing and the errors past the budget, against the emulator's injected faults."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
import requests

from confluence_pipeline.confluence.auth import OAuthApp
from confluence_pipeline.confluence.client import ConfluenceClient
from confluence_pipeline.confluence.errors import ApiError, RateLimited, SiteUnreachable
from confluence_pipeline.confluence.login import login
from confluence_pipeline.confluence.ratelimit import Pacer, RetryPolicy, Stopped
from confluence_pipeline.confluence.tokens import TokenStore
from confluence_pipeline.emulator.app import Emulator
from confluence_pipeline.emulator.limits import LimitsConfig

EMAIL = "admin@example.com"
API_TOKEN = "fault-test-token"


class Sleeps:
    """An injected sleep that records the waits instead of waiting, and the clock they move."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.start = time.time()

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    def clock(self) -> float:
        return self.start + sum(self.waits)


@pytest.fixture(scope="module")
def emu():
    emulator = Emulator(seed=11, scale=200, api_token=API_TOKEN)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def _clear_faults(emu):
    emu.limits.clear_faults()
    emu.limits.reset_stats()
    yield
    emu.limits.clear_faults()


def _client(base_url: str, sleeps: Sleeps, **retry) -> ConfluenceClient:
    policy = RetryPolicy(sleep=sleeps, clock=sleeps.clock, random=lambda: 0.5, **retry)
    return ConfluenceClient.with_api_token(base_url, EMAIL, API_TOKEN, retry=policy, page_size=50,
                                           pacer=Pacer(sleep=Sleeps()))


@pytest.fixture
def expected_ids(emu) -> list[str]:
    return [p.id for p in ConfluenceClient.with_api_token(emu.base_url, EMAIL, API_TOKEN).pages()]


def test_429_storm_with_retry_after_waits_at_least_retry_after(emu, expected_ids):
    sleeps = Sleeps()
    client = _client(emu.base_url, sleeps)
    emu.limits.reset_stats()
    emu.limits.set_faults(storm_429=3, storm_retry_after=2)
    assert [p.id for p in client.pages()] == expected_ids
    assert len(sleeps.waits) == 3 and all(2.0 <= w <= 2.6 for w in sleeps.waits)
    assert client.stats()["retries"] == 3
    assert emu.limits.stats()["rejected"]["429"] == 3


def test_429_storm_without_retry_after_waits_for_the_reset_header(emu, expected_ids):
    # X-RateLimit-Reset is an absolute time: read it on the service's clock (the emulator's is its own)
    time_ = EmulatedTime(emu)
    policy = RetryPolicy(sleep=time_.sleep, random=lambda: 0.5, clock=time_.clock)
    client = ConfluenceClient.with_api_token(emu.base_url, EMAIL, API_TOKEN, retry=policy, page_size=50)
    emu.limits.set_faults(storm_429=3, storm_retry_after=None)
    assert [p.id for p in client.pages()] == expected_ids
    # the reset is under a second ahead; plain backoff would have waited 2, 4, 8 s
    assert client.stats()["retries"] == 3 and 0 < time_.slept < 4.5


def test_a_read_post_is_retried_too(emu, expected_ids):
    sleeps = Sleeps()
    client = _client(emu.base_url, sleeps)
    authors = {p.author_id for p in client.pages()}
    emu.limits.set_faults(storm_429=2)
    assert {u.account_id for u in client.users(authors)} == authors
    assert client.stats()["by_operation"]["createBulkUserLookup"]["calls"] == 3


def test_a_storm_of_40_429s_is_ridden_through_with_the_default_budget(emu, expected_ids):
    sleeps = Sleeps()
    client = _client(emu.base_url, sleeps)
    emu.limits.set_faults(storm_429=40, storm_retry_after=1)
    assert [p.id for p in client.pages()] == expected_ids
    stats = client.stats()
    assert stats["retries_by_cause"] == {"rate_limited": 40, "server_error": 0, "no_answer": 0}
    assert stats["waited_rate_limit_seconds"] >= 40 and stats["waited_outage_seconds"] == 0
    assert emu.limits.stats()["rejected"]["429"] == 40


def test_rate_limited_past_the_retry_budget(emu):
    sleeps = Sleeps()
    client = _client(emu.base_url, sleeps, max_rate_limit_wait=5.0)
    emu.limits.set_faults(storm_429=50)
    with pytest.raises(RateLimited) as err:
        list(client.spaces())
    message = str(err.value)
    assert "kept rate-limiting getSpaces (429): waited 5 s over 5 tries" in message
    assert "past the rate-limit budget of 5 s" in message and "Raise sync.max_rate_limit_wait" in message
    assert err.value.status == 429 and len(sleeps.waits) == 4 and sum(sleeps.waits) <= 5.0
    assert emu.limits.stats()["rejected"]["429"] == 5


def test_an_overlong_retry_after_stops_at_once(emu):
    sleeps = Sleeps()
    emu.limits.set_faults(storm_429=50, storm_retry_after=600)
    with pytest.raises(RateLimited, match="asks to wait 6[0-9][0-9] s more, past the rate-limit budget of 120 s"):
        list(_client(emu.base_url, sleeps, max_rate_limit_wait=120.0).spaces())
    assert sleeps.waits == []


def test_a_long_wait_is_logged_every_30_seconds(emu, expected_ids, caplog):
    sleeps = Sleeps()
    emu.limits.set_faults(storm_429=60, storm_retry_after=1)
    with caplog.at_level(logging.WARNING, logger="confluence_pipeline.confluence.transport"):
        assert [p.id for p in _client(emu.base_url, sleeps).pages()] == expected_ids
    lines = [r.getMessage() for r in caplog.records]
    # 60 retries of ~1.15 s: the first one, then one line per 30 s of waiting
    assert len(lines) == 3 and all("rate-limit budget so far" in line for line in lines)
    assert "(60 s of the 600 s rate-limit budget so far)" in lines[-1]


def test_5xx_are_retried_and_the_listing_is_complete(emu, expected_ids):
    sleeps = Sleeps()
    client = _client(emu.base_url, sleeps)
    emu.limits.set_faults(error_rate_5xx=0.3, seed=3)
    assert [p.id for p in client.pages()] == expected_ids
    assert client.stats()["retries"] == emu.limits.stats()["rejected"]["503"] > 0


def test_5xx_past_the_outage_budget(emu):
    sleeps = Sleeps()
    emu.limits.set_faults(error_rate_5xx=1.0)
    with pytest.raises(ApiError) as err:
        list(_client(emu.base_url, sleeps, max_outage=3.0).spaces())
    message = str(err.value)
    assert "kept failing getSpaces (503" in message and "status.atlassian.com" in message
    assert "past the outage budget of 3 s (raise sync.max_outage" in message
    assert err.value.status == 503 and sum(sleeps.waits) == pytest.approx(3.0)


def test_dropped_connections_are_retried(emu, expected_ids):
    client = _client(emu.base_url, Sleeps())
    emu.limits.set_faults(drop_connections=5)  # more than the old 5 tries allowed
    assert [p.id for p in client.pages()] == expected_ids
    assert client.stats()["retries_by_cause"]["no_answer"] == 5
    assert emu.limits.stats()["rejected"]["dropped"] == 5


def test_an_outage_after_a_long_429_storm_backs_off_from_the_first_step(emu, expected_ids):
    sleeps = Sleeps()
    emu.limits.set_faults(storm_429=10, storm_retry_after=1)

    def sleep(seconds: float) -> None:
        sleeps(seconds)
        if len(sleeps.waits) == 10:  # the storm is over; the site goes down for three requests
            emu.limits.set_faults(drop_connections=3)

    policy = RetryPolicy(sleep=sleep, clock=sleeps.clock, random=lambda: 0.5)
    client = ConfluenceClient.with_api_token(emu.base_url, EMAIL, API_TOKEN, retry=policy, page_size=50)
    assert [p.id for p in client.pages()] == expected_ids
    assert sleeps.waits[10:] == pytest.approx([2.0, 4.0, 8.0])  # not 30 s: the outage budget's own count
    stats = client.stats()
    assert stats["retries_by_cause"] == {"rate_limited": 10, "server_error": 0, "no_answer": 3}
    assert stats["waited_outage_seconds"] == pytest.approx(14.0)


def test_connections_dropped_past_the_budget(emu):
    emu.limits.set_faults(drop_connections=50)
    with pytest.raises(SiteUnreachable, match="Could not reach 127.0.0.1:[0-9]+ for getSpaces .*past the outage "
                                              "budget of 3 s .raise sync.max_outage"):
        list(_client(emu.base_url, Sleeps(), max_outage=3.0).spaces())


def test_site_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    sleeps = Sleeps()
    with pytest.raises(SiteUnreachable) as err:
        list(_client(f"http://127.0.0.1:{port}", sleeps, max_outage=10.0).spaces())
    message = str(err.value)
    assert f"Could not reach 127.0.0.1:{port}" in message and "Connection refused" in message
    assert "CONFLUENCE_SITE_URL" in message and "network" in message and "sync.max_outage" in message
    # exponential backoff (2, 4 s), then the rest of the 10 s budget for one last try
    assert err.value.status is None and sleeps.waits == pytest.approx([2.0, 4.0, 4.0], abs=0.01)


def test_a_slow_answer_times_out_and_is_retried(emu, expected_ids):
    client = ConfluenceClient.with_api_token(emu.base_url, EMAIL, API_TOKEN, timeout=(2.0, 0.2),
                                             retry=RetryPolicy(sleep=Sleeps()))
    emu.limits.set_faults(latency_ms=400)
    threading.Timer(0.5, emu.limits.clear_faults).start()  # the site recovers
    assert [p.id for p in client.pages()] == expected_ids
    assert client.stats()["retries"] >= 1


# -- pacing against the limits themselves (the emulator's clock stands in for time) -------------

class EmulatedTime:
    """Sleeping moves the emulator's clock; the client's clock reads it."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.slept = 0.0

    def clock(self) -> float:
        return self.emu.ws.clock.now().timestamp()

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.emu.ws.clock.advance(seconds)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_3lo_stays_within_the_hourly_points_quota_instead_of_hitting_429(tmp_path):
    redirect_uri = f"http://127.0.0.1:{_free_port()}/callback"
    emu = Emulator(seed=11, scale=200, redirect_uri=redirect_uri, auto_consent=True,
                   limits=LimitsConfig(points_per_hour=120))
    emu.start()
    try:
        def browser(url: str) -> None:
            def follow() -> None:
                location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
                requests.get(location, timeout=10)
            threading.Thread(target=follow, daemon=True).start()

        app = OAuthApp(emu.credentials["client_id"], emu.credentials["client_secret"],
                       redirect_uri=redirect_uri, auth_url=emu.base_url, api_url=emu.base_url)
        store = TokenStore(tmp_path / "tokens.json")
        login(app, store, browser=browser, timeout=20, say=lambda line: None)
        time_ = EmulatedTime(emu)
        policy = RetryPolicy(sleep=time_.sleep, clock=time_.clock)
        client = ConfluenceClient.with_oauth(store, app, retry=policy, page_size=25,
                                             pacer=Pacer(sleep=time_.sleep, clock=time_.clock))
        emu.limits.reset_stats()
        ids = [p.id for p in client.pages(body_format="storage")]
        served = emu.limits.stats()
        assert len(ids) > 150 and served["total_points"] > 120  # more than one hour's quota was needed
        assert served["rejected"]["429"] == 0  # yet the quota was never exceeded
        assert client.stats()["waited_seconds"] == pytest.approx(time_.slept, abs=1e-3) and time_.slept > 0  # stats round to ms
    finally:
        emu.stop()


def test_pacing_under_a_burst_limit_avoids_429(emu):
    burst = Emulator(emu.ws, api_token=API_TOKEN, limits=LimitsConfig(burst_limit=5, burst_window_s=2.0))
    burst.start()
    try:
        time_ = EmulatedTime(burst)
        policy = RetryPolicy(sleep=time_.sleep, clock=time_.clock)
        client = ConfluenceClient.with_api_token(burst.base_url, EMAIL, API_TOKEN, retry=policy, page_size=10,
                                                 pacer=Pacer(sleep=time_.sleep, clock=time_.clock))
        assert len(list(client.pages())) > 100
        assert burst.limits.stats()["rejected"]["429"] == 0 and time_.slept > 0
    finally:
        burst.stop()


def test_stop_ends_every_thread_s_retry_after_wait_at_once(emu):
    """A cancelled run stops its client: threads waiting out a 30 s Retry-After raise Stopped now."""
    client = ConfluenceClient.with_api_token(emu.base_url, EMAIL, API_TOKEN)
    emu.limits.set_faults(storm_429=10**6, storm_retry_after=30)
    outcomes: list[BaseException] = []

    def listing() -> None:
        try:
            list(client.spaces())
        except BaseException as exc:  # noqa: BLE001 - what the thread ended with is the point
            outcomes.append(exc)

    threads = [threading.Thread(target=listing) for _ in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while emu.limits.stats()["rejected"]["429"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # all three in their wait
    stopped_at = time.monotonic()
    client.stop()
    for thread in threads:
        thread.join(timeout=5)
    assert time.monotonic() - stopped_at < 5  # not the 30 s the server asked for
    assert len(outcomes) == 3 and all(isinstance(exc, Stopped) for exc in outcomes), outcomes
    with pytest.raises(Stopped):
        next(client.spaces())  # and no request is sent any more
