"""Lake maintenance as a job and a daily schedule (see storage/maintenance.py for what it does)."""

from datetime import timedelta

import dagster as dg

from ..settings import Settings
from ..storage.maintenance import ORPHAN_GRACE, maintain
from .site import BUNDLED, Site

MAINTENANCE_JOB = "lake_maintenance"
MAINTENANCE_SCHEDULE = "lake_maintenance_schedule"
# Daily at 04:30 local, after the reconciliation (03:30) has had its hour.
MAINTENANCE_CRON = "30 4 * * *"


class MaintenanceConfig(dg.Config):
    orphan_grace_minutes: int = int(ORPHAN_GRACE.total_seconds() // 60)  # younger unknown files may be a writer's


def build_maintenance_job(site: Site = BUNDLED) -> dg.JobDefinition:
    @dg.op(name=site.named("maintain_lake"), required_resource_keys={site.pipeline_key},
           description="Merge small files, expire snapshots past storage.retention_days, delete unused and "
                       "orphaned files; the run's output lists what was removed.")
    def maintain_lake(context: dg.OpExecutionContext, config: MaintenanceConfig) -> dg.Output[None]:
        settings = site.pipeline(context).load()
        report = maintain(settings.lake, retention=timedelta(days=settings.storage.retention_days),
                          orphan_grace=timedelta(minutes=config.orphan_grace_minutes))
        context.log.info(f"lake maintenance: {report.summary()}")
        return dg.Output(None, metadata=report.metadata())

    @dg.job(name=site.named(MAINTENANCE_JOB), tags=site.tags("maintenance"),
            description="Compacts the lake and removes what no snapshot within the retention period needs.")
    def lake_maintenance() -> None:
        maintain_lake()

    return lake_maintenance


lake_maintenance = build_maintenance_job()


def build_maintenance_schedule(settings: Settings, job: dg.JobDefinition = lake_maintenance,
                               site: Site = BUNDLED) -> dg.ScheduleDefinition:
    """Runs whenever the syncs are scheduled (sync.strategy); always there to switch on in the UI."""
    status = (dg.DefaultScheduleStatus.RUNNING if settings.sync.strategy == "scheduled"
              else dg.DefaultScheduleStatus.STOPPED)
    return dg.ScheduleDefinition(name=site.named(MAINTENANCE_SCHEDULE), cron_schedule=MAINTENANCE_CRON, job=job,
                                 execution_timezone=settings.sync.timezone, default_status=status,
                                 description="Daily: compact the lake, expire old snapshots, delete orphaned files.")
