"""Authentication: API tokens (basic auth on the site) and OAuth 2.0 (3LO) with rotating tokens.

- `BasicTokenAuth(email, api_token)`: a `requests` auth for `https://{site}/wiki/...`.
- `OAuthApp`: the app registered in the Atlassian developer console; builds the authorization
  URL (requests-oauthlib, state and PKCE S256, `audience=api.atlassian.com`, `prompt=consent`),
  exchanges codes and refresh tokens at `{auth_url}/oauth/token` (JSON bodies, as Atlassian
  documents) and lists the sites a token may reach (`{api_url}/oauth/token/accessible-resources`).
- `OAuthTokenAuth(store, app)`: a `requests` auth for the gateway
  (`{api_url}/ex/confluence/{cloudId}/wiki/...`) that takes its access token from a
  `TokenStore`, refreshing ahead of expiry, and renews it when the API rejects it.

`REQUIRED_SCOPES` is what the app must be granted: what to tick in the developer console.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass, field
from html import unescape
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import requests
from oauthlib.oauth2 import WebApplicationClient
from requests.auth import AuthBase, _basic_auth_str
from requests_oauthlib import OAuth2Session

from .errors import (LOGIN_AGAIN, ApiError, AuthError, ConfluenceError, ReauthorizeRequired,
                     SiteUnreachable)
from .ratelimit import RetryPolicy
from .tokens import REFRESH_MARGIN, TokenSet, TokenStore

DEFAULT_AUTH_URL = "https://auth.atlassian.com"
DEFAULT_API_URL = "https://api.atlassian.com"
AUDIENCE = "api.atlassian.com"
CONSOLE_URL = "https://developer.atlassian.com/console/myapps/"

# offline_access (refresh tokens), the classic and granular read scopes the connector was
# seeded with, and every further scope the specs' `x-atlassian-oauth2-scopes` require for an
# operation the client calls (tests/test_client_scopes.py checks this against the specs):
# ancestors need read:content.metadata, descendants/direct-children read:hierarchical-content,
# the site-wide label list read:label. The seed's read:account and read:permission:confluence
# are left out: no Confluence operation uses them and neither spec declares them.
REQUIRED_SCOPES: tuple[str, ...] = (
    "offline_access",
    "read:confluence-content.all",
    "read:confluence-content.summary",
    "read:confluence-props",
    "read:confluence-space.summary",
    "read:confluence-user",
    "read:confluence-groups",
    "search:confluence",
    "read:content-details:confluence",
    "read:page:confluence",
    "read:blogpost:confluence",
    "read:attachment:confluence",
    "read:comment:confluence",
    "read:space:confluence",
    "read:user:confluence",
    "read:group:confluence",
    "read:audit-log:confluence",
    "read:folder:confluence",
    "read:email-address:confluence",
    "read:content.metadata:confluence",
    "read:hierarchical-content:confluence",
    "read:label:confluence",
)

PROBE_INTERVAL = 60.0  # seconds an access token counts as live after a probe said so
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS


class BasicTokenAuth(AuthBase):
    """Email + API token, sent as basic auth to the site host."""

    def __init__(self, email: str, api_token: str) -> None:
        self.email = email
        self._header = _basic_auth_str(email, api_token)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return f"BasicTokenAuth(email={self.email!r})"


@dataclass(frozen=True)
class AuthorizationRequest:
    """One login attempt: the URL to open, and what must come back with the code."""

    url: str = field(repr=False)  # carries state and the PKCE challenge
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)


@contextlib.contextmanager
def _allow_http_for_loopback(url: str) -> Iterator[None]:
    """oauthlib insists on https; a local emulator on 127.0.0.1 speaks http."""
    if not url.startswith("http://") or not is_loopback(url) or os.environ.get("OAUTHLIB_INSECURE_TRANSPORT"):
        yield
        return
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)


def _page_text(html: str) -> str:
    """The readable text of a small HTML error page (the paragraphs under its heading)."""
    paragraphs = re.findall(r"<p[^>]*>(.*?)</p>", html, flags=re.S | re.I)
    text = " ".join(re.sub(r"<[^>]+>", "", p).strip() for p in paragraphs) or re.sub(r"<[^>]+>", " ", html)
    return unescape(" ".join(text.split()))[:300]


def _oauth_error(response: requests.Response) -> tuple[str, str]:
    """(error, error_description) of an auth-server answer, tolerating non-JSON bodies."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200].strip()
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("error_description") or body.get("message") or "")


