"""Sensors: the change sensor, and the automation that keeps derived assets behind their parents.

The change sensor (off by default; switch it on in the UI under Automation) asks Confluence one
question per tick: which content item was modified last, at which version (one CQL call with
limit 1, newest first, over pages, blog posts, comments, attachments and folders). Any edit,
creation or move puts a new (id, version) on top (so does trashing the newest item); that pair
is the sensor's cursor and the run key, so a tick requests `incremental_sync` only when it
differs, and never twice for one change. Changes that leave no modification time (purges,
restrictions, permissions, memberships) are the reconciliation schedule's job.
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

import dagster as dg

from ..confluence.client import ConfluenceClient
from ..settings import Settings
from .jobs import INCREMENTAL_JOB, incremental_request, windowed_keys
from .site import BUNDLED, Site

CHANGE_SENSOR = "confluence_changes"
DERIVED_AUTOMATION_SENSOR = "derived_assets_automation"
CHANGES_CQL = "type in (page, blogpost, comment, attachment, folder) order by lastmodified desc"
# Computed from other tables, not fetched: they follow their parents by declarative automation.
DERIVED_ASSETS = ("content_access", "documents", "search_index", "search_embeddings")


@dataclass(frozen=True)
class Change:
    content_id: str
    type: str
    version: int
    when: datetime | None

    @property
    def key(self) -> str:
        return f"{self.type}:{self.content_id}:v{self.version}"

    def describe(self) -> str:
        return f"{self.type} {self.content_id} version {self.version}" + (f" at {self.when.isoformat()}"
                                                                           if self.when else "")


def newest_change(client: ConfluenceClient) -> Change | None:
    """The content item modified last (one API call), or None on a site with no content. Archived
    spaces and archived content count too: CQL leaves them out by default, the sync does not."""
    hits = client.search(CHANGES_CQL, expand=("content.version",), limit=1, include_archived_spaces=True,
                         content_statuses=("current", "archived"))
    item = next((hit.content for hit in hits), None)  # the first page only: one call
    if item is None:
        return None
    version = item.version
    return Change(item.id, item.type or "content", (version.number or 0) if version else 0,
                  version.when if version else None)


def last_sync_started(instance: dg.DagsterInstance,
                      content_keys: Sequence[dg.AssetKey]) -> float | None:
    """When the run that last synced the stalest content asset started (None: one never synced)."""
    starts = []
    for key in content_keys:
        event = instance.get_latest_materialization_event(key)
        if event is None:
            return None
        record = instance.get_run_record_by_id(event.run_id)
        starts.append(record.start_time if record and record.start_time else event.timestamp)
    return min(starts, default=None)


def build_change_sensor(settings: Settings, content_keys: Sequence[dg.AssetKey], site: Site = BUNDLED,
                        status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED) -> dg.SensorDefinition:
    @dg.sensor(name=site.named(CHANGE_SENSOR), job_name=site.named(INCREMENTAL_JOB), default_status=status,
               required_resource_keys={site.confluence_key},
               minimum_interval_seconds=settings.sync.sensor_interval,
               description=f"Every {settings.sync.sensor_interval} s (sync.sensor_interval), one CQL call asks "
                           "which content item changed last; when the answer differs from the last tick's, "
                           "requests incremental_sync (the change is the run key, so one change never launches "
                           "two runs).")
    def confluence_changes(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        """Requests an incremental sync when Confluence content changed since the last tick (one API
        call per tick). On its first tick, only if the change is newer than the last sync."""
        change = newest_change(site.confluence(context).get_client())
        if change is None:
            return dg.SkipReason("The site has no content the account can see")
        if change.key == context.cursor:
            return dg.SkipReason(f"Nothing changed since {change.describe()}")
        if context.cursor is None:
            started = last_sync_started(context.instance, content_keys)
            if started is not None and change.when is not None and change.when.timestamp() < started:
                return dg.SensorResult(skip_reason=f"The last sync already holds {change.describe()}",
                                       cursor=change.key)
        request = incremental_request(context.instance, settings, content_keys, datetime.now(timezone.utc),
                                      run_key=change.key, site=site)
        return dg.SensorResult(run_requests=[request], cursor=change.key)

    return confluence_changes


def derived_condition(assets: Sequence[dg.AssetsDefinition],
                      partitions: dg.PartitionsDefinition) -> dg.AutomationCondition:
    """Eager, except that being missing alone requests nothing (with `sync.strategy: manual`,
    nothing runs until someone launches a sync): after a parent updates in a run that did not
    build the asset too, once no parent is in progress. A content window not synced yet (today's,
    before the first sync of the day) does not hold it back."""
    windowed = dg.AssetSelection.assets(*windowed_keys(assets, partitions))
    return (dg.AutomationCondition.in_latest_time_window()
            & dg.AutomationCondition.any_deps_updated().since_last_handled()
            & ~dg.AutomationCondition.any_deps_missing().ignore(windowed)
            & ~dg.AutomationCondition.any_deps_in_progress()
            & ~dg.AutomationCondition.in_progress())


def with_derived_automation(assets: Sequence[dg.AssetsDefinition],
                            partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The assets, with `derived_condition` on each derived asset that has no condition of its own."""
    condition = derived_condition(assets, partitions)
    out = []
    for asset in assets:
        keys = [k for k in asset.keys if k.path[-1] in DERIVED_ASSETS
                and asset.automation_conditions_by_key.get(k) is None]
        out.append(asset.with_attributes(automation_condition={k: condition for k in keys}) if keys
                   else asset)
    return out


def build_sensors(settings: Settings, assets: Sequence[dg.AssetsDefinition], partitions: dg.PartitionsDefinition,
                  site: Site = BUNDLED,
                  change_sensor: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED) -> list[dg.SensorDefinition]:
    sensors = [build_change_sensor(settings, windowed_keys(assets, partitions), site, change_sensor)]
    derived = [k for a in assets for k in a.keys if k.path[-1] in DERIVED_ASSETS]
    if derived:
        sensors.append(dg.AutomationConditionSensorDefinition(
            site.named(DERIVED_AUTOMATION_SENSOR), target=dg.AssetSelection.assets(*derived),
            default_status=dg.DefaultSensorStatus.RUNNING,
            description="Rebuilds the derived assets (content_access, documents, search_index, search_embeddings) after "
                        "their parents update outside a sync that builds them anyway."))
    return sensors
