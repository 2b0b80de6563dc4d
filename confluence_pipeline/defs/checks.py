"""Asset checks over the DuckDB output: integrity a person would want to see on the asset page."""


from datetime import datetime, timedelta, timezone
from typing import Callable

import dagster as dg

from ..settings import Settings
from ..storage.schema import TABLES
from ..storage.warehouse import Warehouse
from .pipeline import PipelineResource
from .site import BUNDLED, Site

CONTAINED = ("comments", "attachments")


def _open(settings: Settings) -> Warehouse:
    """Checks only read: a read-only connection opens fast and skips the schema migration."""
    return Warehouse(settings.lake, read_only=True)


def _scalar(wh: Warehouse, sql: str, params: list | None = None) -> int:
    return int(wh.con.execute(sql, params or []).fetchall()[0][0])


def _result(passed: bool, description: str, severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
            **metadata: object) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=passed, severity=severity, description=description, metadata=metadata)


def site_check(site: Site, asset: dg.AssetsDefinition, name: str, description: str,
               fn: Callable[[PipelineResource], dg.AssetCheckResult]) -> dg.AssetChecksDefinition:
    """An asset check whose body takes the site's PipelineResource."""
    @dg.asset_check(asset=asset, name=name, description=description, required_resource_keys={site.pipeline_key})
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return fn(site.pipeline(context))

    return _check


def check_registrar(site: Site, assets: dict[str, dg.AssetsDefinition], checks: list[dg.AssetChecksDefinition]):
    """`@check(asset, name, description)`: a decorator that adds the function below it to `checks`
    as a site_check on `assets[asset]`."""
    def check(asset: str, name: str, description: str):
        def register(fn):
            checks.append(site_check(site, assets[asset], name, description, fn))
            return fn
        return register
    return check


def build_checks(assets: dict[str, dg.AssetsDefinition], site: Site = BUNDLED) -> list[dg.AssetChecksDefinition]:
    """Checks over the content tables; `assets` maps table names to the site's asset definitions."""
    checks: list[dg.AssetChecksDefinition] = []
    check = check_registrar(site, assets, checks)

    for table in ("pages", "blogposts", "folders", "comments", "attachments"):
        _table_checks(check, table)
    unique_keys_check(check, "spaces")
    for table in (*CONTAINED, "labels"):
        _container_check(check, table)
    _tree_checks(check)
    return checks


def unique_keys_check(check, table: str) -> None:
    def unique_ids(pipeline: PipelineResource) -> dg.AssetCheckResult:
        with _open(pipeline.load()) as wh:
            dupes = _scalar(wh, f"SELECT count(*) - count(DISTINCT ({', '.join(TABLES[table].key)})) FROM {table}")
        return _result(dupes == 0, f"{dupes} duplicate ids", duplicates=dupes)

    check(table, "unique_ids", "Every object appears once (one row per id).")(unique_ids)


def _table_checks(check, table: str) -> None:
    unique_keys_check(check, table)

    def in_its_window(pipeline: PipelineResource) -> dg.AssetCheckResult:
        settings = pipeline.load()
        with _open(settings) as wh:
            wh.run(f"SET TimeZone = '{settings.sync.timezone}'")
            wrong = _scalar(wh, f"""SELECT count(*) FROM {table} WHERE modified_at IS NOT NULL
                AND window_key <> greatest(strftime(modified_at, '%Y-%m-%d'), ?)""",
                            [settings.sync.start_date.isoformat()])
        return _result(wrong == 0, f"{wrong} rows outside the window of their modified time (the first window "
                       "also holds everything older)", misplaced=wrong)

    check(table, "in_window_of_modified_time",
          "Every row lives in the window of its modification time.")(in_its_window)

    def no_failures(pipeline: PipelineResource) -> dg.AssetCheckResult:
        with _open(pipeline.load()) as wh:
            failures = wh.get_state(f"failures:{table}", []) or []
        return _result(not failures, f"{len(failures)} failures in the last sync: " + "; ".join(failures[:5]),
                       failures=len(failures))

    if table != "folders":
        check(table, "last_sync_complete",
              "The last sync reached every space and object it should have (a 403 on a space fails this "
              "check; its watermark did not move).")(no_failures)



def _container_check(check, table: str) -> None:
    def has_container(pipeline: PipelineResource) -> dg.AssetCheckResult:
        column = "content_id" if table == "labels" else "container_id"
        with _open(pipeline.load()) as wh:
            orphans = _scalar(wh, f"""SELECT count(*) FROM {table} t WHERE t.deleted_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM pages p WHERE p.id = t.{column})
                AND NOT EXISTS (SELECT 1 FROM blogposts b WHERE b.id = t.{column})""")
        return _result(orphans == 0, f"{orphans} rows whose page or blog post is not synced (yet)",
                       dg.AssetCheckSeverity.WARN, orphans=orphans)

    check(table, "has_container", "Every comment, attachment and label has its page or blog post.")(has_container)


