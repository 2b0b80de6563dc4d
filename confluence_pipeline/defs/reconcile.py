"""The reconciliation asset: content purged in Confluence, which no modification time shows."""

from typing import Sequence

import dagster as dg

from ..sync.reconcile import reconcile
from .assets import run_sync, sync_context
from .site import BUNDLED, INCREMENTAL_JOB, Site

RECONCILIATION_ASSET = dg.AssetKey("content_reconciliation")


def build_reconciliation_asset(content_keys: Sequence[dg.AssetKey], retry_policy: dg.RetryPolicy | None = None,
                               site: Site = BUNDLED) -> dg.AssetsDefinition:
    @dg.asset(key=site.key(RECONCILIATION_ASSET.path[-1]), deps=list(content_keys), group_name=site.named("confluence"),
              kinds={"ducklake"}, retry_policy=retry_policy, required_resource_keys=site.resource_keys)
    def content_reconciliation(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Every id of pages, blog posts, folders, comments and attachments listed (no bodies): stored
        content that no longer exists is marked purged (status, deleted_at) and its attachment bytes
        are removed. Runs on the reconciliation schedule; the rows stay in their tables. In
        incremental_sync runs it lists nothing (purges between runs are caught by the content steps'
        counts there); it is in that job only so that documents and content_access keep their order."""
        if context.job_name == site.named(INCREMENTAL_JOB):
            return dg.MaterializeResult(metadata={"listed": dg.MetadataValue.text(
                "nothing: incremental_sync leaves the full listing to the reconciliation job")})
        ctx = sync_context(context, site)
        return run_sync(context, ctx, lambda: reconcile(ctx))

    return content_reconciliation
