"""OAuth 2.0 (3LO) against the emulator over real HTTP: login, the token store under rotation
and concurrency, renewal in the middle of listings, and the errors users meet."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
import requests

from confluence_pipeline.confluence.auth import REQUIRED_SCOPES, OAuthApp, OAuthTokenAuth
from confluence_pipeline.confluence.client import ConfluenceClient
from confluence_pipeline.confluence.errors import AuthError, ReauthorizeRequired
from confluence_pipeline.confluence.login import login, logout, status
from confluence_pipeline.confluence.ratelimit import RetryPolicy
from confluence_pipeline.confluence.tokens import TokenSet, TokenStore
from confluence_pipeline.emulator.app import Emulator
from confluence_pipeline.emulator.model import Site

CLIENT_ID = "test-client"
CLIENT_SECRET = "s3cret-client-value"
GRACE_MINUTES = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redirect_uri() -> str:
    return f"http://127.0.0.1:{_free_port()}/callback"


def _emulator(redirect_uri: str, *, auto_consent: bool = True, ttl: int = 3600) -> Emulator:
    emu = Emulator(seed=7, scale=200, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                   redirect_uri=redirect_uri, auto_consent=auto_consent, access_token_ttl=ttl)
    emu.start()
    return emu


@pytest.fixture
def emu(redirect_uri):
    emulator = _emulator(redirect_uri)
    yield emulator
    emulator.stop()


def _app(emu: Emulator, redirect_uri: str, **changes) -> OAuthApp:
    settings = dict(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=redirect_uri,
                    auth_url=emu.base_url, api_url=emu.base_url, retry=RetryPolicy(sleep=lambda s: None))
    settings.update(changes)
    return OAuthApp(settings.pop("client_id"), settings.pop("client_secret"), **settings)


def _follow_redirect(url: str) -> None:
    """The user's browser: open the authorization URL, follow the redirect to the callback."""
    answer = requests.get(url, allow_redirects=False, timeout=10)
    requests.get(answer.headers["Location"], timeout=10)


def _browser(url: str) -> None:
    threading.Thread(target=_follow_redirect, args=(url,), daemon=True).start()


def _login(emu, redirect_uri, store, **kwargs) -> TokenSet:
    app = kwargs.pop("app", None) or _app(emu, redirect_uri)
    return login(app, store, browser=kwargs.pop("browser", _browser), timeout=kwargs.pop("timeout", 20),
                 say=kwargs.pop("say", lambda line: None), **kwargs)


@pytest.fixture
def store(tmp_path) -> TokenStore:
    return TokenStore(tmp_path / "tokens.json")


def _client(emu, redirect_uri, store, **kwargs) -> ConfluenceClient:
    retry = RetryPolicy(sleep=lambda s: None)
    return ConfluenceClient.with_oauth(store, _app(emu, redirect_uri), retry=retry, **kwargs)


# -- the flow ----------------------------------------------------------------------------------

