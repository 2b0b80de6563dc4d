"""Search assets: content → `documents` (text in chunks that follow headings) → `search_index`
(BM25) → `search_embeddings` (chunk vectors for hybrid ranking, with the semantic extra).

search_index is queryable as soon as it is materialized: embedding comes after it, in its own
asset and its own short transactions, so it never delays BM25 freshness nor holds a table that
readers or the next sync need.

Both share the content assets' modification-window partitions, so a sync or backfill of any
range builds them in the same run, after the content of that range. Each run brings the whole
table in line with what is stored (search/documents.py explains why a window alone cannot):
what changed is rebuilt, what is deleted or filtered out is removed, the rest is left alone.
"""

from datetime import datetime, timezone

import dagster as dg

from ..search.documents import DocumentsReport, update_documents
from ..search.index import IndexReport, update_embeddings, update_index
from ..storage.warehouse import Warehouse
from ..sync.conflicts import retry_on_conflict
from .assets import snapshot_metadata
from .reconcile import RECONCILIATION_ASSET
from .site import BUNDLED, Site

SOURCES = ("pages", "blogposts", "comments", "attachments", "users")


def _windows(context: dg.AssetExecutionContext) -> str:
    keys = context.partition_key_range
    return keys.start if keys.start == keys.end else f"{keys.start}..{keys.end}"


def build_search_assets(partitions: dg.PartitionsDefinition, site: Site = BUNDLED) -> list[dg.AssetsDefinition]:
    common = dict(group_name=site.named("search"), kinds={"ducklake"}, partitions_def=partitions,
                  backfill_policy=dg.BackfillPolicy.single_run(), key_prefix=site.prefix,
                  required_resource_keys={site.pipeline_key})

    @dg.asset(deps=[*(site.key(name) for name in SOURCES), site.key(RECONCILIATION_ASSET.path[-1])], **common)
    def documents(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """The text of every page, blog post, comment and attachment the indexing filters let through,
        as Markdown and plain text in chunks that follow headings; each chunk carries its item's id,
        type, space, title, breadcrumbs, URL and modified time. Attachments whose text cannot be read
        (encrypted, corrupt, unsupported, over a cap) are listed in document_items with the reason."""
        settings = site.pipeline(context).load()
        def build() -> tuple[DocumentsReport, list[int]]:
            with Warehouse(settings.lake, writer="documents", commit_info=context.run.run_id) as wh:
                return update_documents(wh, settings.indexing, datetime.now(timezone.utc),
                                        progress=context.log.info), wh.snapshots

        report, snapshots = retry_on_conflict(build, progress=context.log.info)
        metadata: dict = {**report.metadata(), "windows": _windows(context), **snapshot_metadata(snapshots)}
        if report.skipped:
            metadata["attachments_without_text_by_reason"] = dg.MetadataValue.md(
                "\n".join(f"- {count} × {reason}" for reason, count in report.skipped.most_common(20)))
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(deps=[documents], **common)
    def search_index(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """BM25 full-text index over the document chunks (terms and postings in DuckDB), updated in
        place: an edited item's chunks are replaced, deleted or filtered-out items' chunks removed.
        Query it with `confluence-pipeline search "text" --as USER`."""
        settings = site.pipeline(context).load()
        def update() -> tuple[IndexReport, list[int]]:
            with Warehouse(settings.lake, writer="search_index", commit_info=context.run.run_id) as wh:
                return update_index(wh), wh.snapshots

        report, snapshots = retry_on_conflict(update, progress=context.log.info)
        return dg.MaterializeResult(metadata={**report.metadata(), "windows": _windows(context),
                                              **snapshot_metadata(snapshots)})

    @dg.asset(deps=[search_index], **common)
    def search_embeddings(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Each index chunk's embedding (search/semantic.py) for hybrid ranking, when the semantic
        extra is installed and search.semantic is auto or on: only new or changed chunks are
        embedded, vectors of gone chunks dropped, each batch committed on its own. Until it has
        run, search ranks by BM25 alone."""
        settings = site.pipeline(context).load()
        with Warehouse(settings.lake, writer="search_embeddings", commit_info=context.run.run_id) as wh:
            report = update_embeddings(wh, settings.search.semantic, progress=context.log.info)
            snapshots = wh.snapshots
        return dg.MaterializeResult(metadata={**report.metadata(), "windows": _windows(context),
                                              **snapshot_metadata(snapshots)})

    return [documents, search_index, search_embeddings]
