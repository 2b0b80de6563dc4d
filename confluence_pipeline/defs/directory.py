"""Directory assets: groups → members, space permissions, content restrictions → users → the
derived `content_access`; and the audit log, by event day.

Each asset is a few lines over the directory steps of `confluence_pipeline.sync` (see
`sync.directory`) and `confluence_pipeline.access`; the names are the DuckDB tables.
"""

from datetime import datetime, timezone

import dagster as dg

from ..access import AccessSummary, update_content_access
from ..storage.warehouse import Warehouse
from ..sync.audit_log import sync_audit
from ..sync.conflicts import retry_on_conflict
from ..sync.groups import sync_group_members, sync_groups
from ..sync.restrictions import RESTRICTABLE, sync_restrictions
from ..sync.space_permissions import sync_space_permissions
from ..sync.users import sync_users
from .assets import run_sync, snapshot_metadata, sync_context, window_range
from .checks import check_registrar, unique_keys_check
from .pipeline import PipelineResource
from .reconcile import RECONCILIATION_ASSET
from .site import BUNDLED, Site

CONTENT = ("spaces", "pages", "blogposts", "folders", "comments", "attachments")


class RestrictionsConfig(dg.Config):
    full_pass: bool = False  # read every item's restrictions, not only those synced since their last read


class FullReadConfig(dg.Config):
    full_pass: bool = False  # re-read everything, not only what the audit log names (the reconciliation job)


# The audit log is read once per run, by its own asset, first: the steps keyed on it read its table.
AUDIT_FIRST = {"dagster/priority": "10"}


def audit_partitions(content_partitions: dg.TimeWindowPartitionsDefinition) -> dg.DailyPartitionsDefinition:
    """Days of event time, from the same start date and in the same time zone as the content."""
    return dg.DailyPartitionsDefinition(start_date=content_partitions.start.strftime("%Y-%m-%d"),
                                        timezone=content_partitions.timezone, end_offset=content_partitions.end_offset)


