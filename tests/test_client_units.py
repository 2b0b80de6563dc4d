"""Client pieces that need no server: models, retry and pacing arithmetic, links, URLs, the token file."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest

from confluence_pipeline.confluence.errors import RateLimited, ReauthorizeRequired, redact_url
from confluence_pipeline.confluence.models import AuditRecord, ContentV1, FooterComment, Page, Space
from confluence_pipeline.confluence.pagination import CursorPages, OffsetPages, SearchCursorPages, site_path
from confluence_pipeline.confluence.ratelimit import (Pacer, RetryPolicy, points_state, reset_seconds,
                                                     retry_after_seconds)
from confluence_pipeline.confluence.tokens import TokenSet, TokenStore

UTC = timezone.utc
QUOTA = '"global-app-quota";q=65000;w=3600'


# -- models ----------------------------------------------------------------------------------

def test_page_parses_both_timestamp_forms_to_aware_utc_and_keeps_unknown_fields():
    page = Page.model_validate({
        "id": 7700526, "status": "current", "title": "T", "spaceId": 98306, "parentId": None,
        "createdAt": "2023-12-12T07:25:30.563Z", "sourceTemplateEntityId": "blueprint",
        "version": {"number": 3, "createdAt": "2026-05-27T07:09:12Z", "ncsStepVersion": "44",
                    "authorId": "a"},
        "body": {"storage": {"representation": "storage", "value": "<p>Hi</p>"}},
    })
    assert page.id == "7700526" and page.space_id == "98306"
    assert page.created_at == datetime(2023, 12, 12, 7, 25, 30, 563000, tzinfo=UTC)
    assert page.modified_at == datetime(2026, 5, 27, 7, 9, 12, tzinfo=UTC)
    assert page.storage == "<p>Hi</p>"
    assert page.model_extra["sourceTemplateEntityId"] == "blueprint"
    assert page.version.model_extra["ncsStepVersion"] == "44"


def test_offset_timestamps_become_utc():
    space = Space.model_validate({"id": "1", "key": "K", "createdAt": "2024-01-01T12:00:00+02:00"})
    assert space.created_at == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert space.created_at.utcoffset() == timedelta(0)


def test_audit_epoch_milliseconds_as_number_or_string():
    for value in (1717000000000, "1717000000000"):
        record = AuditRecord.model_validate({"creationDate": value, "summary": "s",
                                             "author": {"type": "user"}})
        assert record.creation_date == datetime(2024, 5, 29, 16, 26, 40, tzinfo=UTC)


def test_comment_without_body_and_v1_content_with_expanded_restrictions():
    comment = FooterComment.model_validate({"id": "1", "pageId": "2", "version": {"number": 1}})
    assert comment.body is None and comment.storage is None and comment.parent_comment_id is None
    content = ContentV1.model_validate({"id": 5, "type": "page", "restrictions": {
        "read": {"operation": "read", "restrictions": {"user": {"results": [{"accountId": "u1"}]},
                                                       "group": {"results": []}}},
        "update": {"operation": "update", "restrictions": {}},
        "_links": {"self": "x"}}})
    assert content.id == "5"
    assert content.restrictions.read.is_restricted and content.restrictions.read.users[0].account_id == "u1"
    assert not content.restrictions.update.is_restricted


# -- retry arithmetic --------------------------------------------------------------------------

def test_retry_after_is_the_minimum_wait_and_backoff_is_jittered_between_0_7_and_1_3():
    low = RetryPolicy(random=lambda: 0.0, clock=lambda: 1000.0)
    high = RetryPolicy(random=lambda: 0.999999, clock=lambda: 1000.0)
    assert low.delay(1, 429, {"Retry-After": "7"}) == 7.0
    assert 7.0 <= high.delay(1, 429, {"Retry-After": "7"}) <= 7.0 * 1.3
    assert low.delay(1, 503, {}) == pytest.approx(2.0 * 0.7)
    assert high.delay(3, 503, {}) == pytest.approx(8.0 * 1.3, rel=1e-5)
    assert low.delay(10, None, {}) == pytest.approx(30.0 * 0.7)  # capped step


def test_429_without_retry_after_waits_for_x_ratelimit_reset():
    now = datetime(2026, 3, 26, 15, 59, 50, tzinfo=UTC).timestamp()
    policy = RetryPolicy(random=lambda: 0.0, clock=lambda: now)
    assert policy.delay(1, 429, {"X-RateLimit-Reset": "2026-03-26T16:00Z"}) == pytest.approx(10.0)
    assert reset_seconds({"X-RateLimit-Reset": "2026-03-26T16:00:05Z"}, now) == pytest.approx(15.0)


def test_retry_after_http_date():
    now = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert retry_after_seconds({"Retry-After": "Thu, 01 Jan 2026 00:00:30 GMT"}, now) == pytest.approx(30.0)


def test_points_headers_in_any_order_pick_the_tightest_quota():
    state = points_state({"Beta-RateLimit": '"tenant-app-quota";r=9000;t=50, "global-app-quota";r=300;t=600',
                          "Beta-RateLimit-Policy": '"global-app-quota";q=65000;w=3600, '
                                                   '"tenant-app-quota";q=100000'})
    assert (state.remaining, state.reset_in, state.quota) == (300, 600, 65000)
    assert points_state({"RateLimit-Policy": '"global-app-quota";q=65000;w=3600',
                         "RateLimit": '"global-app-quota";t=900'}).remaining is None
    assert points_state({}) is None


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_pacer_waits_for_the_hour_when_the_points_quota_would_run_out():
    time_ = FakeTime()
    pacer = Pacer(sleep=time_.sleep, clock=time_.clock, max_pause=3600)
    pacer.observe({"RateLimit": '"global-app-quota";r=300;t=120', "RateLimit-Policy": QUOTA}, cost=251)
    assert pacer.wait() == pytest.approx(120.0)  # 300 points cannot pay two more 251-point calls
    assert pacer.wait() == 0.0  # the new hour: no constraint known


def test_pacer_spreads_the_remaining_points_over_the_time_left():
    time_ = FakeTime()
    pacer = Pacer(sleep=time_.sleep, clock=time_.clock)
    pacer.observe({"RateLimit": '"global-app-quota";r=10000;t=600', "RateLimit-Policy": QUOTA}, cost=100)
    pacer.wait()
    second = pacer.wait()
    assert second > 0  # paced: about 600 s / (10000/~cost) calls
    pacer.observe({"RateLimit-Policy": QUOTA, "RateLimit": '"global-app-quota";t=500'})
    assert pacer.wait() == 0.0  # no r=: far from the quota again


def test_pacer_slows_near_the_burst_limit_and_refuses_an_endless_pause():
    time_ = FakeTime()
    pacer = Pacer(sleep=time_.sleep, clock=time_.clock, max_pause=60)
    reset = datetime.fromtimestamp(time_.now + 10, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pacer.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset, "X-RateLimit-NearLimit": "true"})
    assert pacer.wait() == pytest.approx(11.0, abs=1.0)  # to the reset, and a second past it
    pacer.observe({"RateLimit": '"global-app-quota";r=10;t=3000'}, cost=50)
    with pytest.raises(RateLimited) as err:
        pacer.wait()
    assert "run the sync again after the reset" in str(err.value)


# -- pagination ----------------------------------------------------------------------------------

def test_next_links_become_site_paths_and_keep_the_gateway_out():
    assert site_path("/wiki/api/v2/pages?cursor=abc&limit=5") == "/wiki/api/v2/pages?cursor=abc&limit=5"
    assert site_path("/rest/api/search?next=true&cursor=x") == "/wiki/rest/api/search?next=true&cursor=x"
    assert site_path("https://x.atlassian.net/wiki/rest/api/group?start=2") == "/wiki/rest/api/group?start=2"
    assert site_path("https://api.atlassian.com/ex/confluence/abc/wiki/api/v2/pages?cursor=1") == \
        "/wiki/api/v2/pages?cursor=1"


def _scripted(pages: list[tuple[dict, dict]]):
    calls: list[tuple[str, dict]] = []

    def fetch(path, params):
        calls.append((path, dict(params or {})))
        return pages[len(calls) - 1]

    return fetch, calls


def test_cursor_listing_goes_on_past_short_and_empty_pages_until_no_next():
    fetch, calls = _scripted([
        ({"results": [{"id": 1}], "_links": {"next": "/wiki/api/v2/pages?cursor=a"}}, {}),
        ({"results": [], "_links": {}},
         {"Link": '</wiki/api/v2/pages?cursor=b>; rel="next", <http://s/wiki>; rel="base"'}),
        ({"results": [{"id": 2}], "_links": {"base": "http://s/wiki"}}, {}),
    ])
    assert [i["id"] for i in CursorPages(fetch, "/wiki/api/v2/pages", {"limit": 250})] == [1, 2]
    assert [c[0] for c in calls] == ["/wiki/api/v2/pages", "/wiki/api/v2/pages?cursor=a",
                                     "/wiki/api/v2/pages?cursor=b"]


def test_a_repeated_next_link_stops_the_listing_with_an_error():
    page = ({"results": [{"id": 1}], "_links": {"next": "/wiki/api/v2/pages?cursor=same"}}, {})
    fetch, _ = _scripted([page, page, page])
    with pytest.raises(Exception, match="same next page twice"):
        list(CursorPages(fetch, "/wiki/api/v2/pages"))


def test_offset_listing_asks_for_start_plus_size_until_a_short_page():
    fetch, calls = _scripted([
        ({"results": [{"id": 1}, {"id": 2}], "start": 0, "limit": 2, "size": 2}, {}),
        ({"results": [{"id": 3}], "start": 2, "limit": 2, "size": 1}, {}),
    ])
    assert [i["id"] for i in OffsetPages(fetch, "/wiki/rest/api/group", {"limit": 2})] == [1, 2, 3]
    assert calls[1] == ("/wiki/rest/api/group", {"limit": 2, "start": 2})


def test_search_cursor_links_get_the_wiki_prefix():
    fetch, calls = _scripted([
        ({"results": [{"id": 1}], "_links": {"next": "/rest/api/search?cql=type%3Dpage&cursor=c1"}}, {}),
        ({"results": [{"id": 2}], "_links": {}}, {}),
    ])
    assert len(list(SearchCursorPages(fetch, "/wiki/rest/api/search", {"cql": "type=page"}))) == 2
    assert calls[1][0] == "/wiki/rest/api/search?cql=type%3Dpage&cursor=c1"


# -- errors --------------------------------------------------------------------------------------

def test_redact_url_masks_secrets_and_user_info():
    url = "https://bob:pw@x.atlassian.net/callback?code=abc123&state=s3cr3t&limit=5&access_token=zyx987"
    redacted = redact_url(url)
    for secret in ("abc123", "s3cr3t", "zyx987", "pw", "bob"):
        assert secret not in redacted
    assert "limit=5" in redacted and redacted.startswith("https://x.atlassian.net/callback?")


# -- the token file ------------------------------------------------------------------------------

def _tokens(**changes) -> TokenSet:
    base = dict(access_token="at-1", refresh_token="rt-1", expires_at=datetime.now(UTC) + timedelta(hours=1),
                scopes=("offline_access",), site_url="https://x.atlassian.net", cloud_id="c1", site_name="X")
    return TokenSet(**{**base, **changes})


def test_token_file_is_written_atomically_with_mode_0600(tmp_path):
    store = TokenStore(tmp_path / "cfg" / "tokens.json")
    store.save(_tokens())
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.load() == _tokens(expires_at=store.load().expires_at)
    assert [p.name for p in store.path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert "at-1" not in repr(store.load()) and "rt-1" not in repr(store.load())


def test_refresh_keeps_the_old_refresh_token_when_the_answer_has_none(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    store.save(_tokens(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    renewed = store.fresh_tokens(lambda rt: {"access_token": "at-2", "expires_in": 3600})
    assert (renewed.access_token, renewed.refresh_token) == ("at-2", "rt-1")
    assert json.loads(store.path.read_text())["access_token"] == "at-2"


def test_refresh_ahead_of_expiry_and_not_for_a_token_another_process_already_replaced(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    store.save(_tokens(expires_at=datetime.now(UTC) + timedelta(seconds=200)))  # inside the 300 s margin
    calls: list[str] = []

    def refresh(rt):
        calls.append(rt)
        number = len(calls) + 1
        return {"access_token": f"at-{number}", "refresh_token": f"rt-{number}", "expires_in": 3600}

    assert store.fresh_tokens(refresh).access_token == "at-2"
    # a caller still holding at-1 reports it rejected: the file already has at-2, so no refresh
    assert store.fresh_tokens(refresh, stale_access_token="at-1").access_token == "at-2"
    assert calls == ["rt-1"]
    # the current token rejected: refresh it even though its expiry looks fine
    assert store.fresh_tokens(refresh, stale_access_token="at-2").refresh_token == "rt-3"


def test_no_login_and_damaged_file_say_to_log_in_again(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    with pytest.raises(ReauthorizeRequired, match="confluence-pipeline auth login"):
        store.fresh_tokens(lambda rt: {})
    store.path.write_text("{not json")
    with pytest.raises(ReauthorizeRequired, match="damaged"):
        store.load()


def test_default_location_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CONFLUENCE_TOKEN_FILE", str(tmp_path / "t.json"))
    assert TokenStore().path == tmp_path / "t.json"
    monkeypatch.delenv("CONFLUENCE_TOKEN_FILE")
    assert str(TokenStore().path).endswith(".config/confluence-pipeline/tokens.json")
