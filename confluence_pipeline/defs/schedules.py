"""Schedules: the incremental sync on `sync.interval`, and the daily reconciliation.

Both tick in `sync.timezone` (cron in local time, so a daily run stays at local midnight across
DST changes). `sync.strategy: scheduled` starts them running; `manual` defines them stopped, so
nothing runs until someone launches `incremental_sync` (UI, or `confluence-pipeline sync`) or
switches a schedule on in the UI (Automation). A switch in the UI outlasts restarts.
"""

from datetime import datetime, timezone
from typing import Sequence

import dagster as dg

from ..settings import Settings
from .jobs import INCREMENTAL_JOB, RECONCILIATION_JOB, incremental_request
from .site import BUNDLED, Site

INCREMENTAL_SCHEDULE = "incremental_sync_schedule"
RECONCILIATION_SCHEDULE = "reconciliation_schedule"
# Daily at 03:30 local: off-peak, past the hour that DST changes skip or repeat (02:00-03:00).
RECONCILIATION_CRON = "30 3 * * *"


def build_schedules(settings: Settings, content_keys: Sequence[dg.AssetKey],
                    site: Site = BUNDLED) -> list[dg.ScheduleDefinition]:
    status = (dg.DefaultScheduleStatus.RUNNING if settings.sync.strategy == "scheduled"
              else dg.DefaultScheduleStatus.STOPPED)

    @dg.schedule(name=site.named(INCREMENTAL_SCHEDULE), cron_schedule=settings.sync.cron,
                 job_name=site.named(INCREMENTAL_JOB),
                 execution_timezone=settings.sync.timezone, default_status=status,
                 description=f"incremental_sync on sync.interval ({settings.sync.interval}, {settings.sync.timezone}): "
                             "the windows since each content asset's last successful sync up to the tick's.")
    def incremental_sync_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """The incremental sync every `sync.interval`: the windows since each content asset's last
        successful sync up to the window of the tick."""
        when = context.scheduled_execution_time or datetime.now(timezone.utc)
        return incremental_request(context.instance, settings, content_keys, when,
                                   run_key=f"scheduled:{when.isoformat()}", site=site)

    reconciliation = dg.ScheduleDefinition(
        name=site.named(RECONCILIATION_SCHEDULE), cron_schedule=RECONCILIATION_CRON,
        job_name=site.named(RECONCILIATION_JOB),
        execution_timezone=settings.sync.timezone, default_status=status,
        description="Daily: purges, restriction-only, space-permission and membership changes; then "
                    "content_access is rebuilt.")
    return [incremental_sync_schedule, reconciliation]
