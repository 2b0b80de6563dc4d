"""What the OAuth 2.0 (3LO) server keeps: the client, grants, authorization requests and codes,
token families and tokens, and the two kinds of /authorize error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

AUDIENCE = "api.atlassian.com"
REFRESH_INACTIVITY = timedelta(days=90)
REFRESH_ABSOLUTE = timedelta(days=365)


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uri: str
    name: str = "Confluence Pipeline"  # shown on the consent page


@dataclass(frozen=True)
class Grant:
    """What a valid access token stands for."""

    account_id: str
    scopes: frozenset[str]
    cloud_ids: tuple[str, ...]


@dataclass(frozen=True)
class AuthRequest:
    """A validated /authorize request."""

    redirect_uri: str
    scope: str  # as sent, space-separated
    state: str
    prompt: str
    code_challenge: str
    code_challenge_method: str  # "" when no challenge

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    def form_fields(self, client_id: str) -> dict[str, str]:
        """The query string that produced this request, to carry through the consent form."""
        return {"audience": AUDIENCE, "client_id": client_id, "response_type": "code",
                "redirect_uri": self.redirect_uri, "scope": self.scope, "state": self.state,
                "prompt": self.prompt, "code_challenge": self.code_challenge,
                "code_challenge_method": self.code_challenge_method}


@dataclass(eq=False)
class Family:
    """Every token descended from one consent (one code exchange)."""

    account_id: str
    scopes: frozenset[str]
    consented_at: datetime
    last_refresh_at: datetime
    revoked: bool = False

    def expired(self, now: datetime) -> bool:
        return now - self.consented_at >= REFRESH_ABSOLUTE or now - self.last_refresh_at >= REFRESH_INACTIVITY


@dataclass(eq=False)
class Code:
    request: AuthRequest
    account_id: str
    expires_at: datetime
    family: Family | None = None  # set once exchanged: the code is spent


@dataclass(eq=False)
class RefreshToken:
    family: Family
    rotated_at: datetime | None = None  # when it was first exchanged (the leeway starts then)


@dataclass(eq=False)
class AccessToken:
    family: Family
    expires_at: datetime


class PageError(Exception):
    """An /authorize problem that must not be redirected: the callback itself is in doubt."""


class RedirectError(Exception):
    """An /authorize problem reported to the (verified) callback."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
