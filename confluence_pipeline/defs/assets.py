"""Content assets: spaces → pages / blog posts → folders, comments, attachments, labels.

Each asset is a few lines over `confluence_pipeline.sync`; the names are the DuckDB tables.
Content assets share one daily modification-window partitioning; a backfill of any date range
runs as one run (fetched once, split by window on write).
"""


from typing import Any, Callable
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.errors import DagsterExecutionInterruptedError

from ..confluence.errors import ApiError, RateLimited, SiteUnreachable
from ..settings import Settings
from ..storage.lake import WriteConflict
from ..sync.conflicts import retry_on_conflict
from ..sync.content import sync_content
from ..sync.folders import sync_folders
from ..sync.labels import sync_labels
from ..sync.spaces import sync_spaces
from ..sync.step import AssetReport, SyncContext
from ..sync.windows import TimeRange, Windows
from .site import BUNDLED, Site


def step_retry_policy(settings: Settings) -> dg.RetryPolicy:
    """How Dagster retries a step that calls Confluence; only transient errors are retried (`run_sync`)."""
    return dg.RetryPolicy(max_retries=settings.sync.step_retries, delay=settings.sync.step_retry_delay_s,
                          backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def transient(exc: BaseException) -> bool:
    """An error that waiting may heal: the step is worth running again."""
    return (isinstance(exc, (RateLimited, SiteUnreachable, WriteConflict))
            or (isinstance(exc, ApiError) and (exc.status or 0) >= 500))


def sync_context(context: dg.AssetExecutionContext, site: Site) -> SyncContext:
    """What a sync step works with (the site's resources); its snapshots name the asset and the run."""
    confluence = site.confluence(context)
    return SyncContext(client=confluence.get_client(), settings=site.pipeline(context).load(),
                       site_url=confluence.site(),
                       progress=context.log.info, writer=context.asset_key.to_user_string(), run_id=context.run.run_id)


def window_range(context: dg.AssetExecutionContext, settings: Settings) -> TimeRange:
    keys = context.partition_key_range
    return Windows(ZoneInfo(settings.sync.timezone), settings.sync.start_date.isoformat()).range(keys.start, keys.end)


def snapshot_metadata(snapshots: list[int]) -> dict[str, Any]:
    """The lake snapshot a step committed: `query --as-of <id>` reads the copy as it left it."""
    return {"snapshot_id": snapshots[-1]} if snapshots else {}


def run_sync(context: dg.AssetExecutionContext, ctx: SyncContext,
             work: Callable[[], AssetReport]) -> dg.MaterializeResult:
    """The step's work (run again should its commit lose a race with another writer), as a result.
    A step that fails stores nothing (its writes are one transaction) and keeps its watermark; only a
    transient failure is left to the step's RetryPolicy, any other (an interruption too) fails the
    step at once."""
    try:
        report = retry_on_conflict(work, progress=ctx.progress)
    except (KeyboardInterrupt, DagsterExecutionInterruptedError) as exc:
        # the run is being cancelled: Dagster would retry an interrupted step that has a RetryPolicy
        ctx.client.stop()  # every later request of this run fails at once
        raise dg.Failure(description="Interrupted (the run was cancelled): this step stored nothing",
                         allow_retries=False) from exc
    except Exception as exc:
        if transient(exc):
            raise
        raise dg.Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc
    metadata = {**report.metadata(), **snapshot_metadata(ctx.snapshots)}
    if report.failures:
        metadata["failure_details"] = dg.MetadataValue.md("\n".join(f"- {f}" for f in report.failures[:50]))
    if report.table_rows is not None:
        metadata["dagster/row_count"] = report.table_rows
    if context.has_partition_key_range and len(report.windows) > 1:
        metadata = add_window_metadata(context, report, metadata)
    return dg.MaterializeResult(metadata=metadata)


def add_window_metadata(context: dg.AssetExecutionContext, report: AssetReport,
                        metadata: dict[str, Any]) -> dict[str, Any]:
    """A step over several windows materializes each of them: each gets its own rows fetched and
    row count. The step's totals of those two are kept as run_rows_fetched and run_row_count; its
    other figures (rows inserted, API calls, ...) are the step's, as `windows` says."""
    for window in report.windows:
        context.add_asset_metadata({"rows_fetched": report.fetched_by_window.get(window, 0),
                                    "dagster/row_count": report.rows_by_window.get(window, 0)},
                                   partition_key=window)
    per_window = ("rows_fetched", "dagster/row_count")
    return {**{k: v for k, v in metadata.items() if k not in per_window},
            **{f"run_{k.removeprefix('dagster/')}": metadata[k] for k in per_window if k in metadata}}


def build_content_assets(partitions: dg.PartitionsDefinition, retry_policy: dg.RetryPolicy | None = None,
                         site: Site = BUNDLED) -> list[dg.AssetsDefinition]:
    common = dict(group_name=site.named("confluence"), kinds={"ducklake", "parquet"}, retry_policy=retry_policy,
                  key_prefix=site.prefix, required_resource_keys=site.resource_keys)
    windowed = dict(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run(), **common)

    @dg.asset(**common)
    def spaces(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Every space the account can see: global, personal, knowledge base; current and archived."""
        ctx = sync_context(context, site)
        return run_sync(context, ctx, lambda: sync_spaces(ctx))

    def content_asset(name: str, deps: list, doc: str) -> dg.AssetsDefinition:
        @dg.asset(name=name, deps=deps, description=doc, **windowed)
        def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            ctx = sync_context(context, site)
            rng = window_range(context, ctx.settings)
            if name == "folders":
                return run_sync(context, ctx, lambda: sync_folders(ctx, rng))
            if name == "labels":
                return run_sync(context, ctx, lambda: sync_labels(ctx, rng))
            return run_sync(context, ctx, lambda: sync_content(ctx, name, rng))

        return _asset

    pages = content_asset("pages", [spaces], "Pages by modification window: storage body, tree position, "
                                             "breadcrumbs, trash and purge state.")
    blogposts = content_asset("blogposts", [spaces], "Blog posts by modification window, with storage bodies.")
    folders = content_asset("folders", [pages], "Folders of the page tree (found through CQL: Confluence has "
                                                "no folder listing).")
    # Comments and attachments follow their page's scope, which depends on the whole tree (folders too):
    # they come after folders, so that no attachment outside the sync filters is downloaded.
    comments = content_asset("comments", [pages, blogposts, folders], "Footer and inline comments with reply "
                                                                      "parents, inline resolution and the "
                                                                      "anchored text.")
    attachments = content_asset("attachments", [pages, blogposts, folders], "Attachment metadata; the bytes are "
                                                                            "saved under data/attachments/<id>.")
    labels = content_asset("labels", [pages, blogposts], "Labels of each page and blog post.")
    return [spaces, pages, blogposts, folders, comments, attachments, labels]
