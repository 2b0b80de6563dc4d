"""The sync jobs, and the run request that every incremental launch (schedule, sensor) makes.

`incremental_sync`: the content assets over the latest windows plus every unpartitioned asset
(spaces, the directory). Its run request covers the windows from the oldest window any content
asset last synced successfully up to the window of now, in one run: the engine then fetches
each asset from its own watermark, so a run after midnight, or after a failed run, catches up
exactly and still costs only what changed.

`reconciliation`: what modification times cannot show (purges, restriction-only, space
permission and group membership changes), then `content_access` is rebuilt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from ..settings import Settings
from ..sync.windows import Windows
from .reconcile import RECONCILIATION_ASSET
from .site import BUNDLED, INCREMENTAL_JOB, Site

RECONCILIATION_JOB = "reconciliation"
# Refreshed in full by the reconciliation job, when the code location defines them.
RECONCILED_ASSETS = ("users", "groups", "group_members", "space_permissions", "content_restrictions",
                     "content_access")
# Restrictions change without a new version: the reconciliation reads every item's, not only
# those of the content synced since their last read.
# The other directory assets re-read only what the audit log names between full reads: the
# reconciliation re-reads everything.
FULL_PASS = {name: {"config": {"full_pass": True}} for name in ("content_restrictions", "groups", "group_members",
                                                                "space_permissions", "users")}


def _keys(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetKey]:
    return [key for asset in assets for key in asset.keys]


def windowed_keys(assets: Sequence[dg.AssetsDefinition],
                  partitions: dg.PartitionsDefinition) -> list[dg.AssetKey]:
    """The assets partitioned by modification window."""
    return _keys(a for a in assets if a.partitions_def == partitions)


def build_sync_jobs(assets: Sequence[dg.AssetsDefinition], partitions: dg.PartitionsDefinition,
                    site: Site = BUNDLED) -> list[dg.UnresolvedAssetJobDefinition]:
    reconciliation_asset = site.key(RECONCILIATION_ASSET.path[-1])
    # content_reconciliation too, though it lists nothing in this job's runs: documents and
    # content_access follow it, and a job that leaves out a parent they have makes the UI warn
    # "content_reconciliation has not been materialized yet" before the first sync.
    unpartitioned = _keys(a for a in assets if a.partitions_def is None)
    present = set(_keys(assets))
    reconciled = [site.key(name) for name in RECONCILED_ASSETS if site.key(name) in present]
    # run config names the asset's op: its key as a Python identifier (acme__content_restrictions)
    full_pass = {site.key(op).to_python_identifier(): config for op, config in FULL_PASS.items()
                 if site.key(op) in reconciled}
    # The asset checks run with the daily reconciliation, not on every incremental run: each is a step
    # of its own, and on a run with nothing to do they were most of its steps and events.
    incremental = dg.define_asset_job(
        site.named(INCREMENTAL_JOB), selection=dg.AssetSelection.assets(*windowed_keys(assets, partitions),
                                                                        *unpartitioned).without_checks(),
        tags=site.tags("incremental"), run_tags=site.tags("incremental"),
        description="What changed since the last sync: the latest windows of the content assets (each from "
                    "its watermark) and the unpartitioned assets. Launch it with a window range, or let the "
                    "schedule or the change sensor pick the range. In the UI: Materialize all, then Latest "
                    "(Dagster's launch dialog opens with no window selected).")
    reconciliation = dg.define_asset_job(
        site.named(RECONCILIATION_JOB), selection=(dg.AssetSelection.assets(reconciliation_asset, *reconciled)
                                                   | dg.AssetSelection.checks_for_assets(*_keys(assets))),
        config={"ops": full_pass} if full_pass else None,
        tags=site.tags("reconciliation"), run_tags=site.tags("reconciliation"),
        description="What timestamps cannot show: purged content (every id listed), restriction-only, "
                    "space-permission and group-membership changes; then content_access is rebuilt and every "
                    "asset check runs.")
    return [incremental, reconciliation]


def catch_up_start(instance: dg.DagsterInstance, settings: Settings, content_keys: Sequence[dg.AssetKey],
                   last: str) -> str:
    """The oldest of each content asset's newest successfully synced window (the first window if
    an asset never synced), so that no change between a watermark and `last` is skipped."""
    first = settings.sync.start_date.isoformat()
    newest: list[str] = []
    for key in content_keys:
        synced = [k for k in instance.get_materialized_partitions(key) if k >= first]
        if not synced:
            return first
        newest.append(max(synced))
    return min([*newest, last])


def incremental_request(instance: dg.DagsterInstance, settings: Settings, content_keys: Sequence[dg.AssetKey],
                        now: datetime, run_key: str, site: Site = BUNDLED) -> dg.RunRequest:
    """One run of `incremental_sync` over the windows from `catch_up_start` to the window of `now`."""
    last = Windows(ZoneInfo(settings.sync.timezone), settings.sync.start_date.isoformat()).key(now)
    first = catch_up_start(instance, settings, content_keys, last)
    return dg.RunRequest(run_key=run_key, tags={ASSET_PARTITION_RANGE_START_TAG: first,
                                                ASSET_PARTITION_RANGE_END_TAG: last, **site.tags("incremental")})
