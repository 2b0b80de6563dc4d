"""The OAuth token store: safe with Atlassian's rotating refresh tokens across processes.

Each refresh invalidates the refresh token it used; reusing an old one after a 10-minute
leeway revokes the whole grant (FACTS.md §7). Dagster runs steps in several processes, so the
store keeps the rules that make that safe:

- one JSON file, written atomically (temp file in the same directory, fsync, `os.replace`,
  directory fsync), mode 0600;
- a cross-process lock (`filelock`) around every refresh: under it the file is read again and,
  when another process already refreshed, its tokens are used instead of refreshing again;
- the new refresh token is on disk before the new access token is handed out;
- a refresh answer without `refresh_token` keeps the old one;
- access tokens are refreshed ahead of expiry (a margin, 5 minutes by default).

Location: `$CONFLUENCE_TOKEN_FILE`, else `~/.config/confluence-pipeline/tokens.json`. Besides
the tokens the file holds the chosen site (url, name, cloud id), the granted scopes and the
access token's expiry: what `auth status` shows. Tokens never appear in a repr or a message.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from filelock import FileLock, Timeout

from .errors import LOGIN_AGAIN, ConfluenceError, ReauthorizeRequired

TOKEN_FILE_ENV = "CONFLUENCE_TOKEN_FILE"
DEFAULT_TOKEN_FILE = "~/.config/confluence-pipeline/tokens.json"
REFRESH_MARGIN = 300.0  # seconds before expiry at which an access token is refreshed

# refresh(refresh_token) -> the auth server's token response
Refresher = Callable[[str], Mapping[str, Any]]


def default_token_path() -> Path:
    return Path(os.environ.get(TOKEN_FILE_ENV) or DEFAULT_TOKEN_FILE).expanduser()


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    scopes: tuple[str, ...]
    site_url: str
    cloud_id: str
    site_name: str = ""

    def fresh(self, margin: float = REFRESH_MARGIN, now: datetime | None = None) -> bool:
        """True while the access token has more than `margin` seconds left."""
        return (now or _now()) < self.expires_at - timedelta(seconds=margin)

    @staticmethod
    def expiry_from(response: Mapping[str, Any], now: datetime | None = None) -> datetime:
        """When the access token of a token response expires (`expires_in` seconds from now)."""
        return (now or _now()) + timedelta(seconds=float(response.get("expires_in", 3600)))

    def rotated(self, response: Mapping[str, Any], now: datetime | None = None) -> "TokenSet":
        """These tokens after a refresh answered `response` (which may lack a refresh token)."""
        scope = response.get("scope")
        return replace(
            self,
            access_token=response["access_token"],
            refresh_token=response.get("refresh_token") or self.refresh_token,
            expires_at=self.expiry_from(response, now),
            scopes=tuple(scope.split()) if isinstance(scope, str) and scope.strip() else self.scopes,
        )

    def describe(self) -> dict[str, Any]:
        """Everything but the tokens: safe to print, log or attach as metadata."""
        return {"site_url": self.site_url, "site_name": self.site_name, "cloud_id": self.cloud_id,
                "scopes": list(self.scopes), "expires_at": self.expires_at.isoformat()}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["expires_at"] = self.expires_at.isoformat()
        data["scopes"] = list(self.scopes)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TokenSet":
        expires_at = datetime.fromisoformat(data["expires_at"])
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=timezone.utc)
        return cls(access_token=data["access_token"], refresh_token=data["refresh_token"],
                   expires_at=expires_at, scopes=tuple(data.get("scopes", ())), site_url=data["site_url"],
                   cloud_id=data["cloud_id"], site_name=data.get("site_name", ""))


class TokenStore:
    """Tokens in one JSON file, refreshed by one process at a time."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, lock_timeout: float = 60.0) -> None:
        self.path = Path(path).expanduser() if path else default_token_path()
        self.lock_timeout = lock_timeout
        self._lock = FileLock(f"{self.path}.lock", timeout=lock_timeout, mode=0o600)

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    # -- reading and writing -------------------------------------------------------------
    def load(self) -> TokenSet | None:
        """The stored tokens, or None when nobody has logged in."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return TokenSet.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError):
            raise ReauthorizeRequired(f"The token file {self.path} is damaged and cannot be read: "
                                      f"delete it and {LOGIN_AGAIN}") from None

    def save(self, tokens: TokenSet) -> None:
        with self.locked():
            self._write(tokens)

    def delete(self) -> bool:
        """Forget the tokens; True when there were any."""
        with self.locked():
            try:
                self.path.unlink()
            except FileNotFoundError:
                return False
            return True

    def locked(self) -> "_ClearTimeout":
        """The cross-process lock, as a context manager (raises a clear error on timeout)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return _ClearTimeout(self._lock, self.path)

    def _write(self, tokens: TokenSet) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".tokens-", suffix=".tmp", dir=directory)  # created 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(tokens.to_json(), handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    # -- the refresh protocol --------------------------------------------------------------
    def fresh_tokens(self, refresh: Refresher, *, margin: float = REFRESH_MARGIN,
                     stale_access_token: str | None = None) -> TokenSet:
        """Tokens whose access token is good for more than `margin` seconds.

        `stale_access_token`: an access token the API has just rejected; it is refreshed away
        even if its expiry says it is still good, unless another process already did.
        """
        with self.locked():
            tokens = self.load()
            if tokens is None:
                raise ReauthorizeRequired(f"No Confluence login is stored in {self.path}: {LOGIN_AGAIN} "
                                          f"(or set {TOKEN_FILE_ENV} to the file it wrote)")
            if tokens.access_token != stale_access_token and tokens.fresh(margin):
                return tokens  # still good, or another process refreshed while we waited
            response = refresh(tokens.refresh_token)
            renewed = tokens.rotated(response)
            self._write(renewed)  # the rotated refresh token is on disk before anyone uses it
            return renewed


class _ClearTimeout:
    """Enter `lock`, turning a lock timeout into an error that says what to do."""

    def __init__(self, lock: FileLock, path: Path) -> None:
        self._lock = lock
        self._path = path

    def __enter__(self) -> None:
        try:
            self._lock.acquire()
        except Timeout:
            raise ConfluenceError(
                f"Another process has held the token lock {self._path}.lock for more than "
                f"{self._lock.timeout:.0f} s: wait for it to finish, or stop it and retry") from None

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