class OAuthApp:
    """An OAuth 2.0 (3LO) app: client credentials, callback URL, auth server and gateway."""

    def __init__(self, client_id: str, client_secret: str, *, redirect_uri: str | None = None,
                 auth_url: str = DEFAULT_AUTH_URL, api_url: str = DEFAULT_API_URL,
                 scopes: tuple[str, ...] = REQUIRED_SCOPES, session: requests.Session | None = None,
                 timeout: tuple[float, float] = (10.0, 30.0), retry: RetryPolicy | None = None) -> None:
        if not client_id or not client_secret:
            raise AuthError("OAuth needs the app's client id and secret: set CONFLUENCE_CLIENT_ID and "
                            f"CONFLUENCE_CLIENT_SECRET from the app's Settings page at {CONSOLE_URL}")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.auth_url = auth_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.scopes = scopes
        self.timeout = timeout
        self.retry = retry or RetryPolicy(max_rate_limit_wait=60.0, max_outage=30.0, base_delay=1.0)
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"OAuthApp(client_id={self.client_id!r}, auth_url={self.auth_url!r}, api_url={self.api_url!r})"

    def close(self) -> None:
        self._session.close()

    # -- the authorization URL -----------------------------------------------------------
    def authorization_request(self) -> AuthorizationRequest:
        if not self.redirect_uri:
            raise AuthError("OAuth login needs the app's callback URL: set CONFLUENCE_REDIRECT_URI to the "
                            f"callback URL registered on the app's Authorization page at {CONSOLE_URL}")
        client = WebApplicationClient(self.client_id)
        oauth = OAuth2Session(client=client, redirect_uri=self.redirect_uri, scope=list(self.scopes),
                              pkce="S256")
        authorize = f"{self.auth_url}/authorize"
        with _allow_http_for_loopback(authorize):
            url, state = oauth.authorization_url(authorize, audience=AUDIENCE, prompt="consent")
        return AuthorizationRequest(url=url, state=state, code_verifier=client.code_verifier)

    def check_authorization_url(self, request: AuthorizationRequest) -> None:
        """Ask the auth server for the authorization page once, before the user's browser does.

        A wrong callback URL or client id is answered with an error page (4xx) that the user
        would see only in the browser while the login waits; this turns it into a clear error.
        """
        response = self._send("GET", request.url, allow_redirects=False)
        if response.status_code < 400:
            return
        problem = _page_text(response.text) or f"{response.status_code} {response.reason}"
        raise AuthError(
            f"Atlassian's authorization page refused the login request ({problem}). Usually the callback "
            f"URL is the cause: CONFLUENCE_REDIRECT_URI ({self.redirect_uri}) must equal the callback URL on "
            "the app's Authorization page exactly (scheme, host, port, path, trailing slash) at "
            f"{CONSOLE_URL}; otherwise check CONFLUENCE_CLIENT_ID",
            status=response.status_code, url=f"{self.auth_url}/authorize", detail=problem)

    # -- the token endpoint --------------------------------------------------------------
    def exchange_code(self, code: str, code_verifier: str) -> dict[str, Any]:
        return self._token_request({"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": self.redirect_uri, "code_verifier": code_verifier},
                                   refreshing=False)

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token},
                                   refreshing=True)

    def _token_request(self, grant: dict[str, Any], *, refreshing: bool) -> dict[str, Any]:
        url = f"{self.auth_url}/oauth/token"
        body = {"client_id": self.client_id, "client_secret": self._client_secret, **grant}
        # Retrying a refresh whose answer was lost is safe: the used token stays valid for
        # Atlassian's 10-minute leeway.
        response = self._send("POST", url, json=body)
        if response.status_code == 200:
            tokens = response.json()
            if not isinstance(tokens, dict) or not tokens.get("access_token"):
                raise ApiError(f"The auth server at {self.auth_url} answered without an access token: "
                               "check CONFLUENCE_AUTH_URL", status=200, url=url)
            return tokens
        error, description = _oauth_error(response)
        status = response.status_code
        said = f"{status} {error}: {description}".strip(": ")
        where = {"status": status, "url": url, "detail": description}
        if status == 401 or error in ("access_denied", "invalid_client"):
            raise AuthError(f"Atlassian's auth server rejected the app's client id or secret ({said}): "
                            "check CONFLUENCE_CLIENT_ID and CONFLUENCE_CLIENT_SECRET against the app's "
                            f"Settings page at {CONSOLE_URL}", **where)
        if refreshing and error in ("invalid_grant", "unauthorized_client"):
            raise ReauthorizeRequired(
                f"Atlassian refused the stored refresh token ({said}): it was revoked, expired (90 days "
                "unused, 365 days at most), or reused after another process rotated it. "
                f"To get a new one, {LOGIN_AGAIN}", **where)
        if error == "invalid_grant" and "redirect" in description.lower():
            raise AuthError(f"The callback URL sent with the code does not match ({said}): set "
                            "CONFLUENCE_REDIRECT_URI to exactly the callback URL registered on the app's "
                            f"Authorization page at {CONSOLE_URL}", **where)
        if error == "invalid_grant":
            raise AuthError(f"Atlassian refused the authorization code ({said}): codes are single-use and "
                            f"expire within minutes; {LOGIN_AGAIN}", **where)
        raise ApiError(f"Atlassian's auth server answered {said}: check CONFLUENCE_AUTH_URL, and retry "
                       "later if it is a server error", **where)

    # -- the gateway -----------------------------------------------------------------------
    def accessible_resources(self, access_token: str) -> list[dict[str, Any]]:
        """The sites this token may reach: `[{id (cloudId), name, url, scopes, avatarUrl}]`."""
        url = f"{self.api_url}/oauth/token/accessible-resources"
        response = self._send("GET", url, headers={"Authorization": f"Bearer {access_token}"})
        if response.status_code == 401:
            raise AuthError(f"The gateway at {self.api_url} did not accept the new access token (401): "
                            "check that CONFLUENCE_API_URL and CONFLUENCE_AUTH_URL belong together; "
                            f"{LOGIN_AGAIN}", status=401, url=url)
        if response.status_code != 200:
            _, description = _oauth_error(response)
            raise ApiError(f"Listing the sites this login may use failed ({response.status_code} "
                           f"{description}): retry later", status=response.status_code, url=url,
                           detail=description)
        resources = response.json()
        if not isinstance(resources, list):
            raise ApiError(f"accessible-resources at {self.api_url} did not answer a list: check "
                           "CONFLUENCE_API_URL", status=200, url=url)
        return resources

    def token_is_live(self, access_token: str) -> bool:
        """Whether the gateway still accepts `access_token` (a probe that costs no API points)."""
        url = f"{self.api_url}/oauth/token/accessible-resources"
        response = self._send("GET", url, headers={"Authorization": f"Bearer {access_token}"})
        return response.status_code != 401

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One call to the auth server or gateway, retried on 429, 5xx and lost connections.

        After the last try a 429/5xx answer is returned for the caller to explain.
        """
        host = urlsplit(url).netloc
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                status, headers, reason = None, {}, type(exc).__name__
                response = None
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                status, headers, reason = response.status_code, response.headers, str(response.status_code)
            delay = self.retry.delay(attempt, status, headers)
            budget = self.retry.max_rate_limit_wait if status == 429 else self.retry.max_outage
            if waited + delay > budget:
                if response is not None:
                    return response  # the caller explains the 429/5xx
                raise SiteUnreachable(f"Could not reach {host} ({reason}) after {attempt} tries and {waited:.0f} s: "
                                      "check the network or proxy, and CONFLUENCE_AUTH_URL / CONFLUENCE_API_URL "
                                      "if you set them", url=url)
            self.retry.sleep(delay)
            waited += delay


class OAuthTokenAuth(AuthBase):
    """Bearer auth for the gateway, with tokens from a `TokenStore` that refreshes them safely."""

    def __init__(self, store: TokenStore, app: OAuthApp, *, margin: float = REFRESH_MARGIN,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.app = app
        self.margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: TokenSet | None = None
        self._confirmed: tuple[str, float] | None = None  # (access token, when a probe found it live)

    def __repr__(self) -> str:
        return f"OAuthTokenAuth(store={self.store!r}, app={self.app!r})"

    def tokens(self) -> TokenSet:
        """Tokens good for more than the margin (refreshed through the store when needed)."""
        with self._lock:
            if self._tokens is None or not self._tokens.fresh(self.margin):
                self._tokens = self.store.fresh_tokens(self.app.refresh, margin=self.margin)
            return self._tokens

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.tokens().access_token}"
        return request

    def renew(self, rejected: requests.PreparedRequest) -> None:
        """The API rejected the token `rejected` carried: replace it (once across processes)."""
        with self._lock:
            self._tokens = self.store.fresh_tokens(self.app.refresh, margin=self.margin,
                                                   stale_access_token=_bearer(rejected))

    def token_expired(self, rejected: requests.PreparedRequest) -> bool:
        """After a 403/404: was it the token? Atlassian has answered expired tokens that way
        (FACTS.md §11). A cheap probe tells; a token found live is trusted for a minute."""
        token = _bearer(rejected)
        if token is None:
            return False
        now = self._clock()
        with self._lock:
            if self._confirmed and self._confirmed[0] == token and now - self._confirmed[1] < PROBE_INTERVAL:
                return False
        try:
            live = self.app.token_is_live(token)
        except ConfluenceError:
            return False  # the probe itself failed: keep the original answer
        if live:
            with self._lock:
                self._confirmed = (token, now)
        return not live


def _bearer(request: requests.PreparedRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else None