def build_directory_assets(content_partitions: dg.TimeWindowPartitionsDefinition,
                           retry_policy: dg.RetryPolicy | None = None,
                           site: Site = BUNDLED) -> list[dg.AssetsDefinition]:
    common = dict(group_name=site.named("directory"), kinds={"ducklake"}, key_prefix=site.prefix,
                  required_resource_keys=site.resource_keys)
    content_keys = [site.key(name) for name in CONTENT]
    calls_confluence = dict(common, retry_policy=retry_policy)

    @dg.asset(**calls_confluence)
    def groups(context: dg.AssetExecutionContext, config: FullReadConfig) -> dg.MaterializeResult:
        """Every group of the site; groups that are gone are marked deleted. Listed again when the audit
        log names a group created or deleted (every run when it cannot be read), and daily."""
        ctx = sync_context(context, site)
        return run_sync(context, ctx, lambda: sync_groups(ctx, full_pass=config.full_pass))

    @dg.asset(deps=[groups], **calls_confluence)
    def group_members(context: dg.AssetExecutionContext, config: FullReadConfig) -> dg.MaterializeResult:
        """Who is in each group: read again for the groups the audit log names (every group when it cannot
        be read, and daily). A group whose members cannot be read grants nobody until they can."""
        ctx = sync_context(context, site)
        return run_sync(context, ctx, lambda: sync_group_members(ctx, full_pass=config.full_pass))

    @dg.asset(deps=[site.key("spaces")], **calls_confluence)
    def space_permissions(context: dg.AssetExecutionContext, config: FullReadConfig) -> dg.MaterializeResult:
        """Each space's permission assignments: principal (user, group, role, access class), operation, target.
        Read again for the spaces the audit log names (every space when it cannot be read, and daily)."""
        ctx = sync_context(context, site)
        return run_sync(context, ctx, lambda: sync_space_permissions(ctx, full_pass=config.full_pass))

    @dg.asset(deps=[site.key(name) for name in RESTRICTABLE], **calls_confluence)
    def content_restrictions(context: dg.AssetExecutionContext, config: RestrictionsConfig) -> dg.MaterializeResult:
        """Read and update restrictions of the pages, blog posts and folders synced since their last read,
        100 items per call; restriction-only changes come from the audit log and a daily full pass
        (or `full_pass: true` in the run config)."""
        ctx = sync_context(context, site)
        return run_sync(context, ctx, lambda: sync_restrictions(ctx, full_pass=config.full_pass))

    @dg.asset(deps=[group_members, space_permissions, content_restrictions, *content_keys], **calls_confluence)
    def users(context: dg.AssetExecutionContext, config: FullReadConfig) -> dg.MaterializeResult:
        """Every user the site lists and every account named in content, groups and permissions:
        display name, email when visible, account type (atlassian = licensed), status. Between full reads
        (reconciliation, daily) only accounts not stored yet are read."""
        ctx = sync_context(context, site)
        return run_sync(context, ctx, lambda: sync_users(ctx, full_pass=config.full_pass))

    @dg.asset(partitions_def=audit_partitions(content_partitions), backfill_policy=dg.BackfillPolicy.single_run(),
              op_tags=AUDIT_FIRST, **{**calls_confluence, "kinds": {"duckdb", "parquet"}})
    def audit_log(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Audit records by event day, deduplicated by content (they carry no id). Needs the Confluence
        Administrator permission: without it the asset reports the 403 and writes nothing."""
        ctx = sync_context(context, site)
        return run_sync(context, ctx, lambda: sync_audit(ctx, window_range(context, ctx.settings)))

    # after the reconciliation too (when it runs): it marks the purges content_access must see
    @dg.asset(deps=[users, groups, group_members, space_permissions, content_restrictions, *content_keys,
                    site.key(RECONCILIATION_ASSET.path[-1])],
              **common)
    def content_access(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Who may view each page, blog post, folder, comment and attachment, as clauses: the space's read
        permission and every read restriction on the item or above it; a viewer must pass them all.
        Query it with visible_items(account_id), content_viewers(content_id), access_explain(...)."""
        settings = site.pipeline(context).load()
        def build() -> tuple[AccessSummary, list[int]]:
            with Warehouse(settings.lake, writer="content_access", commit_info=context.run.run_id) as wh:
                return update_content_access(wh, datetime.now(timezone.utc)), wh.snapshots

        summary, snapshots = retry_on_conflict(build, progress=context.log.info)
        metadata = {**summary.metadata(), **snapshot_metadata(snapshots)}
        if summary.problems:
            metadata["denied_for_missing_data"] = dg.MetadataValue.md("\n".join(f"- {p}" for p in summary.problems))
        return dg.MaterializeResult(metadata=metadata)

    return [groups, group_members, space_permissions, content_restrictions, users, audit_log, content_access]


# -- checks ---------------------------------------------------------------------------------------

def _scalar(wh: Warehouse, sql: str) -> int:
    return int(wh.run(sql)[0][0])


def build_directory_checks(assets: dict[str, dg.AssetsDefinition],
                           site: Site = BUNDLED) -> list[dg.AssetChecksDefinition]:
    """Checks over the directory tables; `assets` maps table names to definitions (as build_checks)."""
    checks: list[dg.AssetChecksDefinition] = []
    check = check_registrar(site, assets, checks)

    for asset in ("group_members", "space_permissions", "content_restrictions", "users"):
        _complete_check(check, asset)
    unique_keys_check(check, "groups")

    @check("audit_log", "readable", "The account may read the audit log (Confluence Administrator, paid plan).")
    def audit_readable(pipeline: PipelineResource) -> dg.AssetCheckResult:
        with Warehouse(pipeline.load().lake, read_only=True) as wh:
            access = wh.get_state("audit:access") or {"ok": False, "detail": "the audit log was never read"}
        return dg.AssetCheckResult(passed=bool(access["ok"]), severity=dg.AssetCheckSeverity.WARN,
                                   description=access["detail"] or "readable")

    @check("content_access", "covers_every_item", "Every stored content item has its access clauses.")
    def covers_every_item(pipeline: PipelineResource) -> dg.AssetCheckResult:
        with Warehouse(pipeline.load().lake, read_only=True) as wh:
            uncovered = _scalar(wh, "SELECT " + " + ".join(
                f"(SELECT count(*) FROM {t} WHERE id NOT IN (SELECT content_id FROM content_access))"
                for t in ("pages", "blogposts", "folders", "comments", "attachments")))
        return dg.AssetCheckResult(passed=uncovered == 0, description=f"{uncovered} items without clauses "
                                   "(content synced after content_access was built)", metadata={"uncovered": uncovered})

    @check("content_access", "decidable", "No item is denied because something needed to decide is missing.")
    def decidable(pipeline: PipelineResource) -> dg.AssetCheckResult:
        with Warehouse(pipeline.load().lake, read_only=True) as wh:
            denied = _scalar(wh, "SELECT count(DISTINCT content_id) FROM content_access WHERE kind = 'missing' AND "
                                 "content_id NOT IN (SELECT content_id FROM content_access WHERE kind = 'deleted')")
            sample = [r[0] for r in wh.run("SELECT DISTINCT reason FROM content_access WHERE kind = 'missing' "
                                           "ORDER BY 1 LIMIT 5")]
        return dg.AssetCheckResult(passed=denied == 0, severity=dg.AssetCheckSeverity.WARN,
                                   description=f"{denied} items denied for missing data: " + "; ".join(sample),
                                   metadata={"denied": denied})

    return checks


def _complete_check(check, asset: str) -> None:
    def complete(pipeline: PipelineResource) -> dg.AssetCheckResult:
        with Warehouse(pipeline.load().lake, read_only=True) as wh:
            failures = wh.get_state(f"failures:{asset}", []) or []
        return dg.AssetCheckResult(passed=not failures, severity=dg.AssetCheckSeverity.WARN,
                                   description=f"{len(failures)} failures in the last sync: " + "; ".join(failures[:5]),
                                   metadata={"failures": len(failures)})

    check(asset, "last_sync_complete", f"The last {asset} sync read everything it should have; what it could "
                                       "not read is denied by the access model.")(complete)
