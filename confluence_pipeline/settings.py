"""All settings in one validated model, read from a YAML file and the environment.

Where they come from, later wins:
1. defaults below;
2. the YAML file named by `CONFLUENCE_SETTINGS` (default `./confluence.yaml` if it exists);
3. environment variables: `CONFLUENCE_SITE_URL`, `CONFLUENCE_EMAIL`, `CONFLUENCE_API_TOKEN`,
   `CONFLUENCE_CLIENT_ID`, `CONFLUENCE_CLIENT_SECRET`, `CONFLUENCE_REDIRECT_URI`,
   `CONFLUENCE_AUTH_URL`, `CONFLUENCE_API_URL`, `CONFLUENCE_TOKEN_FILE`, `CONFLUENCE_DATA_DIR`,
   and for the lake `CONFLUENCE_CATALOG`, `CONFLUENCE_LAKE_PATH`, `CONFLUENCE_S3_ENDPOINT`,
   `CONFLUENCE_S3_REGION`, `CONFLUENCE_S3_URL_STYLE`, `CONFLUENCE_S3_USE_SSL`.

Secrets (API token, client secret, the catalog's password, S3 keys) come only from the
environment (`PGPASSWORD`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`): a YAML file that
holds one is refused, so that no secret is ever committed next to the settings.

The auth mode follows from what is set: a client id means OAuth 2.0 (3LO), an API token
means basic auth on the site, and nothing at all means demo mode on the bundled emulator.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from .confluence.errors import check_site_url
from .storage.lake import S3, Lake
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

DEFAULT_AUTH_URL = "https://auth.atlassian.com"
DEFAULT_API_URL = "https://api.atlassian.com"
SECRET_FIELDS = ("api_token", "client_secret")
_INTERVALS = {"1h": "0 * * * *", "6h": "0 */6 * * *", "24h": "0 0 * * *"}
_CRON = re.compile(r"^\s*(\S+\s+){4}\S+\s*$")


class SettingsError(ValueError):
    """Settings that cannot work; the message names the field and the fix."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthSettings(_Model):
    mode: Literal["demo", "api_token", "oauth"] = "demo"
    site_url: str | None = None
    email: str | None = None
    api_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    redirect_uri: str = "http://127.0.0.1:8976/callback"
    auth_url: str = DEFAULT_AUTH_URL
    api_url: str = DEFAULT_API_URL
    token_file: Path = Field(default_factory=lambda: Path.home() / ".config" / "confluence-pipeline" / "tokens.json")

    @field_validator("site_url")
    @classmethod
    def _site_root(cls, value: str | None) -> str | None:
        if value:
            check_site_url(value)
        return value

    @model_validator(mode="after")
    def _complete(self) -> "AuthSettings":
        if self.mode == "api_token":
            missing = [n for n in ("site_url", "email", "api_token") if not getattr(self, n)]
            if missing:
                env = ", ".join(f"CONFLUENCE_{n.upper()}" for n in missing)
                raise ValueError(f"API token mode needs {', '.join(missing)}: set {env}")
        if self.mode == "oauth":
            missing = [n for n in ("client_id", "client_secret") if not getattr(self, n)]
            if missing:
                env = ", ".join(f"CONFLUENCE_{n.upper()}" for n in missing)
                raise ValueError(f"OAuth mode needs {', '.join(missing)}: set {env} (from the Atlassian developer console)")
        return self


class DateRange(_Model):
    """Is After / Is Before / Is Between: `after` and `before` are exclusive day bounds."""

    after: date | None = None
    before: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "DateRange":
        if self.after and self.before and self.after >= self.before:
            raise ValueError(f"after ({self.after}) must be earlier than before ({self.before})")
        return self


