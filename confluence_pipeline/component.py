"""`ConfluenceComponent`: one Confluence site as a Dagster Component, configured in `defs.yaml`.

    dg scaffold defs confluence_pipeline.ConfluenceComponent acme

writes `defs/acme/defs.yaml`. Its attributes are the sections of `confluence.yaml` (settings.py
validates them: sync, filters, indexing, search, storage) plus the site's `name` and `auth`.
The name prefixes everything the site defines: asset keys (`acme/pages`), jobs, schedules and
sensors (`acme_incremental_sync`), resources (`acme_confluence`), groups, the lake schema
(`storage.schema_name`, default the name) and the run tags that keep one site's runs from
queueing behind another's. Secrets never go in the file: `auth` names the environment variables
that hold them.

The bundled code location (`confluence_pipeline.definitions`) is built by the same code as an
unnamed site (`bundled_definitions`): plain names, settings from `confluence.yaml` and the
environment.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
from pydantic import BaseModel, ValidationError

from .confluence.auth import DEFAULT_API_URL, DEFAULT_AUTH_URL
from .confluence.errors import check_site_url
from .settings import (IndexingFilters, SearchSettings, Settings, SettingsError, StorageSettings, SyncFilters,
                       SyncSettings, holds_password, load_settings, problems)

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SiteAuth(dg.Resolvable, dg.Model):
    """How the site is reached. Secrets are named, never written: `api_token_env` and
    `client_secret_env` are the names of the environment variables that hold them."""

    mode: Literal["api_token", "oauth"] = "api_token"
    site_url: str = ""  # https://<site>.atlassian.net (api_token)
    email: str = ""
    api_token_env: str = "CONFLUENCE_API_TOKEN"
    client_id: str = ""  # oauth, with `confluence-pipeline auth login` run once for this site
    client_secret_env: str = "CONFLUENCE_CLIENT_SECRET"
    token_file: str = ""  # oauth: this site's token store (sites never share one)
    auth_url: str = DEFAULT_AUTH_URL
    api_url: str = DEFAULT_API_URL
    # never set: here only to refuse a secret written into the file with a message that says so
    api_token: str | None = None
    client_secret: str | None = None

    def check(self) -> None:
        """Once `{{ env.X }}` templates are resolved: complete, and no secret where a name belongs."""
        for secret in ("api_token", "client_secret"):
            if getattr(self, secret) is not None:
                raise SettingsError(f"auth.{secret} holds a secret, and secrets never go in defs.yaml: put it in an "
                                    f"environment variable and name that variable in auth.{secret}_env")
        for name in ("api_token_env", "client_secret_env"):
            if not _ENV_NAME.fullmatch(getattr(self, name)):
                raise SettingsError(f"auth.{name} must be the name of an environment variable (e.g. ACME_API_TOKEN), "
                                    "not its value: a secret never goes in defs.yaml")
        if self.mode == "api_token":
            if not self.site_url or not self.email:
                raise SettingsError("auth mode api_token needs auth.site_url and auth.email")
            check_site_url(self.site_url)
        if self.mode == "oauth" and not (self.client_id and self.token_file):
            raise SettingsError("auth mode oauth needs auth.client_id (from the Atlassian developer console) and "
                                "auth.token_file, a token store of this site's own: log in once with "
                                "CONFLUENCE_TOKEN_FILE=<that file> confluence-pipeline auth login")


def _section(model: type[BaseModel]) -> Any:
    """A `confluence.yaml` section: a mapping in YAML, validated by its settings model."""
    def resolve(context: dg.ResolutionContext, value: Any) -> BaseModel:
        try:
            return model.model_validate(value or {})
        except ValidationError as exc:
            raise SettingsError(f"{model.__name__}: {problems(exc)}") from None

    return Annotated[Any, dg.Resolver(resolve, model_field_type=dict[str, Any], description=model.__doc__)]


SyncSection = _section(SyncSettings)
FiltersSection = _section(SyncFilters)
IndexingSection = _section(IndexingFilters)
SearchSection = _section(SearchSettings)
StorageSection = _section(StorageSettings)


class ConfluenceComponentScaffolder(dg.Scaffolder):
    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        name = re.sub(r"[^a-z0-9_]", "_", request.target_path.name.lower()).lstrip("_0123456789") or "site"
        request.target_path.mkdir(parents=True, exist_ok=True)
        (request.target_path / "defs.yaml").write_text(SCAFFOLD.format(type=request.type_name, name=name,
                                                                       env=name.upper()))


SCAFFOLD = """\
type: {type}

