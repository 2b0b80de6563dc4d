"""The run queue's view of a run: the sync tag on every run of a site's assets, however launched.

The run queue (deploy/dagster.yaml) keeps one run per value of `confluence_pipeline/sync` in
progress. The site's jobs, schedules, sensors and the CLI set that tag; a run launched from the
asset graph (Materialize, a backfill from the partitions dialog, Checks -> Execute) runs
Dagster's implicit job `__ASSET_JOB`, whose name and tags Dagster fixes, so it would carry none.
`ConfluenceRunCoordinator` is Dagster's `QueuedRunCoordinator` that, when such a run is submitted,
gives it the tags of the site's job that syncs the same assets (the job holding most of them;
the one with fewer assets on a tie) and a `confluence_pipeline/job` tag saying what the run does. The
limit then holds whatever launched the run, per site (the tag's value names the site).

Configure it in the instance's dagster.yaml (the webserver and the daemon both submit runs, so
both need this package installed):

    run_coordinator:
      module: confluence_pipeline.run_queue
      class: ConfluenceRunCoordinator
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster._core.remote_representation.external import RemoteRepository
from dagster._core.run_coordinator.base import SubmitRunContext
from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import BACKFILL_ID_TAG

from .run_tags import JOB_TAG, SYNC_TAG

NAMES_SHOWN = 3


def _described(run: DagsterRun, keys: set, job: str) -> str:
    names = sorted(key.to_user_string() for key in keys)
    shown = ", ".join(names[:NAMES_SHOWN]) + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN
                                              else "")
    checks = not run.asset_selection
    verb = "backfill" if BACKFILL_ID_TAG in run.tags else "check" if checks else "materialize"
    return f"{verb} {shown} (queued as {job})"


def queue_tags(run: DagsterRun, repository: RemoteRepository) -> Mapping[str, str]:
    """The tags `run` lacks for the run queue: none if it has the sync tag or touches no site's
    assets; else the sync (and site) tags of the repository's sync job holding most of its assets."""
    if SYNC_TAG in run.tags:
        return {}
    keys = set(run.asset_selection or ()) | {check.asset_key for check in run.asset_check_selection or ()}
    jobs = {name for key in keys if (node := repository.get_asset_node_snap(key)) for name in node.job_names}
    candidates = []
    for name in sorted(jobs):
        tags = repository.get_full_job(name).tags
        if SYNC_TAG in tags:
            in_job = set(repository.get_asset_keys_in_job(name))
            # most of the run's assets, then the narrowest job (content_reconciliation alone: reconciliation)
            candidates.append((-len(keys & in_job), len(in_job), name, tags))
    if not candidates:
        return {}
    _, _, job, tags = min(candidates, key=lambda c: c[:3])
    found = {key: value for key, value in tags.items() if key.startswith("confluence_pipeline/")}
    if run.job_name.startswith("__"):  # Dagster's implicit asset job: say what it does
        found[JOB_TAG] = _described(run, keys, job)
    return found


class ConfluenceRunCoordinator(QueuedRunCoordinator):
    """`QueuedRunCoordinator` that tags runs of a site's assets for the run queue's limits
    (`queue_tags`); every other run is queued as it is."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        origin = run.remote_job_origin
        tags: Mapping[str, str] = {}
        if origin is not None and SYNC_TAG not in run.tags:
            try:
                location = context.workspace.get_code_location(origin.location_name)
                tags = queue_tags(run, location.get_repository(origin.repository_origin.repository_name))
            except Exception as exc:  # noqa: BLE001 - a location that does not load: queue the run untagged
                self._logger.warning(f"run {run.run_id}: no queue tags ({type(exc).__name__}: {exc})")
        if tags:
            self._instance.add_run_tags(run.run_id, dict(tags))
            run = self._instance.get_run_by_id(run.run_id) or run
        return super().submit_run(context._replace(dagster_run=run))
