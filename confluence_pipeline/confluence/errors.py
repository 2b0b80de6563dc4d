"""The errors the Confluence client raises: one small tree, each naming the cause and the fix.

    ConfluenceError
    ├── AuthError               credentials, callback URL, consent, scopes
    │   └── ReauthorizeRequired the refresh token is revoked, reused or expired: log in again
    ├── PermissionDenied        403 on one object: report it and skip it
    ├── NotFound                404: gone, or (v2) not visible to this user: report and skip
    ├── RateLimited             429 past the retry budget
    ├── SiteUnreachable         no HTTP answer at all (DNS, refused, dropped, timed out)
    ├── TooLarge                an attachment over the download size cap
    └── ApiError                any other failed answer

Every error carries the HTTP `status` (None when there was no answer), a redacted `url` and the
service's own `detail`. Secrets never reach a message: URLs go through `redact_url`, and tokens
are never put in a message in the first place.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters whose values are secrets (or one-time credentials) wherever they appear.
SECRET_PARAMS = frozenset({"access_token", "refresh_token", "token", "code", "client_secret",
                           "code_verifier", "password", "api_token", "state", "jwt", "signature"})

LOGIN_AGAIN = "run `confluence-pipeline auth login` again"


def redact_url(url: str | None) -> str | None:
    """`url` without user info and with the values of secret query parameters masked."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode([(k, "***" if k.lower() in SECRET_PARAMS else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*,")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class ConfluenceError(Exception):
    """Base of every client error. `str(err)` is the message: what happened and what to do."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None,
                 detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = redact_url(url)
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, url={self.url!r}, message={self.message!r})"


class AuthError(ConfluenceError):
    """Authentication or authorization failed: wrong credentials, callback URL, site, scopes."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None,
                 detail: str | None = None, missing_scopes: tuple[str, ...] = ()) -> None:
        super().__init__(message, status=status, url=url, detail=detail)
        self.missing_scopes = missing_scopes


class ReauthorizeRequired(AuthError):
    """The stored grant cannot be used any more (revoked, reused, expired, or never made)."""


class PermissionDenied(ConfluenceError):
    """The user may not read this object. Callers report it and go on with the rest."""


class NotFound(ConfluenceError):
    """The object does not exist, or (Confluence v2) the user cannot see it. Report and skip."""


class RateLimited(ConfluenceError):
    """Confluence kept answering 429 past the retry budget, or the hourly points are used up."""


class SiteUnreachable(ConfluenceError):
    """No HTTP answer: the host did not resolve, refused, dropped the connection or timed out."""


class TooLarge(ConfluenceError):
    """A download is larger than the configured cap; nothing was kept."""


class ApiError(ConfluenceError):
    """Any other failed answer (400, 5xx past the retry budget, unexpected bodies)."""


def check_site_url(site_url: str) -> None:
    """Refuse a site URL with a path (e.g. `.../wiki`): the client adds `/wiki/...` itself."""
    path = urlsplit(site_url.strip()).path.rstrip("/")
    if path:
        root = site_url.strip().rstrip("/")[: -len(path)]
        fix = "drop /wiki from it" if path.endswith("/wiki") else f"drop {path} from it"
        raise ValueError(f"site URL {site_url!r} must be the site's root (e.g. https://your-site.atlassian.net), "
                         f"without a path: {fix} and use {root!r} (CONFLUENCE_SITE_URL)")