class SyncFilters(_Model):
    """What is downloaded. Space keys are case-sensitive; page ids include all descendants."""

    space_keys_in: list[str] = []
    space_keys_not_in: list[str] = []
    page_ids_in: list[str] = []
    page_ids_not_in: list[str] = []
    blogpost_ids_in: list[str] = []
    blogpost_ids_not_in: list[str] = []
    modified: DateRange = DateRange()
    created: DateRange = DateRange()

    @field_validator("page_ids_in", "page_ids_not_in", "blogpost_ids_in", "blogpost_ids_not_in", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        if isinstance(value, list):
            value = [str(v) for v in value]
            bad = [v for v in value if not v.isdigit()]
            if bad:
                raise ValueError(f"content ids are numbers, not {', '.join(bad)}")
        return value


class IndexingFilters(_Model):
    """What reaches the search index (everything is synced either way)."""

    pages: bool = True
    page_attachments: bool = True
    page_comments: bool = True
    blogposts: bool = True
    blogpost_attachments: bool = True
    blogpost_comments: bool = True


class SearchSettings(_Model):
    """Ranking: `semantic` auto fuses BM25 with an embedding model when the `semantic` extra is
    installed, on requires it (an error names the fix), off is BM25 alone and drops the vectors."""

    semantic: Literal["auto", "on", "off"] = "auto"

    @field_validator("semantic", mode="before")
    @classmethod
    def _yaml_boolean(cls, value: Any) -> Any:
        """YAML reads a bare `on` / `off` as true / false."""
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


class SyncSettings(_Model):
    strategy: Literal["scheduled", "manual"] = "manual"
    interval: str = "24h"
    timezone: str = "UTC"
    start_date: date = date(2026, 1, 1)  # the first window also holds everything older
    # Retry budgets in seconds, per API call: how long 429s are waited out, and how long an outage
    # (5xx, dropped or refused connections, timeouts) is ridden through, before the step fails.
    max_rate_limit_wait: float = 600.0
    max_outage: float = 300.0
    # How often the change sensor asks Confluence what changed last (one API call per tick).
    sensor_interval: int = 30

    @field_validator("sensor_interval")
    @classmethod
    def _sensor_interval(cls, value: int) -> int:
        if not 5 <= value <= 86400:
            raise ValueError(f"must be a whole number of seconds from 5 to 86400 (a day), not {value}: each tick "
                             "makes one API call")
        return value

    @field_validator("max_rate_limit_wait", "max_outage")
    @classmethod
    def _budget(cls, value: float) -> float:
        if not 0 < value <= 86400:
            raise ValueError(f"must be a number of seconds between 0 and 86400 (a day), not {value}")
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if value in _INTERVALS or _CRON.match(value):
            return value
        raise ValueError(f"interval must be 1h, 6h, 24h or a cron expression, not {value!r}")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)") from None
        return value

    @property
    def cron(self) -> str:
        return _INTERVALS.get(self.interval, self.interval)

    # Dagster runs a step that failed on a transient error (rate limit, outage, 5xx) again, this many
    # times, after step_retry_delay_s doubling each time (with jitter): the second line behind the client's.
    step_retries: int = Field(3, ge=0)
    step_retry_delay_s: float = Field(30.0, ge=0)
    max_attachment_mb: int = Field(100, ge=1)  # a larger file is reported and not downloaded


