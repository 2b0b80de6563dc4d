"""Atlassian's OAuth 2.0 (3LO) authorization server, as a state machine with no HTTP in it.

The app (app.py) parses requests into plain mappings and calls `AuthServer`; errors come back
as `ApiError`s (`OAuthError` renders as `{"error", "error_description"}`). Behaviour follows
FACTS.md §7, and Auth0 (which Atlassian's server is built on) where Atlassian is silent:

- /authorize: a bad client_id or redirect_uri cannot be redirected and answers a 400 HTML page;
  every other problem redirects to the callback with `error`/`error_description`/`state`.
  PKCE (S256 or plain) is optional. The consent page lets the user pick one site; with
  `auto_consent` every offered site is consented at once, without a page.
- /oauth/token: client authentication failure (unknown client or wrong secret) is Auth0's
  401 `access_denied` "Unauthorized". A bad, expired or reused code is 403 `invalid_grant`
  "Invalid authorization code"; reusing a code also revokes the tokens it produced (RFC 6749
  §4.1.2). Every refresh-token failure is 403 `invalid_grant` "Unknown or invalid refresh
  token.": FACTS lists expiry among that message's causes.
- Refresh tokens rotate. A used token stays usable for a 10-minute leeway (each use returns a
  fresh pair); reuse after the leeway revokes the whole family: every refresh and access
  token descended from that consent. A family dies after 90 days without a refresh, and 365
  days after consent whatever happens.
- Gateway authentication (`authenticate`) fails with 401 for a missing, unknown, expired or
  revoked token, and for a cloud id the grant does not cover (the gateway answers
  FAILURE_CLIENT_AUTH_MISMATCH).

All times come from the workspace clock, so tests and the admin API can advance time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from datetime import datetime, timedelta
from html import escape
from typing import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .http import OAuthError, Unauthorized
from .model import Site
from .oauth_grants import (AUDIENCE, AccessToken, AuthRequest, Code, Family, Grant, OAuthClient, PageError,
                           RedirectError, RefreshToken)
from .scopes import KNOWN_SCOPES
from .workspace import Workspace

REFRESH_LEEWAY = timedelta(minutes=10)
AVATAR_URL = "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/site.png"
PROMPTS = ("consent", "login")
_PKCE_VALUE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 §4.1/§4.2

INVALID_CODE = "Invalid authorization code"
INVALID_REFRESH = "Unknown or invalid refresh token."

Response = tuple[int, dict[str, str], str]  # status, headers, body (HTML or empty)



class AuthServer:
    def __init__(self, ws: Workspace, client: OAuthClient, *, auto_consent: bool = False,
                 access_token_ttl: int = 3600, code_ttl: int = 600, sites: list[Site] | None = None,
                 consent_account_id: str | None = None) -> None:
        self.ws = ws
        self.client = client
        self.auto_consent = auto_consent
        self.access_token_ttl = access_token_ttl
        self.code_ttl = code_ttl
        self.sites = list(sites) if sites else [ws.site]
        if consent_account_id is None:
            admin = next((u for u in ws.users.values() if u.is_admin), None)
            if admin is None:
                raise ValueError("the workspace has no admin user to consent: pass consent_account_id")
            consent_account_id = admin.account_id
        elif consent_account_id not in ws.users:
            raise ValueError(f"consent_account_id {consent_account_id!r} is not a user of the workspace")
        self.consent_account_id = consent_account_id
        self._lock = threading.Lock()
        self._codes: dict[str, Code] = {}
        self._refresh_tokens: dict[str, RefreshToken] = {}
        self._access_tokens: dict[str, AccessToken] = {}
        self._families: list[Family] = []
        # One grant per account and app: the sites consented so far, in consent order.
        self._sites_of: dict[str, list[str]] = {}

    # -- /authorize --------------------------------------------------------------------------
    def authorize(self, params: Mapping[str, str]) -> Response:
        """GET /authorize: the consent page, or a redirect to the callback."""
        request = self._authorize_request(params)
        if not isinstance(request, AuthRequest):
            return request
        if self.auto_consent:
            with self._lock:
                code = self._new_code(request, [site.cloud_id for site in self.sites])
            return _redirect(request.redirect_uri, {"code": code, "state": request.state})
        return 200, {"Content-Type": "text/html; charset=utf-8"}, self._consent_page(request)

    def consent(self, form: Mapping[str, str]) -> Response:
        """POST /authorize/consent: the user's Accept or Cancel on the consent page."""
        request = self._authorize_request(form)
        if not isinstance(request, AuthRequest):
            return request
        action = form.get("action", "")
        if action == "cancel":
            return _redirect(request.redirect_uri, {"error": "access_denied",
                                                    "error_description": "User did not authorize the request",
                                                    "state": request.state})
        if action != "accept":
            return _error_page(f"action must be 'accept' or 'cancel', not {action!r}")
        cloud_id = form.get("cloud_id", "")
        if cloud_id not in {site.cloud_id for site in self.sites}:
            return _error_page(f"cloud_id {cloud_id!r} is not one of the sites offered: "
                               "pick a site from the list")
        with self._lock:
            code = self._new_code(request, [cloud_id])
        return _redirect(request.redirect_uri, {"code": code, "state": request.state})

    def _authorize_request(self, params: Mapping[str, str]) -> AuthRequest | Response:
        """The validated request, or the answer to an invalid one: an error page when the callback
        itself is in doubt, else a redirect to the callback with the error."""
        try:
            return self._parse_authorize(params)
        except PageError as err:
            return _error_page(str(err))
        except RedirectError as err:
            return _redirect(self.client.redirect_uri, _error_params(err, params.get("state", "")))

    def _parse_authorize(self, params: Mapping[str, str]) -> AuthRequest:
        client_id = params.get("client_id", "")
        if not client_id:
            raise PageError("client_id is missing: pass the client id of the app")
        if client_id != self.client.client_id:
            raise PageError(f"Unknown client_id {client_id!r}: use the client id of the app registered with "
                             "the emulator")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri != self.client.redirect_uri:
            raise PageError(f"redirect_uri {redirect_uri!r} does not match the callback URL registered for "
                             f"the app ({self.client.redirect_uri!r}): they must match exactly, including "
                             "any trailing /")
        response_type = params.get("response_type", "")
        if not response_type:
            raise RedirectError("invalid_request", "Missing required parameter: response_type")
        if response_type != "code":
            raise RedirectError("unsupported_response_type",
                                 f"Unsupported response_type {response_type!r}: use code")
        if params.get("audience") != AUDIENCE:
            raise RedirectError("invalid_request", f"audience must be {AUDIENCE}")
        state = params.get("state", "")
        if not state:
            raise RedirectError("invalid_request", "Missing required parameter: state")
        scope = params.get("scope", "")
        if not scope.split():
            raise RedirectError("invalid_scope", "Missing required parameter: scope")
        unknown = sorted(set(scope.split()) - KNOWN_SCOPES)
        if unknown:
            raise RedirectError("invalid_scope", f"Unknown scope(s): {' '.join(unknown)}")
        prompt = params.get("prompt", "")
        if prompt and prompt not in PROMPTS:
            raise RedirectError("invalid_request", f"Unsupported prompt {prompt!r}: use consent")
        challenge = params.get("code_challenge", "")
        method = params.get("code_challenge_method", "")
        if method and not challenge:
            raise RedirectError("invalid_request", "code_challenge_method was sent without code_challenge")
        if challenge:
            method = method or "plain"
            if method not in ("S256", "plain"):
                raise RedirectError("invalid_request",
                                     f"Unsupported code_challenge_method {method!r}: use S256")
            if not _PKCE_VALUE.match(challenge):
                raise RedirectError("invalid_request",
                                     "code_challenge must be 43 to 128 characters of [A-Za-z0-9._~-]")
        return AuthRequest(redirect_uri, scope, state, prompt, challenge, method)

    def _new_code(self, request: AuthRequest, cloud_ids: list[str]) -> str:
        """Record the consent (sites join the account's one grant) and issue a code for it."""
        consented = self._sites_of.setdefault(self.consent_account_id, [])
        consented.extend(c for c in cloud_ids if c not in consented)
        code = secrets.token_urlsafe(24)
        self._codes[code] = Code(request, self.consent_account_id,
                                  self.ws.clock.now() + timedelta(seconds=self.code_ttl))
        return code

    def _consent_page(self, request: AuthRequest) -> str:
        user = self.ws.users[self.consent_account_id]
        hidden = "\n".join(f'    <input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                           for k, v in request.form_fields(self.client.client_id).items())
        options = "\n".join(f'      <option value="{escape(s.cloud_id)}">{escape(s.name)} ({escape(s.url)})'
                            "</option>" for s in self.sites)
        scopes = "\n".join(f"    <li>{escape(s)}</li>" for s in sorted(request.scopes))
        app = escape(self.client.name)
        return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Authorize {app}</title></head>
<body>
  <h1>{app} is requesting access to your Atlassian account</h1>
  <p>Signed in as {escape(user.display_name)}</p>
  <form method="post" action="/authorize/consent">
{hidden}
    <label for="cloud_id">Use app on</label>
    <select id="cloud_id" name="cloud_id">
{options}
    </select>
    <p>{app} would like to:</p>
    <ul>
{scopes}
    </ul>
    <button type="submit" name="action" value="cancel">Cancel</button>
    <button type="submit" name="action" value="accept">Accept</button>
  </form>
</body>
</html>
"""

    # -- /oauth/token ------------------------------------------------------------------------
    def token(self, body: Mapping[str, str]) -> dict:
        """POST /oauth/token: exchange a code or a refresh token for tokens."""
        grant_type = _required(body, "grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError(400, "unsupported_grant_type",
                             f"Unsupported grant type: {grant_type}; use authorization_code or refresh_token")
        client_id = _required(body, "client_id")
        secret = _required(body, "client_secret")
        if client_id != self.client.client_id or not hmac.compare_digest(secret, self.client.client_secret):
            raise OAuthError(401, "access_denied", "Unauthorized")
        with self._lock:
            if grant_type == "authorization_code":
                return self._exchange_code(body)
            return self._refresh(body)

    def _exchange_code(self, body: Mapping[str, str]) -> dict:
        code_value = _required(body, "code")
        redirect_uri = _required(body, "redirect_uri")
        now = self.ws.clock.now()
        code = self._codes.get(code_value)
        if code is None or now >= code.expires_at:
            raise OAuthError(403, "invalid_grant", INVALID_CODE)
        if code.family is not None:
            code.family.revoked = True  # a replayed code may be stolen: kill what it produced
            raise OAuthError(403, "invalid_grant", INVALID_CODE)
        if redirect_uri != code.request.redirect_uri:
            raise OAuthError(403, "invalid_grant", "redirect_uri does not match the one used in the "
                                                   "authorization request: send the same callback URL")
        if code.request.code_challenge:
            verifier = _required(body, "code_verifier")
            if not _pkce_matches(verifier, code.request.code_challenge, code.request.code_challenge_method):
                raise OAuthError(403, "invalid_grant", "Failed to verify code verifier")
        code.family = Family(code.account_id, code.request.scopes, now, now)
        self._families.append(code.family)
        return self._issue(code.family, now)

    def _refresh(self, body: Mapping[str, str]) -> dict:
        record = self._refresh_tokens.get(_required(body, "refresh_token"))
        now = self.ws.clock.now()
        if record is None or record.family.revoked or record.family.expired(now):
            raise OAuthError(403, "invalid_grant", INVALID_REFRESH)
        if record.rotated_at is not None and now - record.rotated_at > REFRESH_LEEWAY:
            record.family.revoked = True
            raise OAuthError(403, "invalid_grant", INVALID_REFRESH)
        if record.rotated_at is None:
            record.rotated_at = now
        record.family.last_refresh_at = now
        return self._issue(record.family, now)

    def _issue(self, family: Family, now: datetime) -> dict:
        access = secrets.token_urlsafe(32)
        self._access_tokens[access] = AccessToken(family, now + timedelta(seconds=self.access_token_ttl))
        response = {"access_token": access, "expires_in": self.access_token_ttl, "token_type": "Bearer",
                    "scope": " ".join(sorted(family.scopes))}
        if "offline_access" in family.scopes:
            refresh = secrets.token_urlsafe(32)
            self._refresh_tokens[refresh] = RefreshToken(family)
            response["refresh_token"] = refresh
        return response

    # -- the gateway -------------------------------------------------------------------------
    def authenticate(self, bearer: str | None, *, cloud_id: str | None = None) -> Grant:
        """The grant behind an access token (`bearer` is the token, without "Bearer ")."""
        if not bearer:
            raise Unauthorized("No access token: send Authorization: Bearer <access_token>")
        with self._lock:
            token = self._access_tokens.get(bearer)
            if token is None:
                raise Unauthorized("Unknown access token: get one from /oauth/token")
            if token.family.revoked:
                raise Unauthorized("The access token was revoked: the user must consent again")
            if self.ws.clock.now() >= token.expires_at:
                raise Unauthorized("The access token expired: get a new one with the refresh token")
            cloud_ids = tuple(self._sites_of.get(token.family.account_id, ()))
            if cloud_id is not None and cloud_id not in cloud_ids:
                raise Unauthorized(f"The grant does not cover site {cloud_id}: "
                                   "use a cloud id from accessible-resources")
            return Grant(token.family.account_id, token.family.scopes, cloud_ids)

    def accessible_resources(self, bearer: str | None) -> list[dict]:
        """GET /oauth/token/accessible-resources: one entry per consented site."""
        grant = self.authenticate(bearer)
        user = self.ws.users.get(grant.account_id)
        if user is not None and user.is_external_collaborator:
            return []  # guests get an empty list (OAUTH20-2485)
        sites = {site.cloud_id: site for site in self.sites}
        return [{"id": c, "name": sites[c].name, "url": sites[c].url, "scopes": sorted(grant.scopes),
                 "avatarUrl": AVATAR_URL} for c in grant.cloud_ids]

    # -- fault injection ---------------------------------------------------------------------
    def expire_all_access_tokens(self) -> int:
        """Expire every access token that is valid now; returns how many there were."""
        with self._lock:
            now = self.ws.clock.now()
            live = [t for t in self._access_tokens.values() if not t.family.revoked and t.expires_at > now]
            for token in live:
                token.expires_at = now
            return len(live)

    def revoke_all(self) -> None:
        """The user revokes the app: every token and pending code dies; the next use needs consent."""
        with self._lock:
            for family in self._families:
                family.revoked = True
            self._codes.clear()
            self._sites_of.clear()


def _required(body: Mapping[str, str], name: str) -> str:
    value = body.get(name)
    if value is None or str(value) == "":
        raise OAuthError(400, "invalid_request", f"Missing required parameter: {name}")
    return str(value)


def _pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    else:
        expected = verifier
    return hmac.compare_digest(expected, challenge)


def _error_params(err: RedirectError, state: str) -> dict[str, str]:
    params = {"error": err.error, "error_description": err.description}
    if state:
        params["state"] = state
    return params


def _redirect(uri: str, params: Mapping[str, str]) -> Response:
    parts = urlsplit(uri)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return 302, {"Location": urlunsplit(parts._replace(query=query))}, ""


def _error_page(problem: str) -> Response:
    body = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Something went wrong</title></head>
<body>
  <h1>Something went wrong</h1>
  <p>{escape(problem)}</p>
</body>
</html>
"""
    return 400, {"Content-Type": "text/html; charset=utf-8"}, body
