"""The Dagster code location: `dagster dev` (workspace.yaml) loads `defs` from here."""

from __future__ import annotations

import os

import dagster as dg

from .defs.assets import build_content_assets, step_retry_policy
from .defs.catalog import with_catalog
from .defs.checks import build_checks, build_reconciliation_checks, build_search_checks
from .defs.directory import build_directory_assets, build_directory_checks
from .defs.jobs import build_sync_jobs, windowed_keys
from .defs.maintenance import build_maintenance_schedule, lake_maintenance
from .defs.partitions import content_partitions
from .defs.pipeline import PipelineResource
from .defs.reconcile import build_reconciliation_asset
from .defs.resources import confluence_resource_from_settings
from .defs.schedules import build_schedules
from .defs.search import build_search_assets
from .defs.sensors import build_sensors, with_derived_automation
from .settings import SettingsError, load_settings

# CONFLUENCE_EXECUTOR: how a run's steps execute. in_process (default: one process, the demo and
# one machine), multiprocess (independent steps in parallel processes), k8s (a pod per step;
# deploy/helm-values.yaml, needs the k8s extra).
EXECUTORS = ("in_process", "multiprocess", "k8s")


def executor_from_env() -> dg.ExecutorDefinition:
    name = os.environ.get("CONFLUENCE_EXECUTOR", "in_process")
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError:
            raise SettingsError("CONFLUENCE_EXECUTOR=k8s needs dagster-k8s: pip install "
                                "'confluence_pipeline[k8s]' (deploy/Dockerfile does)") from None
        return k8s_job_executor
    raise SettingsError(f"CONFLUENCE_EXECUTOR must be one of {', '.join(EXECUTORS)}, not {name!r}")


def build_definitions() -> dg.Definitions:
    settings = load_settings()
    partitions = content_partitions(settings)
    retry = step_retry_policy(settings)
    content = build_content_assets(partitions, retry)
    directory = build_directory_assets(partitions, retry)
    assets = [*content, *directory, *build_search_assets(partitions),
              build_reconciliation_asset(windowed_keys(content, partitions), retry)]
    assets = with_catalog(with_derived_automation(assets, partitions), settings.owners)
    by_name = {a.key.to_user_string(): a for a in assets}
    return dg.Definitions(
        assets=assets,
        asset_checks=[*build_checks({a.key.to_user_string(): a for a in content}),
                      *build_directory_checks({a.key.to_user_string(): a for a in directory}),
                      *build_search_checks(by_name["documents"], by_name["search_index"]),
                      *build_reconciliation_checks(by_name["content_reconciliation"])],
        jobs=[*build_sync_jobs(assets, partitions), lake_maintenance],
        schedules=[*build_schedules(settings, windowed_keys(assets, partitions)), build_maintenance_schedule(settings)],
        sensors=build_sensors(settings, assets, partitions),
        resources={"confluence": confluence_resource_from_settings(settings), "pipeline": PipelineResource()},
        # by default a run's steps share one process; separate runs (a backfill beside the
        # schedule's) write the lake side by side
        executor=executor_from_env(),
    )


defs = build_definitions()