attributes:
  # Asset key prefix ({name}/pages), prefix of its jobs, schedules, sensors and resources, and
  # its schema in the lake.
  name: {name}
  auth:
    mode: api_token                           # or oauth (client_id; `confluence-pipeline auth login`)
    site_url: "{{{{ env.{env}_SITE_URL }}}}"    # https://<site>.atlassian.net
    email: "{{{{ env.{env}_EMAIL }}}}"
    api_token_env: {env}_API_TOKEN            # the NAME of the variable that holds the token, never the token
  sync:
    strategy: manual                          # scheduled: the schedules below start running
    interval: 24h                             # incremental sync schedule: 1h, 6h, 24h or cron
    timezone: UTC
    start_date: 2026-01-01
    sensor_interval: 30                       # seconds between the change sensor's ticks (one API call each)
  change_sensor: stopped                      # running: sync within a minute of an edit
  filters:                                    # what is downloaded (README: Filters)
    space_keys_in: []
    space_keys_not_in: []
  storage:
    catalog: sqlite                           # or postgres:dbname=... host=... (PGPASSWORD)
    schema_name: {name}
  data_dir: data/{name}
  owners: []                                  # of every asset: an email or team:<name>
  tags: {{}}                                    # on every asset
"""


@dg.scaffold_with(ConfluenceComponentScaffolder)
@dataclass
class ConfluenceComponent(dg.Component, dg.Resolvable):
    """One Confluence Cloud site synced into a DuckLake lake: content, directory and search assets
    with their checks, the incremental and reconciliation jobs, schedules, the change sensor and
    lake maintenance, all under the site's `name`."""

    name: str
    auth: SiteAuth = field(default_factory=SiteAuth)
    sync: SyncSection = field(default_factory=SyncSettings)
    filters: FiltersSection = field(default_factory=SyncFilters)
    indexing: IndexingSection = field(default_factory=IndexingFilters)
    search: SearchSection = field(default_factory=SearchSettings)
    storage: StorageSection = field(default_factory=StorageSettings)
    data_dir: str = "data"
    change_sensor: Literal["running", "stopped"] = "stopped"
    owners: list[str] = field(default_factory=list)  # of every asset: an email or team:<name>
    tags: dict[str, str] = field(default_factory=dict)  # on every asset, beside its layer

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise SettingsError(f"name {self.name!r} is not a site name: lower-case letters, digits and _, "
                                "starting with a letter (it prefixes asset keys and names the lake schema)")
        self.auth.check()
        if holds_password(self.storage.catalog):
            raise SettingsError(f"site {self.name}: storage.catalog holds a password: secrets never go in defs.yaml; "
                                "set PGPASSWORD in the environment instead")
        if "schema_name" not in self.storage.model_fields_set:
            self.storage = self.storage.model_copy(update={"schema_name": self.name})

    def settings(self) -> Settings:
        """The site's settings (auth is the confluence resource's)."""
        try:
            return Settings(sync=self.sync, filters=self.filters, indexing=self.indexing, search=self.search,
                            storage=self.storage, data_dir=Path(self.data_dir), owners=self.owners, tags=self.tags)
        except ValidationError as exc:
            raise SettingsError(f"site {self.name}: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None

    def confluence_resource(self) -> Any:
        from .defs.resources import ConfluenceResource

        auth, sync = self.auth, self.sync
        common = dict(auth_url=auth.auth_url, api_url=auth.api_url, max_rate_limit_wait_s=sync.max_rate_limit_wait,
                      max_outage_s=sync.max_outage)
        if auth.mode == "oauth":
            return ConfluenceResource(mode="oauth", client_id=auth.client_id, token_file=auth.token_file,
                                      client_secret=dg.EnvVar(auth.client_secret_env), **common)
        return ConfluenceResource(mode="api_token", site_url=auth.site_url, email=auth.email,
                                  api_token=dg.EnvVar(auth.api_token_env), **common)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from .defs.pipeline import PipelineResource
        from .defs.site import Site

        settings = self.settings()
        return build_site_definitions(
            Site(self.name), settings, confluence=self.confluence_resource(),
            pipeline=PipelineResource(site_settings=settings.model_dump_json(exclude={"auth"})),
            change_sensor=self.change_sensor)


def build_site_definitions(site: Any, settings: Settings, *, confluence: Any, pipeline: Any,
                           change_sensor: str = "stopped", executor: Any = None) -> dg.Definitions:
    """Everything one site defines, under its names (defs/site.py)."""
    from .defs.assets import build_content_assets, step_retry_policy
    from .defs.catalog import with_catalog
    from .defs.checks import build_checks, build_reconciliation_checks, build_search_checks
    from .defs.directory import build_directory_assets, build_directory_checks
    from .defs.jobs import build_sync_jobs, windowed_keys
    from .defs.maintenance import build_maintenance_job, build_maintenance_schedule
    from .defs.partitions import content_partitions
    from .defs.reconcile import build_reconciliation_asset
    from .defs.schedules import build_schedules
    from .defs.search import build_search_assets
    from .defs.sensors import build_sensors, with_derived_automation

    partitions = content_partitions(settings)
    retry = step_retry_policy(settings)
    content = build_content_assets(partitions, retry, site)
    directory = build_directory_assets(partitions, retry, site)
    assets = [*content, *directory, *build_search_assets(partitions, site),
              build_reconciliation_asset(windowed_keys(content, partitions), retry, site)]
    assets = with_catalog(with_derived_automation(assets, partitions), settings.owners, settings.tags)
    by_name = {a.key.path[-1]: a for a in assets}
    maintenance = build_maintenance_job(site)
    return dg.Definitions(
        assets=assets,
        asset_checks=[*build_checks({a.key.path[-1]: a for a in content}, site),
                      *build_directory_checks({a.key.path[-1]: a for a in directory}, site),
                      *build_search_checks(by_name["documents"], by_name["search_index"], by_name["search_embeddings"],
                                          site),
                      *build_reconciliation_checks(by_name["content_reconciliation"], site)],
        jobs=[*build_sync_jobs(assets, partitions, site), maintenance],
        schedules=[*build_schedules(settings, windowed_keys(assets, partitions), site),
                   build_maintenance_schedule(settings, maintenance, site)],
        sensors=build_sensors(settings, assets, partitions, site,
                              dg.DefaultSensorStatus.RUNNING if change_sensor == "running"
                              else dg.DefaultSensorStatus.STOPPED),
        resources={site.confluence_key: confluence, site.pipeline_key: pipeline},
        executor=executor,
    )


def bundled_definitions(executor: Any = None) -> dg.Definitions:
    """The bundled project's one unnamed site: settings from `confluence.yaml` and the environment,
    read again at run time (PipelineResource without site settings)."""
    from .defs.pipeline import PipelineResource
    from .defs.resources import confluence_resource_from_settings
    from .defs.site import BUNDLED

    settings = load_settings()
    return build_site_definitions(BUNDLED, settings, confluence=confluence_resource_from_settings(settings),
                                  pipeline=PipelineResource(), executor=executor)
