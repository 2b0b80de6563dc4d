"""The connector's one way of talking to Confluence Cloud: `ConfluenceClient`.

Its typed methods return models, and generators for lists, so memory stays flat however long a
listing is. Reads by id go in bulk where the API allows (`id=` up to 250, `space-id=` up to 100,
users-bulk 250, v1 user/bulk 100, CQL `id in (...)` with restrictions expanded): callers never
loop one call per object.

OAuth talks to the gateway: `{api_url}/ex/confluence/{cloudId}/wiki/...`. Either way every
request is a site-relative path (`/wiki/...`) put behind `root_url`.


Where the rest is: `transport.py` sends every call (one pooled session, auth, the retry policy,
pacing, the call counters) and `failures.py` words what went wrong; `operations.py` is the
catalogue of spec operations and `reads.py` turns them into typed reads and listings through the
pagers of `pagination.py`. The operations themselves are `content.py` (spaces, pages, blog posts,
the tree, comments, attachments, labels) and `directory.py` (users, groups, restrictions, audit,
CQL search).
"""

from __future__ import annotations

from typing import Any

import requests
from requests.auth import AuthBase

from .auth import BasicTokenAuth, OAuthApp, OAuthTokenAuth
from .content import ContentReads
from .directory import DirectoryReads
from .errors import AuthError, check_site_url
from .failures import API_TOKENS_URL
from .operations import V2_LIMIT
from .ratelimit import Pacer, RetryPolicy
from .tokens import TokenStore
from .transport import Transport


class ConfluenceClient(ContentReads, DirectoryReads):
    """Typed, paginated, rate-limit-aware reads of one Confluence Cloud site."""

    def __init__(self, root_url: str, auth: AuthBase, *, site_url: str | None = None,
                 retry: RetryPolicy | None = None, pacer: Pacer | None = None,
                 timeout: tuple[float, float] = (10.0, 60.0), pool_size: int = 10, page_size: int = V2_LIMIT,
                 session: requests.Session | None = None) -> None:
        if not 1 <= page_size <= V2_LIMIT:
            raise ValueError(f"page_size must be between 1 and {V2_LIMIT}, not {page_size}")
        transport = Transport(root_url, auth, retry=retry, pacer=pacer, timeout=timeout, pool_size=pool_size,
                              session=session)
        super().__init__(transport, site_url=(site_url or root_url).rstrip("/"), page_size=page_size)
        self.root_url = transport.root_url
        self.timeout = transport.timeout
        self.retry = transport.retry
        self.pacer = transport.pacer
        self.throttle = transport.throttle
        self._auth = auth

    @classmethod
    def with_api_token(cls, site_url: str, email: str, api_token: str, **kwargs: Any) -> "ConfluenceClient":
        """A client of `https://{site}.atlassian.net` with an email and API token (basic auth)."""
        if not site_url or not email or not api_token:
            raise AuthError("API-token mode needs the site URL, the account's email and an API token: "
                            "set CONFLUENCE_SITE_URL, CONFLUENCE_EMAIL and CONFLUENCE_API_TOKEN (create a "
                            f"token at {API_TOKENS_URL})")
        try:
            check_site_url(site_url)
        except ValueError as exc:
            raise AuthError(f"The {exc}") from None
        return cls(site_url, BasicTokenAuth(email, api_token), site_url=site_url, **kwargs)

    @classmethod
    def with_oauth(cls, store: TokenStore, app: OAuthApp, **kwargs: Any) -> "ConfluenceClient":
        """A client of the site chosen at `auth login`, through the OAuth gateway."""
        auth = OAuthTokenAuth(store, app)
        tokens = auth.tokens()
        return cls(f"{app.api_url}/ex/confluence/{tokens.cloud_id}", auth, site_url=tokens.site_url, **kwargs)

    def __repr__(self) -> str:
        return f"ConfluenceClient(root_url={self.root_url!r}, auth={self._auth!r})"

    def close(self) -> None:
        self._transport.close()

    def stop(self) -> None:
        """End every wait (backoff, Retry-After, pacing, a free slot) of every thread using this client
        at once, and send no more requests: its step is being interrupted (the run cancelled), and the
        threads must not sit out a 30 s backoff first. Each raises `Stopped`."""
        self._transport.stop()

    def __enter__(self) -> "ConfluenceClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        """Calls and estimated API points, in total and by operation; retries, renewals, waits."""
        return self._transport.stats()

    def reset_stats(self) -> None:
        self._transport.reset_stats()
