"""Lake maintenance as a job and a daily schedule (see storage/maintenance.py for what it does)."""

from datetime import timedelta

import dagster as dg

from ..settings import Settings
from ..storage.maintenance import ORPHAN_GRACE, maintain
from .jobs import SYNC_TAG
from .pipeline import PipelineResource

MAINTENANCE_JOB = "lake_maintenance"
MAINTENANCE_SCHEDULE = "lake_maintenance_schedule"
# Daily at 04:30 local, after the reconciliation (03:30) has had its hour.
MAINTENANCE_CRON = "30 4 * * *"


class MaintenanceConfig(dg.Config):
    orphan_grace_minutes: int = int(ORPHAN_GRACE.total_seconds() // 60)  # younger unknown files may be a writer's


@dg.op(description="Merge small files, expire snapshots past storage.retention_days, delete unused and "
                   "orphaned files; the run's output lists what was removed.")
def maintain_lake(context: dg.OpExecutionContext, config: MaintenanceConfig,
                  pipeline: PipelineResource) -> dg.Output[None]:
    settings = pipeline.load()
    report = maintain(settings.lake, retention=timedelta(days=settings.storage.retention_days),
                      orphan_grace=timedelta(minutes=config.orphan_grace_minutes))
    context.log.info(f"lake maintenance: {report.summary()}")
    return dg.Output(None, metadata=report.metadata())


@dg.job(name=MAINTENANCE_JOB, tags={SYNC_TAG: "maintenance"},
        description="Compacts the lake and removes what no snapshot within the retention period needs.")
def lake_maintenance() -> None:
    maintain_lake()


def build_maintenance_schedule(settings: Settings) -> dg.ScheduleDefinition:
    """Runs whenever the syncs are scheduled (sync.strategy); always there to switch on in the UI."""
    status = (dg.DefaultScheduleStatus.RUNNING if settings.sync.strategy == "scheduled"
              else dg.DefaultScheduleStatus.STOPPED)
    return dg.ScheduleDefinition(name=MAINTENANCE_SCHEDULE, cron_schedule=MAINTENANCE_CRON, job=lake_maintenance,
                                 execution_timezone=settings.sync.timezone, default_status=status,
                                 description="Daily: compact the lake, expire old snapshots, delete orphaned files.")
