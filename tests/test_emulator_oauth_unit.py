"""The emulator's OAuth 3LO server and scope table, exercised as state machines (no HTTP)."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from confluence_pipeline.emulator.http import OAuthError, ScopeMismatch, Unauthorized
from confluence_pipeline.emulator.model import Site, User
from confluence_pipeline.emulator.workspace import Workspace
from confluence_pipeline.emulator.oauth import AuthServer
from confluence_pipeline.emulator.oauth_grants import OAuthClient
from confluence_pipeline.emulator.scopes import (SCOPES, all_read_scopes_for, check_scopes, missing_scopes,
                                                 operation_index)

REDIRECT = "http://127.0.0.1:8765/callback"
SCOPE = "read:page:confluence read:space:confluence offline_access"
VERIFIER = "v" * 20 + "-._~" + "x" * 30  # 54 characters of the PKCE alphabet
MINUTE = 60
DAY = 86400


def _user(account_id: str, *, admin: bool = False, guest: bool = False) -> User:
    return User(account_id, account_id, account_id, f"{account_id}@example.com", True, "atlassian", "active",
                "UTC", is_admin=admin, is_external_collaborator=guest)


@pytest.fixture
def ws() -> Workspace:
    workspace = Workspace(Site("cloud-1", "acme", "https://acme.atlassian.net"), seed=1, scale=1)
    for user in (_user("712020:admin", admin=True), _user("712020:guest", guest=True)):
        workspace.users[user.account_id] = user
    return workspace


@pytest.fixture
def client() -> OAuthClient:
    return OAuthClient("the-client", "the-secret", REDIRECT)


def _params(**overrides: str) -> dict[str, str]:
    params = {"audience": "api.atlassian.com", "client_id": "the-client", "scope": SCOPE,
              "redirect_uri": REDIRECT, "state": "s1", "response_type": "code", "prompt": "consent"}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _code(server: AuthServer, **overrides: str) -> str:
    status, headers, _ = server.authorize(_params(**overrides))
    assert status == 302, "auto-consent redirects at once"
    return _query(headers["Location"])["code"]


def _exchange(server: AuthServer, code: str, **overrides: str) -> dict:
    body = {"grant_type": "authorization_code", "client_id": "the-client", "client_secret": "the-secret",
            "code": code, "redirect_uri": REDIRECT}
    body.update(overrides)
    return server.token(body)


def _refresh(server: AuthServer, refresh_token: str) -> dict:
    return server.token({"grant_type": "refresh_token", "client_id": "the-client",
                         "client_secret": "the-secret", "refresh_token": refresh_token})


def _tokens(server: AuthServer) -> dict:
    return _exchange(server, _code(server))


@pytest.fixture
def auto(ws: Workspace, client: OAuthClient) -> AuthServer:
    return AuthServer(ws, client, auto_consent=True)


def _refresh_fails(server: AuthServer, token: str) -> OAuthError:
    with pytest.raises(OAuthError) as err:
        _refresh(server, token)
    assert (err.value.status, err.value.error) == (403, "invalid_grant")
    assert err.value.detail == "Unknown or invalid refresh token."
    return err.value


# -- /authorize and the consent page ----------------------------------------------------------


def test_consent_page_offers_sites_and_scopes_and_escapes_the_query(ws: Workspace,
                                                                     client: OAuthClient) -> None:
    second = Site("cloud-2", "beta", "https://beta.atlassian.net")
    server = AuthServer(ws, client, sites=[ws.site, second])
    status, headers, page = server.authorize(_params(state='"><script>alert(1)</script>'))
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert '<option value="cloud-1">' in page and '<option value="cloud-2">' in page
    assert "<li>read:page:confluence</li>" in page and "<li>offline_access</li>" in page
    assert 'action="/authorize/consent"' in page and 'value="accept"' in page and 'value="cancel"' in page


def test_consent_accept_issues_a_code_for_the_chosen_site(ws: Workspace, client: OAuthClient) -> None:
    second = Site("cloud-2", "beta", "https://beta.atlassian.net")
    server = AuthServer(ws, client, sites=[ws.site, second])
    status, headers, _ = server.consent({**_params(), "action": "accept", "cloud_id": "cloud-2"})
    assert status == 302 and headers["Location"].startswith(REDIRECT + "?")
    query = _query(headers["Location"])
    assert query["state"] == "s1"
    tokens = _exchange(server, query["code"])
    resources = server.accessible_resources(tokens["access_token"])
    assert [(r["id"], r["url"]) for r in resources] == [("cloud-2", "https://beta.atlassian.net")]


def test_consent_cancel_redirects_access_denied(ws: Workspace, client: OAuthClient) -> None:
    server = AuthServer(ws, client)
    status, headers, _ = server.consent({**_params(), "action": "cancel", "cloud_id": "cloud-1"})
    query = _query(headers["Location"])
    assert status == 302 and query["error"] == "access_denied" and query["state"] == "s1"
    assert "code" not in query


def test_consent_rejects_a_site_not_offered(ws: Workspace, client: OAuthClient) -> None:
    form = {**_params(), "action": "accept", "cloud_id": "elsewhere"}
    status, _, page = AuthServer(ws, client).consent(form)
    assert status == 400 and "elsewhere" in page


@pytest.mark.parametrize("overrides, problem", [
    ({"client_id": "someone-else"}, "Unknown client_id"),
    ({"redirect_uri": REDIRECT + "/"}, "does not match the callback URL"),
    ({"redirect_uri": None}, "does not match the callback URL"),
])
def test_unredirectable_errors_answer_an_html_page(auto: AuthServer, overrides: dict, problem: str) -> None:
    status, headers, page = auto.authorize(_params(**overrides))
    assert status == 400 and "Location" not in headers
    assert problem in page


@pytest.mark.parametrize("overrides, error, words", [
    ({"scope": "read:page:confluence fly:to-the-moon"}, "invalid_scope", "fly:to-the-moon"),
    ({"scope": ""}, "invalid_scope", "scope"),
    ({"response_type": "token"}, "unsupported_response_type", "token"),
    ({"audience": "example.com"}, "invalid_request", "audience"),
    ({"state": None}, "invalid_request", "state"),
    ({"prompt": "none"}, "invalid_request", "prompt"),
    ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request", "code_challenge"),
    ({"code_challenge": "c" * 43, "code_challenge_method": "S512"}, "invalid_request", "S512"),
])
def test_redirectable_errors_go_back_to_the_callback(auto: AuthServer, overrides: dict, error: str,
                                                     words: str) -> None:
    status, headers, _ = auto.authorize(_params(**overrides))
    query = _query(headers["Location"])
    assert status == 302 and query["error"] == error and words in query["error_description"]
    assert "code" not in query


# -- /oauth/token: codes ----------------------------------------------------------------------


def test_code_exchange_returns_tokens(auto: AuthServer) -> None:
    tokens = _tokens(auto)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["scope"] == "offline_access read:page:confluence read:space:confluence"
    assert tokens["refresh_token"] and tokens["access_token"] != tokens["refresh_token"]
    grant = auto.authenticate(tokens["access_token"], cloud_id="cloud-1")
    assert grant.account_id == "712020:admin" and "read:page:confluence" in grant.scopes


def test_no_refresh_token_without_offline_access(auto: AuthServer) -> None:
    tokens = _exchange(auto, _code(auto, scope="read:page:confluence"))
    assert "refresh_token" not in tokens and tokens["scope"] == "read:page:confluence"


def test_wrong_secret_is_access_denied(auto: AuthServer) -> None:
    with pytest.raises(OAuthError) as err:
        _exchange(auto, _code(auto), client_secret="guess")
    assert (err.value.status, err.value.error, err.value.detail) == (401, "access_denied", "Unauthorized")


def test_missing_field_names_it(auto: AuthServer) -> None:
    with pytest.raises(OAuthError) as err:
        auto.token({"grant_type": "authorization_code", "client_id": "the-client",
                    "client_secret": "the-secret", "code": _code(auto)})
    assert (err.value.status, err.value.error) == (400, "invalid_request")
    assert "redirect_uri" in err.value.detail


def test_unsupported_grant_type(auto: AuthServer) -> None:
    with pytest.raises(OAuthError) as err:
        auto.token({"grant_type": "client_credentials", "client_id": "the-client",
                    "client_secret": "the-secret"})
    assert (err.value.status, err.value.error) == (400, "unsupported_grant_type")


def test_code_redirect_uri_must_match(auto: AuthServer) -> None:
    with pytest.raises(OAuthError) as err:
        _exchange(auto, _code(auto), redirect_uri="http://127.0.0.1:9999/other")
    assert (err.value.status, err.value.error) == (403, "invalid_grant")
    assert "redirect_uri" in err.value.detail


def test_code_reuse_fails_and_revokes_what_it_produced(auto: AuthServer) -> None:
    code = _code(auto)
    tokens = _exchange(auto, code)
    with pytest.raises(OAuthError) as err:
        _exchange(auto, code)
    assert (err.value.status, err.value.detail) == (403, "Invalid authorization code")
    with pytest.raises(Unauthorized):
        auto.authenticate(tokens["access_token"])
    _refresh_fails(auto, tokens["refresh_token"])


def test_code_expires(ws: Workspace, auto: AuthServer) -> None:
    code = _code(auto)
    ws.clock.advance(601)
    with pytest.raises(OAuthError) as err:
        _exchange(auto, code)
    assert (err.value.status, err.value.error) == (403, "invalid_grant")


def test_pkce_s256(auto: AuthServer) -> None:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).decode().rstrip("=")
    code = _code(auto, code_challenge=challenge, code_challenge_method="S256")
    with pytest.raises(OAuthError) as missing:
        _exchange(auto, code)
    assert missing.value.status == 400 and "code_verifier" in missing.value.detail
    with pytest.raises(OAuthError) as wrong:
        _exchange(auto, code, code_verifier=VERIFIER[::-1])
    assert (wrong.value.status, wrong.value.error) == (403, "invalid_grant")
    assert _exchange(auto, code, code_verifier=VERIFIER)["access_token"]


def test_pkce_plain(auto: AuthServer) -> None:
    code = _code(auto, code_challenge=VERIFIER)  # method defaults to plain
    with pytest.raises(OAuthError):
        _exchange(auto, code, code_verifier="w" * 43)
    assert _exchange(auto, code, code_verifier=VERIFIER)["access_token"]


# -- refresh rotation -------------------------------------------------------------------------


def test_refresh_rotates(auto: AuthServer) -> None:
    first = _tokens(auto)
    second = _refresh(auto, first["refresh_token"])
    assert second["refresh_token"] not in (first["refresh_token"], None)
    assert second["access_token"] != first["access_token"]
    third = _refresh(auto, second["refresh_token"])
    assert auto.authenticate(third["access_token"]).account_id == "712020:admin"


def test_old_refresh_token_works_within_the_leeway(ws: Workspace, auto: AuthServer) -> None:
    first = _tokens(auto)
    second = _refresh(auto, first["refresh_token"])
    ws.clock.advance(9 * MINUTE)
    again = _refresh(auto, first["refresh_token"])
    assert again["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    assert auto.authenticate(again["access_token"])
    assert _refresh(auto, second["refresh_token"])["access_token"], "the other branch still works"


def test_reuse_after_the_leeway_revokes_the_family(ws: Workspace, auto: AuthServer) -> None:
    first = _tokens(auto)
    second = _refresh(auto, first["refresh_token"])
    other_family = _tokens(auto)
    ws.clock.advance(11 * MINUTE)
    _refresh_fails(auto, first["refresh_token"])
    _refresh_fails(auto, second["refresh_token"])
    for access in (first["access_token"], second["access_token"]):
        with pytest.raises(Unauthorized):
            auto.authenticate(access)
    assert _refresh(auto, other_family["refresh_token"])["access_token"], "other consents are untouched"


def test_unknown_refresh_token(auto: AuthServer) -> None:
    _refresh_fails(auto, "not-a-token")


def test_inactivity_expires_the_family(ws: Workspace, auto: AuthServer) -> None:
    kept_alive = _tokens(auto)
    idle = _tokens(auto)
    ws.clock.advance(60 * DAY)
    kept_alive = _refresh(auto, kept_alive["refresh_token"])
    ws.clock.advance(31 * DAY)
    _refresh_fails(auto, idle["refresh_token"])
    assert _refresh(auto, kept_alive["refresh_token"])["refresh_token"]


def test_absolute_expiry_after_365_days(ws: Workspace, auto: AuthServer) -> None:
    tokens = _tokens(auto)
    for _ in range(4):
        ws.clock.advance(80 * DAY)
        tokens = _refresh(auto, tokens["refresh_token"])
    ws.clock.advance(44 * DAY)  # day 364: refreshes never stretch the absolute limit
    tokens = _refresh(auto, tokens["refresh_token"])
    ws.clock.advance(DAY)
    _refresh_fails(auto, tokens["refresh_token"])


# -- the gateway side -------------------------------------------------------------------------


def test_access_token_expires_after_an_hour(ws: Workspace, auto: AuthServer) -> None:
    tokens = _tokens(auto)
    ws.clock.advance(3599)
    assert auto.authenticate(tokens["access_token"])
    ws.clock.advance(2)
    with pytest.raises(Unauthorized, match="expired"):
        auto.authenticate(tokens["access_token"])


def test_authenticate_rejects_missing_unknown_and_foreign_site(auto: AuthServer) -> None:
    tokens = _tokens(auto)
    with pytest.raises(Unauthorized):
        auto.authenticate(None)
    with pytest.raises(Unauthorized):
        auto.authenticate("forged")
    with pytest.raises(Unauthorized, match="cloud-9"):
        auto.authenticate(tokens["access_token"], cloud_id="cloud-9")


def test_expire_all_access_tokens(auto: AuthServer) -> None:
    a, b = _tokens(auto), _tokens(auto)
    assert auto.expire_all_access_tokens() == 2
    for tokens in (a, b):
        with pytest.raises(Unauthorized):
            auto.authenticate(tokens["access_token"])
    assert auto.authenticate(_refresh(auto, a["refresh_token"])["access_token"]), "refresh still works"
    assert auto.expire_all_access_tokens() == 1


def test_revoke_all(auto: AuthServer) -> None:
    tokens = _tokens(auto)
    auto.revoke_all()
    with pytest.raises(Unauthorized):
        auto.authenticate(tokens["access_token"])
    _refresh_fails(auto, tokens["refresh_token"])
    assert auto.accessible_resources(_tokens(auto)["access_token"]), "a new consent works again"


def test_accessible_resources_lists_every_site(ws: Workspace, client: OAuthClient) -> None:
    second = Site("cloud-2", "beta", "https://beta.atlassian.net")
    server = AuthServer(ws, client, auto_consent=True, sites=[ws.site, second])
    resources = server.accessible_resources(_tokens(server)["access_token"])
    assert [r["id"] for r in resources] == ["cloud-1", "cloud-2"]
    assert resources[0]["name"] == "acme" and resources[0]["url"] == "https://acme.atlassian.net"
    assert resources[0]["scopes"] == ["offline_access", "read:page:confluence", "read:space:confluence"]
    assert resources[0]["avatarUrl"].startswith("https://")
    grant = server.authenticate(_tokens(server)["access_token"], cloud_id="cloud-2")
    assert grant.cloud_ids == ("cloud-1", "cloud-2")


def test_guest_gets_no_resources(ws: Workspace, client: OAuthClient) -> None:
    server = AuthServer(ws, client, auto_consent=True, consent_account_id="712020:guest")
    assert server.accessible_resources(_tokens(server)["access_token"]) == []


def test_no_admin_and_no_account_is_a_clear_error(client: OAuthClient) -> None:
    empty = Workspace(Site("c", "n", "https://n.atlassian.net"), seed=1, scale=1)
    with pytest.raises(ValueError, match="consent_account_id"):
        AuthServer(empty, client)


# -- scopes -----------------------------------------------------------------------------------


def test_v2_operation_needs_its_granular_scope() -> None:
    assert SCOPES[("v2", "getPages")] == [frozenset({"read:page:confluence"})]
    assert missing_scopes("v2", "getPages", frozenset({"read:space:confluence"})) == ["read:page:confluence"]
    assert missing_scopes("v2", "getPages", frozenset({"read:page:confluence"})) is None


def test_v1_search_accepts_either_alternative() -> None:
    assert missing_scopes("v1", "searchByCQL", frozenset({"search:confluence"})) is None
    assert missing_scopes("v1", "searchByCQL", frozenset({"read:content-details:confluence"})) is None
    assert missing_scopes("v1", "searchByCQL", frozenset({"read:page:confluence"})) in (
        ["search:confluence"], ["read:content-details:confluence"])


def test_missing_scopes_picks_the_smallest_alternative() -> None:
    # createSpace (v1): Current [write:confluence-space]
    # or Beta [read:space-details, write:space, write:space.permission]
    have = frozenset({"read:space-details:confluence", "write:space:confluence"})
    assert missing_scopes("v1", "createSpace", have) == ["write:confluence-space"]
    have |= {"write:space.permission:confluence"}
    assert missing_scopes("v1", "createSpace", have) is None


def test_colliding_operation_ids_are_kept_apart() -> None:
    assert SCOPES[("v2", "getTasks")] != SCOPES[("v1", "getTasks")]
    assert missing_scopes("v2", "createSpace", frozenset({"write:space:confluence"})) is None


def test_check_scopes_raises_the_gateway_error() -> None:
    with pytest.raises(ScopeMismatch, match="read:audit-log:confluence"):
        check_scopes("v1", "getAuditRecords", frozenset({"read:page:confluence"}))
    check_scopes("v1", "getAuditRecords", frozenset({"read:audit-log:confluence"}))


def test_unknown_operation_is_named() -> None:
    with pytest.raises(KeyError, match="noSuchOperation"):
        missing_scopes("v2", "noSuchOperation", frozenset())


def test_operations_without_scopes_need_none() -> None:
    assert missing_scopes("v2", "getAdminKey", frozenset()) is None


def test_all_read_scopes_for_prefers_granular_and_covers_everything() -> None:
    operations = [("v2", "getPages"), ("v2", "getSpaces"), ("v1", "getRestrictions"), ("v1", "searchByCQL"),
                  ("v1", "getGroups"), ("v1", "getAuditRecords")]
    scopes = all_read_scopes_for(operations)
    assert scopes == {"read:page:confluence", "read:space:confluence", "read:content-details:confluence",
                      "read:group:confluence", "read:audit-log:confluence"}
    assert all(missing_scopes(api, op, frozenset(scopes)) is None for api, op in operations)


def test_operation_index_covers_both_specs() -> None:
    index = operation_index()
    assert len(index) == len(SCOPES) == 348
    pages = next(op for op in index if op.operation_id == "getPages")
    assert (pages.api, pages.method, pages.path) == ("v2", "GET", "/pages")
    search = next(op for op in index if op.operation_id == "searchByCQL")
    assert (search.api, search.method, search.path) == ("v1", "GET", "/wiki/rest/api/search")