class StorageSettings(_Model):
    """Where the lake lives. `catalog`: `sqlite` (the embedded default, <data dir>/catalog.sqlite),
    `sqlite:<file>`, or `postgres:<libpq connection string or postgresql:// URI>` (its password
    from PGPASSWORD). `data_path`: a folder (default <data dir>/lake) or s3://bucket/prefix."""

    catalog: str = "sqlite"
    data_path: str | None = None
    schema_name: str = "main"
    s3_endpoint: str | None = None  # host[:port] of an S3-compatible server; unset: AWS
    s3_region: str = "us-east-1"
    s3_url_style: Literal["path", "vhost"] = "vhost"
    s3_use_ssl: bool = True
    retention_days: int = Field(30, ge=1)  # snapshots older than this are expired by maintenance

    @field_validator("catalog")
    @classmethod
    def _catalog(cls, value: str) -> str:
        kind = value.split(":", 1)[0]
        if kind not in ("sqlite", "postgres", "postgresql"):
            raise ValueError(f"{value!r} is not a catalog: use sqlite, sqlite:<file>, postgres:dbname=<db> "
                             "host=<host> user=<user>, or a postgresql:// URI")
        return value

    @field_validator("schema_name")
    @classmethod
    def _schema(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
            raise ValueError(f"{value!r} is not a schema name: lower-case letters, digits and _")
        return value


class Settings(_Model):
    auth: AuthSettings = AuthSettings()
    sync: SyncSettings = SyncSettings()
    filters: SyncFilters = SyncFilters()
    indexing: IndexingFilters = IndexingFilters()
    search: SearchSettings = SearchSettings()
    storage: StorageSettings = StorageSettings()
    data_dir: Path = Path("data")
    owners: list[str] = []  # of every asset, in the Dagster catalog: an email or team:<name>
    tags: dict[str, str] = {}  # on every asset in the Dagster catalog

    @field_validator("owners")
    @classmethod
    def _owners(cls, owners: list[str]) -> list[str]:
        for owner in owners:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+|team:[A-Za-z0-9_-]+", owner):
                raise ValueError(f"owner {owner!r} is neither an email address nor team:<name> "
                                 "(letters, digits, - and _)")
        return owners

    @property
    def lake(self) -> Lake:
        """The lake the tables live in (catalog, data files, spill room)."""
        local = Lake.local(self.data_dir)
        st = self.storage
        catalog = local.catalog if st.catalog == "sqlite" else st.catalog
        if catalog.startswith("sqlite:"):
            catalog = f"sqlite:{Path(catalog.split(':', 1)[1]).resolve()}"
        elif catalog.startswith("postgresql://"):
            catalog = f"postgres:{catalog}"
        elif catalog.startswith("postgresql:"):
            catalog = "postgres:" + catalog.split(":", 1)[1]
        data_path = st.data_path or local.data_path
        if not data_path.startswith("s3://"):
            data_path = f"{Path(data_path).resolve()}/"
        elif not data_path.endswith("/"):
            data_path += "/"
        s3 = S3(endpoint=st.s3_endpoint, region=st.s3_region, url_style=st.s3_url_style, use_ssl=st.s3_use_ssl)
        return Lake(catalog=catalog, data_path=data_path, work_dir=local.work_dir, s3=s3, schema=st.schema_name,
                    legacy_file=local.legacy_file)


def holds_password(catalog: str) -> bool:
    """A catalog connection string with a password in it (that belongs in PGPASSWORD)."""
    return bool(re.search(r"password\s*=|://[^/@\s]+:[^/@\s]+@", catalog))


def problems(exc: ValidationError) -> str:
    """A validation error as `field.path: message; ...`."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())


_ENV_AUTH = {
    "CONFLUENCE_SITE_URL": "site_url", "CONFLUENCE_EMAIL": "email", "CONFLUENCE_API_TOKEN": "api_token",
    "CONFLUENCE_CLIENT_ID": "client_id", "CONFLUENCE_CLIENT_SECRET": "client_secret",
    "CONFLUENCE_REDIRECT_URI": "redirect_uri", "CONFLUENCE_AUTH_URL": "auth_url", "CONFLUENCE_API_URL": "api_url",
    "CONFLUENCE_TOKEN_FILE": "token_file",
}


_ENV_STORAGE = {
    "CONFLUENCE_CATALOG": "catalog", "CONFLUENCE_LAKE_PATH": "data_path", "CONFLUENCE_S3_ENDPOINT": "s3_endpoint",
    "CONFLUENCE_S3_REGION": "s3_region", "CONFLUENCE_S3_URL_STYLE": "s3_url_style",
    "CONFLUENCE_S3_USE_SSL": "s3_use_ssl",
}


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the YAML file and the environment, validated; SettingsError if unusable."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    file = Path(path or env.get("CONFLUENCE_SETTINGS") or "confluence.yaml")
    if path or env.get("CONFLUENCE_SETTINGS") or file.exists():
        if not file.exists():
            raise SettingsError(f"Settings file {file} does not exist: create it or unset CONFLUENCE_SETTINGS")
        try:
            raw = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise SettingsError(f"Settings file {file} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise SettingsError(f"Settings file {file} must hold a mapping of sections (auth, sync, filters, indexing, "
                                "search, storage)")
        if holds_password(str((raw.get("storage") or {}).get("catalog", ""))):
            raise SettingsError(f"Settings file {file} holds a password in storage.catalog: secrets come only from the "
                                "environment; remove it from the file and set PGPASSWORD (or CONFLUENCE_CATALOG)")
        secrets_in_file = [k for k in SECRET_FIELDS if k in (raw.get("auth") or {})]
        if secrets_in_file:
            raise SettingsError(f"Settings file {file} holds auth.{', auth.'.join(secrets_in_file)}: secrets come only "
                                "from the environment (CONFLUENCE_API_TOKEN, CONFLUENCE_CLIENT_SECRET); remove them from the file")
    auth = dict(raw.get("auth") or {})
    for var, name in _ENV_AUTH.items():
        if env.get(var):
            auth[name] = env[var]
    if "mode" not in auth:
        auth["mode"] = "oauth" if auth.get("client_id") else "api_token" if auth.get("api_token") else "demo"
    raw["auth"] = auth
    if env.get("CONFLUENCE_DATA_DIR"):
        raw["data_dir"] = env["CONFLUENCE_DATA_DIR"]
    storage = dict(raw.get("storage") or {})
    for var, name in _ENV_STORAGE.items():
        if env.get(var):
            storage[name] = env[var]
    raw["storage"] = storage
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(f"Invalid settings ({file if file.exists() else 'environment'}): {problems(exc)}") from None