class _ConsentForm(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs.get("value", "")
        if tag == "option" and "cloud_id" not in self.fields:
            self.fields["cloud_id"] = attrs["value"]


def _consent(action: str):
    def browser(url: str) -> None:
        def click() -> None:
            page = requests.get(url, timeout=10)
            form = _ConsentForm()
            form.feed(page.text)
            base = url.split("/authorize")[0]
            answer = requests.post(f"{base}/authorize/consent", data={**form.fields, "action": action},
                                   allow_redirects=False, timeout=10)
            requests.get(answer.headers["Location"], timeout=10)

        threading.Thread(target=click, daemon=True).start()

    return browser


def test_full_3lo_flow_through_the_consent_page_then_reading_through_the_gateway(redirect_uri, store):
    emu = _emulator(redirect_uri, auto_consent=False)
    try:
        said: list[str] = []
        tokens = _login(emu, redirect_uri, store, browser=_consent("accept"), say=said.append)
        assert tokens.cloud_id == emu.cloud_id and tokens.site_url == emu.base_url
        assert set(REQUIRED_SCOPES) <= set(tokens.scopes)
        url = next(line for line in said if "/authorize?" in line)
        for part in ("audience=api.atlassian.com", "prompt=consent", "code_challenge_method=S256", "state=",
                     "offline_access", f"client_id={CLIENT_ID}"):
            assert part in url
        assert stat_mode(store.path) == 0o600

        shown = status(store)
        assert shown["logged_in"] and shown["cloud_id"] == emu.cloud_id and shown["site_url"] == emu.base_url
        assert shown["access_token_valid"] is True and "offline_access" in shown["scopes"]

        client = _client(emu, redirect_uri, store)
        assert client.root_url == f"{emu.base_url}/ex/confluence/{emu.cloud_id}"
        spaces = list(client.spaces())
        assert spaces and all(s.key for s in spaces)
        # the account that granted the token, which the access model treats as the syncing account
        assert client.current_user().account_id == emu.auth.consent_account_id
        assert logout(store) is True and status(store) == {"logged_in": False, "token_file": str(store.path)}
    finally:
        emu.stop()


def stat_mode(path) -> int:
    return os.stat(path).st_mode & 0o777


def test_declining_on_the_consent_page_says_to_accept(redirect_uri, store):
    emu = _emulator(redirect_uri, auto_consent=False)
    try:
        with pytest.raises(AuthError, match="declined.*choose Accept"):
            _login(emu, redirect_uri, store, browser=_consent("cancel"))
        assert store.load() is None
    finally:
        emu.stop()


def test_a_callback_with_a_foreign_state_is_refused(emu, redirect_uri, store):
    def forged(url: str) -> None:
        threading.Thread(target=lambda: requests.get(f"{redirect_uri}?code=abc&state=forged", timeout=10),
                         daemon=True).start()

    with pytest.raises(AuthError, match="wrong state"):
        _login(emu, redirect_uri, store, browser=forged)


def test_several_sites_ask_which_one(emu, redirect_uri, store):
    other = Site(cloud_id="11111111-2222-3333-4444-555555555555", name="Other",
                 url="https://other.atlassian.net")
    emu.auth.sites = [emu.ws.site, other]
    asked: list[str] = []
    tokens = _login(emu, redirect_uri, store, ask=lambda prompt: asked.append(prompt) or "2")
    assert asked and tokens.cloud_id == other.cloud_id and tokens.site_url == "https://other.atlassian.net"


def test_the_configured_site_is_picked_without_asking(emu, redirect_uri, store):
    emu.auth.sites = [Site("11111111-2222-3333-4444-555555555555", "Other", "https://other.atlassian.net"),
                      emu.ws.site]
    tokens = _login(emu, redirect_uri, store, site_url=emu.base_url + "/wiki/",
                    ask=lambda prompt: pytest.fail("must not ask"))
    assert tokens.cloud_id == emu.cloud_id


# -- errors users meet -------------------------------------------------------------------------

def test_invalid_client_credentials(emu, redirect_uri, store):
    app = _app(emu, redirect_uri, client_secret="wrong-secret")
    with pytest.raises(AuthError) as err:
        _login(emu, redirect_uri, store, app=app)
    message = str(err.value)
    assert "client id or secret" in message and "CONFLUENCE_CLIENT_SECRET" in message
    assert "wrong-secret" not in message and CLIENT_SECRET not in message
    assert store.load() is None


def test_callback_url_mismatch(emu, redirect_uri, store):
    other = f"http://127.0.0.1:{_free_port()}/other-callback"
    with pytest.raises(AuthError) as err:
        _login(emu, redirect_uri, store, app=_app(emu, other))
    assert "does not match" in str(err.value) and "CONFLUENCE_REDIRECT_URI" in str(err.value)
    assert err.value.status == 400


def test_a_callback_url_that_is_not_loopback_is_refused_before_anything_happens(emu, redirect_uri, store):
    with pytest.raises(AuthError, match="not a loopback address.*CONFLUENCE_REDIRECT_URI"):
        _login(emu, redirect_uri, store, app=_app(emu, "https://example.com/callback"))


def test_authorization_without_any_site(emu, redirect_uri, store):
    guest = next(u for u in emu.ws.users.values() if not u.is_admin and u.account_type == "atlassian")
    guest.is_external_collaborator = True
    emu.auth.consent_account_id = guest.account_id
    with pytest.raises(AuthError, match="covers no Confluence site.*auth login"):
        _login(emu, redirect_uri, store)


def test_configured_site_absent_from_the_grant(emu, redirect_uri, store):
    with pytest.raises(AuthError) as err:
        _login(emu, redirect_uri, store, site_url="https://elsewhere.atlassian.net")
    assert "not the configured site https://elsewhere.atlassian.net" in str(err.value)
    assert emu.base_url in str(err.value) and "CONFLUENCE_SITE_URL" in str(err.value)


def test_missing_scopes_are_listed(emu, redirect_uri, store):
    dropped = ("read:hierarchical-content:confluence", "read:label:confluence")
    app = _app(emu, redirect_uri, scopes=tuple(s for s in REQUIRED_SCOPES if s not in dropped))
    with pytest.raises(AuthError) as err:
        _login(emu, redirect_uri, store, app=app)
    assert err.value.missing_scopes == dropped
    assert all(scope in str(err.value) for scope in dropped) and "Permissions page" in str(err.value)
    assert store.load() is None


def test_a_scope_missing_at_call_time_names_it(emu, redirect_uri, store):
    """Tokens granted without a scope (an app changed after login): the gateway's 401 is explained."""
    tokens = _login(emu, redirect_uri, store)
    narrow = _app(emu, redirect_uri, scopes=tuple(s for s in REQUIRED_SCOPES
                                                  if s != "read:hierarchical-content:confluence"))
    request = narrow.authorization_request()
    code = requests.get(request.url, allow_redirects=False, timeout=10).headers["Location"].split("code=")[1]
    response = narrow.exchange_code(code.split("&")[0], request.code_verifier)
    store.save(TokenSet(response["access_token"], response["refresh_token"], TokenSet.expiry_from(response),
                        tuple(response["scope"].split()), tokens.site_url, tokens.cloud_id))
    client = _client(emu, redirect_uri, store)
    page = next(client.pages())
    with pytest.raises(AuthError) as err:
        list(client.descendants("page", page.id))
    assert "read:hierarchical-content:confluence" in str(err.value) and err.value.status == 401
    assert client.stats()["token_renewals"] == 0  # a scope problem is not fixed by a refresh


def test_revoked_grant_asks_to_log_in_again(emu, redirect_uri, store):
    _login(emu, redirect_uri, store)
    client = _client(emu, redirect_uri, store)
    next(client.spaces())
    emu.auth.revoke_all()
    with pytest.raises(ReauthorizeRequired) as err:
        list(client.spaces())
    assert "confluence-pipeline auth login" in str(err.value) and "refresh token" in str(err.value)


# -- renewal and rotation ----------------------------------------------------------------------

def test_access_token_expiring_in_the_middle_of_a_paginated_listing(emu, redirect_uri, store):
    _login(emu, redirect_uri, store)
    client = _client(emu, redirect_uri, store, page_size=20)
    before = store.load().access_token
    seen: list[str] = []
    for page in client.pages():
        seen.append(page.id)
        if len(seen) == 30:  # in the middle of the second page of 20
            assert emu.auth.expire_all_access_tokens() >= 1
    expected = [p.id for p in _client(emu, redirect_uri, store).pages()]
    assert seen == expected and len(seen) > 60
    assert len(set(seen)) == len(seen)
    assert client.stats()["token_renewals"] == 1
    assert store.load().access_token != before


def test_a_403_or_404_is_blamed_on_the_token_only_when_a_probe_finds_it_dead(emu, redirect_uri, store):
    """FACTS.md §11: Atlassian has answered expired tokens with 404 (v2) and 403 (v1)."""
    _login(emu, redirect_uri, store)
    auth = OAuthTokenAuth(store, _app(emu, redirect_uri))
    live = auth(requests.Request("GET", f"{emu.base_url}/x").prepare())
    assert auth.token_expired(live) is False  # a genuine 404: the token is fine
    emu.auth.expire_all_access_tokens()
    assert auth.token_expired(live) is False  # trusted for a minute after the probe: no second probe
    assert OAuthTokenAuth(store, _app(emu, redirect_uri)).token_expired(live) is True


def test_pagination_through_the_gateway_prefixes_next_links(emu, redirect_uri, store):
    _login(emu, redirect_uri, store)
    client = _client(emu, redirect_uri, store, page_size=25)
    emu.limits.reset_stats()
    ids = [p.id for p in client.pages()]
    comments = list(client.footer_comments())
    served = emu.limits.stats()["by_operation"]
    basic = ConfluenceClient.with_api_token(emu.base_url, "admin@example.com", emu.credentials["api_token"])
    assert ids == [p.id for p in basic.pages()]
    assert len(comments) == len(list(basic.footer_comments()))
    assert served["getPages"]["requests"] == -(-len(ids) // 25)  # every next link reached the gateway
    assert client.stats()["by_operation"]["getPages"]["calls"] == served["getPages"]["requests"]


class _SlowRefreshApp(OAuthApp):
    """Refreshes slowly, so that both racers are sure to want a refresh at the same time."""

    def refresh(self, refresh_token: str) -> dict:
        time.sleep(0.5)
        return super().refresh(refresh_token)


def _race_worker(base_url: str, redirect_uri: str, token_file: str, barrier, results) -> None:
    app = _SlowRefreshApp(CLIENT_ID, CLIENT_SECRET, redirect_uri=redirect_uri, auth_url=base_url,
                          api_url=base_url)
    barrier.wait()
    try:
        client = ConfluenceClient.with_oauth(TokenStore(token_file), app)
        spaces = len(list(client.spaces()))
        results.put(("ok", client._auth.tokens().access_token, spaces))
    except Exception as exc:  # reported to the parent as text
        results.put(("error", repr(exc), 0))


def test_refresh_race_between_two_processes_refreshes_once(emu, redirect_uri, store):
    tokens = _login(emu, redirect_uri, store)
    # Both processes find the access token expired: each will want to refresh.
    expired = datetime.now(timezone.utc) - timedelta(seconds=5)
    store.save(TokenSet(tokens.access_token, tokens.refresh_token, expired, tokens.scopes, tokens.site_url,
                        tokens.cloud_id))
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    args = (emu.base_url, redirect_uri, str(store.path), barrier, results)
    workers = [context.Process(target=_race_worker, args=args) for _ in range(2)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert [o[0] for o in outcomes] == ["ok", "ok"], outcomes
    assert outcomes[0][1] == outcomes[1][1]  # the second process used the first one's refresh
    assert outcomes[0][2] > 0
    # The stored refresh token is the live one: it still works after the reuse leeway.
    emu.ws.clock.advance(GRACE_MINUTES * 60 + 60)
    emu.auth.expire_all_access_tokens()
    assert list(_client(emu, redirect_uri, store).spaces())


def _refresh_then_die(base_url: str, redirect_uri: str, token_file: str) -> None:
    """Refresh under the lock, then get killed before saving the rotated tokens."""
    app = OAuthApp(CLIENT_ID, CLIENT_SECRET, redirect_uri=redirect_uri, auth_url=base_url, api_url=base_url)
    store = TokenStore(token_file)
    with store.locked():
        app.refresh(store.load().refresh_token)
        os.kill(os.getpid(), signal.SIGKILL)


def _killed_refresh(emu, redirect_uri, store) -> TokenSet:
    before = _login(emu, redirect_uri, store)
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=_refresh_then_die, args=(emu.base_url, redirect_uri, str(store.path)))
    process.start()
    process.join(timeout=60)
    assert process.exitcode == -signal.SIGKILL
    assert store.load().refresh_token == before.refresh_token  # the rotation was lost with the process
    emu.auth.expire_all_access_tokens()
    return before


def test_a_process_killed_between_refresh_and_save_recovers_within_the_grace_period(emu, redirect_uri, store):
    before = _killed_refresh(emu, redirect_uri, store)
    emu.ws.clock.advance((GRACE_MINUTES - 2) * 60)
    client = _client(emu, redirect_uri, store)
    assert list(client.spaces())  # the old refresh token is still honoured: the lock was released too
    assert store.load().refresh_token != before.refresh_token


def test_after_the_grace_period_the_lost_rotation_needs_a_new_login(emu, redirect_uri, store):
    _killed_refresh(emu, redirect_uri, store)
    emu.ws.clock.advance((GRACE_MINUTES + 1) * 60)
    with pytest.raises(ReauthorizeRequired) as err:
        list(_client(emu, redirect_uri, store).spaces())
    assert "Unknown or invalid refresh token" in str(err.value)
    assert "confluence-pipeline auth login" in str(err.value)


# -- secrets -----------------------------------------------------------------------------------

def test_secrets_never_reach_logs_errors_or_status(emu, redirect_uri, store, caplog):
    caplog.set_level(logging.DEBUG)
    errors: list[Exception] = []
    tokens = _login(emu, redirect_uri, store)
    client = _client(emu, redirect_uri, store, page_size=50)
    emu.limits.set_faults(storm_429=2, error_rate_5xx=0.0)
    list(client.pages())
    emu.auth.expire_all_access_tokens()
    list(client.spaces())
    for attempt in (lambda: _login(emu, redirect_uri, TokenStore(store.path.parent / "x.json"),
                                   app=_app(emu, redirect_uri, client_secret="wrong-" + CLIENT_SECRET)),
                    lambda: client.page("999999999"),
                    lambda: client.attachment("att999999999")):
        try:
            attempt()
        except Exception as exc:
            errors.append(exc)
    emu.auth.revoke_all()
    try:
        list(client.spaces())
    except Exception as exc:
        errors.append(exc)
    assert len(errors) >= 3
    current = store.load()
    secrets = {CLIENT_SECRET, tokens.access_token, tokens.refresh_token, current.access_token,
               current.refresh_token}
    texts = [caplog.text, json.dumps(status(store)), repr(client), repr(client._auth), repr(current),
             repr(_app(emu, redirect_uri)), json.dumps(client.stats())]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    for text in texts:
        for secret in secrets:
            assert secret not in text