def _tree_checks(check) -> None:
    def page_has_space(pipeline: PipelineResource) -> dg.AssetCheckResult:
        with _open(pipeline.load()) as wh:
            orphans = _scalar(wh, "SELECT count(*) FROM pages p WHERE NOT EXISTS "
                                  "(SELECT 1 FROM spaces s WHERE s.id = p.space_id)")
        return _result(orphans == 0, f"{orphans} pages whose space is not synced", orphans=orphans)

    check("pages", "has_space", "Every page has its space.")(page_has_space)

    def latest_window_fresh(pipeline: PipelineResource) -> dg.AssetCheckResult:
        settings = pipeline.load()
        with _open(settings) as wh:
            watermark = wh.get_state("watermark:pages")
        limit = {"1h": 2, "6h": 12, "24h": 48}.get(settings.sync.interval, 48)
        if not watermark:
            return _result(False, "The latest window has never been synced", dg.AssetCheckSeverity.WARN)
        age = datetime.now(timezone.utc) - datetime.fromisoformat(watermark)
        return _result(age < timedelta(hours=limit), f"Last synced {age.total_seconds() / 3600:.1f} h ago "
                       f"(limit {limit} h)", dg.AssetCheckSeverity.WARN, hours_since_sync=age.total_seconds() / 3600)

    check("pages", "latest_window_fresh", "The latest window was synced within two sync intervals.")(latest_window_fresh)


def build_search_checks(documents: dg.AssetsDefinition, search_index: dg.AssetsDefinition,
                        embeddings: dg.AssetsDefinition | None = None,
                        site: Site = BUNDLED) -> list[dg.AssetChecksDefinition]:
    def chunks_match_items(pipeline: PipelineResource) -> dg.AssetCheckResult:
        with _open(pipeline.load()) as wh:
            wrong = _scalar(wh, """SELECT count(*) FROM document_items i FULL JOIN
                                   (SELECT content_id, count(*) AS n FROM documents GROUP BY content_id) d
                                   USING (content_id) WHERE coalesce(i.chunks, -1) <> coalesce(d.n, 0)""")
        return _result(wrong == 0, f"{wrong} items whose chunks do not match their count", mismatched=wrong)

    def matches_documents(pipeline: PipelineResource) -> dg.AssetCheckResult:
        with _open(pipeline.load()) as wh:
            if not wh.has_table("search_chunks"):
                return _result(False, "The search index has not been built yet", dg.AssetCheckSeverity.WARN)
            missing = _scalar(wh, """SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM search_chunks c
                                     WHERE c.chunk_id = d.chunk_id AND c.text_hash IS NOT DISTINCT FROM d.text_hash)""")
            extra = _scalar(wh, """SELECT count(*) FROM search_chunks c WHERE NOT EXISTS (SELECT 1 FROM documents d
                                   WHERE d.chunk_id = c.chunk_id AND d.text_hash IS NOT DISTINCT FROM c.text_hash)""")
        return _result(missing == 0 and extra == 0,
                       f"{missing} chunks of documents missing from the index or stale, {extra} in the index "
                       "that documents no longer has", missing_or_stale=missing, extra=extra)

    def vectors_cover_chunks(pipeline: PipelineResource) -> dg.AssetCheckResult:
        with _open(pipeline.load()) as wh:
            if not wh.has_table("search_vectors"):
                return _result(True, "Semantic ranking is off: search ranks by BM25 alone")
            missing = _scalar(wh, "SELECT count(*) FROM search_chunks WHERE chunk_key NOT IN "
                                  "(SELECT chunk_key FROM search_vectors)")
            extra = _scalar(wh, "SELECT count(*) FROM search_vectors WHERE chunk_key NOT IN "
                                "(SELECT chunk_key FROM search_chunks)")
        return _result(missing == 0 and extra == 0, f"{missing} chunks without a vector (ranked by BM25 alone "
                       f"until the next run), {extra} vectors of gone chunks", dg.AssetCheckSeverity.WARN,
                       missing=missing, extra=extra)

    checks = [site_check(site, documents, "chunks_match_items",
                       "Every indexed item has as many chunks as it says, and every chunk its item.",
                       chunks_match_items),
            site_check(site, search_index, "matches_documents",
                       "Every chunk in `documents` is in the search index with its current text, and the index "
                       "holds nothing else.", matches_documents)]
    if embeddings is not None:
        checks.append(site_check(site, embeddings, "vectors_cover_chunks",
                                 "With semantic ranking on, every chunk of the index has its vector.",
                                 vectors_cover_chunks))
    return checks


def build_reconciliation_checks(reconciliation: dg.AssetsDefinition,
                                site: Site = BUNDLED) -> list[dg.AssetChecksDefinition]:
    def purges_are_whole(pipeline: PipelineResource) -> dg.AssetCheckResult:
        with _open(pipeline.load()) as wh:
            undated = _scalar(wh, "SELECT " + " + ".join(
                f"(SELECT count(*) FROM {t} WHERE status = 'purged' AND deleted_at IS NULL)"
                for t in ("pages", "blogposts", "folders", "comments", "attachments")))
            orphaned = _scalar(wh, "SELECT " + " + ".join(
                f"""(SELECT count(*) FROM {t} c WHERE c.status <> 'purged' AND c.container_id IN
                    (SELECT id FROM pages WHERE status = 'purged' UNION ALL
                     SELECT id FROM blogposts WHERE status = 'purged'))""" for t in CONTAINED))
        return _result(undated == 0 and orphaned == 0, f"{undated} purged rows without deleted_at, {orphaned} "
                       "comments and attachments live in purged content", undated=undated, orphaned=orphaned)

    return [site_check(site, reconciliation, "purges_are_whole",
                       "Purged content has its deletion time, and nothing in a purged page or blog post is live.",
                       purges_are_whole)]
