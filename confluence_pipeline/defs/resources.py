"""The Dagster resource that hands assets a `ConfluenceClient`.

Secrets (`api_token`, `client_secret`) are plain `str` fields meant to be set with
`dagster.EnvVar("CONFLUENCE_API_TOKEN")` / `EnvVar("CONFLUENCE_CLIENT_SECRET")`: Dagster then
shows the variable's name in the UI, never its value. OAuth tokens come from the token store
that `confluence-pipeline auth login` wrote, never from configuration.
"""

from __future__ import annotations

from typing import Any, Iterator, Literal

import dagster as dg
from pydantic import PrivateAttr

from ..confluence.auth import DEFAULT_API_URL, DEFAULT_AUTH_URL, OAuthApp
from ..confluence.client import ConfluenceClient
from ..confluence.ratelimit import RetryPolicy
from ..confluence.tokens import TokenStore
from ..settings import Settings

SECRET_FIELDS = frozenset({"api_token", "client_secret"})


class ConfluenceResource(dg.ConfigurableResource):
    """Confluence Cloud, through an API token (site + email + token) or OAuth 2.0 (3LO)."""

    mode: Literal["api_token", "oauth", "demo"] = "api_token"  # demo: the bundled emulator
    site_url: str = ""  # api_token mode: https://{site}.atlassian.net
    email: str = ""
    api_token: str = ""  # set with EnvVar("CONFLUENCE_API_TOKEN")
    client_id: str = ""
    client_secret: str = ""  # set with EnvVar("CONFLUENCE_CLIENT_SECRET")
    token_file: str = ""  # "" → $CONFLUENCE_TOKEN_FILE or ~/.config/confluence-pipeline/tokens.json
    auth_url: str = DEFAULT_AUTH_URL
    api_url: str = DEFAULT_API_URL
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    max_rate_limit_wait_s: float = 600.0  # sync.max_rate_limit_wait
    max_outage_s: float = 300.0  # sync.max_outage

    _client: ConfluenceClient | None = PrivateAttr(default=None)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """The pydantic repr, with the secrets masked once Dagster has resolved them."""
        for name, value in super().__repr_args__():
            yield name, ("***" if name in SECRET_FIELDS and value else value)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._client = self.build_client()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def build_client(self) -> ConfluenceClient:
        options = dict(timeout=(self.connect_timeout_s, self.read_timeout_s),
                       retry=RetryPolicy(max_rate_limit_wait=self.max_rate_limit_wait_s, max_outage=self.max_outage_s))
        if self.mode == "demo":
            from ..emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL
            from ..emulator.demo import ensure_demo_emulator

            return ConfluenceClient.with_api_token(ensure_demo_emulator(), DEFAULT_EMAIL, DEFAULT_API_TOKEN,
                                                   **options)
        if self.mode == "api_token":
            return ConfluenceClient.with_api_token(self.site_url, self.email, self.api_token, **options)
        app = OAuthApp(self.client_id, self.client_secret, auth_url=self.auth_url, api_url=self.api_url)
        return ConfluenceClient.with_oauth(TokenStore(self.token_file or None), app, **options)

    def site(self) -> str:
        """The site's URL: the configured one (API token) or the one chosen at `auth login` (OAuth)."""
        return self.get_client().site_url

    def get_client(self) -> ConfluenceClient:
        """The client of this run (built on first use outside a run, e.g. in tests)."""
        if self._client is None:
            self._client = self.build_client()
        return self._client


def confluence_resource_from_settings(settings: Settings) -> ConfluenceResource:
    """The resource for the configured auth mode; secrets stay environment variables (EnvVar)."""
    auth = settings.auth
    common = dict(auth_url=auth.auth_url, api_url=auth.api_url, max_rate_limit_wait_s=settings.sync.max_rate_limit_wait,
                  max_outage_s=settings.sync.max_outage)
    if auth.mode == "api_token":
        return ConfluenceResource(mode="api_token", site_url=auth.site_url or "", email=auth.email or "",
                                  api_token=dg.EnvVar("CONFLUENCE_API_TOKEN"), **common)
    if auth.mode == "oauth":
        return ConfluenceResource(mode="oauth", client_id=auth.client_id or "",
                                  client_secret=dg.EnvVar("CONFLUENCE_CLIENT_SECRET"),
                                  token_file=str(auth.token_file), **common)
    return ConfluenceResource(mode="demo", **common)
