"""The search benchmark: relevance on the emulator's planted facts, and search latency.

    from confluence_pipeline.bench.search import bench_search, format_report
    print(format_report(bench_search(scale=10_000)))

It generates a site, syncs it through the real asset graph (content, directory, access,
documents, search index) into a temporary directory, then searches as several users: the
syncing account and ordinary users in and out of groups. Latency is reported two ways: a
program holding a `Searcher` open, and `search()` as the CLI calls it (connecting to the lake
for every query). With the semantic extra installed the index also holds chunk vectors, and
relevance and latency are reported for BM25 alone and for hybrid ranking, with the time spent
embedding. Figures are printed, never asserted.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .common import generated_site, percentile
from ..storage.lake import Lake

QUERIES_PER_USER = 100
COMMON_QUERIES = ["runbook", "deployment pipeline rollback", "on-call rotation", "incident review", "release checklist",
                  "billing service", "quarterly roadmap", "access review", "デプロイ手順", "план релиза"]


def sync_for_search(emu: Any, folder: Path, semantic: str) -> dict[str, dict[str, Any]]:
    """Every asset the search needs, in one Dagster run over all windows; each asset's metadata."""
    import dagster as dg
    import yaml
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from ..defs.assets import build_content_assets
    from ..defs.directory import build_directory_assets
    from ..defs.partitions import content_partitions
    from ..defs.pipeline import PipelineResource
    from ..defs.resources import ConfluenceResource
    from ..defs.search import build_search_assets
    from ..emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL
    from ..settings import load_settings

    today = datetime.now(timezone.utc).date()
    start = (today - timedelta(days=2)).isoformat()
    settings_file = folder / "confluence.yaml"
    settings_file.write_text(yaml.safe_dump({"sync": {"start_date": start}, "search": {"semantic": semantic},
                                             "data_dir": str(folder / "data")}))
    partitions = content_partitions(load_settings(settings_file))
    assets = [*build_content_assets(partitions), *build_directory_assets(partitions), *build_search_assets(partitions)]
    resources = {"confluence": ConfluenceResource(mode="api_token", site_url=emu.base_url, email=DEFAULT_EMAIL,
                                                  api_token=DEFAULT_API_TOKEN),
                 "pipeline": PipelineResource(settings_file=str(settings_file))}
    result = dg.materialize(assets, instance=dg.DagsterInstance.ephemeral(), resources=resources,
                            run_config={"ops": {"content_restrictions": {"config": {"full_pass": True}}}},
                            tags={ASSET_PARTITION_RANGE_START_TAG: start,
                                  ASSET_PARTITION_RANGE_END_TAG: today.isoformat()})
    return {name: {k: v.value for k, v in result.asset_materializations_for_node(name)[-1].metadata.items()}
            for name in ("documents", "search_index", "search_embeddings")}


def _users(ws: Any, count: int) -> list[str]:
    """The syncing account, then ordinary users: some in no group, the rest in groups."""
    from ..emulator.app import DEFAULT_EMAIL

    grouped = set().union(*ws.group_members.values())
    ordinary = sorted((u.account_id for u in ws.users.values()
                       if u.account_type == "atlassian" and not u.is_admin and u.account_status == "active"))
    loners = [u for u in ordinary if u not in grouped][:max(1, count // 3)]
    members = [u for u in ordinary if u in grouped][:count - len(loners)]
    return [ws.user_by_email(DEFAULT_EMAIL).account_id, *loners, *members]


def bench_search(scale: int = 10_000, seed: int = 42, users: int = 4, keep: Path | None = None,
                 semantic: str = "auto", progress=print) -> dict[str, Any]:
    """Relevance and latency figures at `scale` pages (see the module docstring). `keep`: a folder
    to sync into and leave behind for inspection (default: a temporary one)."""
    from ..search.query import Searcher, search

    with generated_site(scale, seed, progress) as emu, tempfile.TemporaryDirectory() as tmp:
        folder = Path(keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        progress("syncing content, directory and access, building documents and the search index")
        started = time.perf_counter()
        built = sync_for_search(emu, folder, semantic)
        sync_s = time.perf_counter() - started
        lake = Lake.local(folder / "data")
        ws = emu.ws
        facts = ws.planted_facts
        viewers = _users(ws, users)
        titles = sorted(c.title for c in ws.content.values() if c.type in ("page", "blogpost"))
        queries = [q for q, _ in facts] + COMMON_QUERIES + titles[::max(1, len(titles) // 40)][:40]
        queries = queries[:QUERIES_PER_USER]
        progress(f"searching: {len(facts)} planted facts, then {len(queries)} queries as {len(viewers)} users")
        modes = ["bm25", "hybrid"] if built["search_embeddings"]["vectors_added"] else ["bm25"]
        figures: dict[str, dict[str, Any]] = {}
        for mode in modes:
            with Searcher(lake) as searcher:
                searcher.search(queries[0], as_user=viewers[0], mode=mode)  # loads the model once, untimed
                top5 = sum(content_id in [h.content_id for h in
                                          searcher.search(query, as_user=viewers[0], limit=5, mode=mode)]
                           for query, content_id in facts)
                held: list[float] = []
                for account_id in viewers:
                    for query in queries:
                        t0 = time.perf_counter()
                        searcher.search(query, as_user=account_id, limit=10, mode=mode)
                        held.append((time.perf_counter() - t0) * 1000)
            opened: list[float] = []
            for account_id in viewers[:2]:
                for query in queries[:50]:
                    t0 = time.perf_counter()
                    search(lake, query, as_user=account_id, limit=10, mode=mode)
                    opened.append((time.perf_counter() - t0) * 1000)
            figures[mode] = {"facts_in_top5": top5, "queries": len(held),
                             "held_median_ms": statistics.median(held), "held_p95_ms": percentile(held, 0.95),
                             "opened_median_ms": statistics.median(opened),
                             "opened_p95_ms": percentile(opened, 0.95)}
        size_mb = sum(f.stat().st_size for f in [lake.catalog_file, *Path(lake.data_path).rglob("*")]
                      if f.is_file()) / 1e6
    return {
        "scale": scale, "seed": seed, "sync_and_build_s": sync_s, "lake_mb": size_mb,
        "documents": built["documents"], "search_index": built["search_index"],
        "search_embeddings": built["search_embeddings"],
        "facts": len(facts), "users": len(viewers), "modes": figures,
    }


def format_report(r: dict[str, Any]) -> str:
    documents, index, vectors = r["documents"], r["search_index"], r["search_embeddings"]
    return "\n".join([
        f"search bench, seed {r['seed']}, scale {r['scale']:,}",
        f"  sync + documents + index: {r['sync_and_build_s']:.0f} s; lake (catalog and Parquet) {r['lake_mb']:,.0f} MB",
        f"  documents: {documents['items_indexed']:,} items in {documents['chunks']:,} chunks, built in "
        f"{documents['duration_s']:.1f} s ({documents['attachments_without_text']} attachments without text)",
        f"  search index: {index['chunks']:,} chunks, {index['postings_added']:,} postings, built in "
        f"{index['duration_s']:.1f} s",
        f"  semantic: {vectors['semantic']}, {vectors['vectors_added']:,} chunks embedded in "
        f"{vectors['embedding_s']:.1f} s" + (f" ({1000 * vectors['embedding_s'] / vectors['vectors_added']:.1f} ms a chunk)"
                                              if vectors['vectors_added'] else ""),
        *[line for mode, m in r["modes"].items() for line in (
            f"  {mode}: relevance {m['facts_in_top5']}/{r['facts']} planted facts in the top 5 "
            f"({100 * m['facts_in_top5'] / r['facts']:.0f}%; target >= 90%)",
            f"  {mode}: latency, Searcher held open ({m['queries']} queries, {r['users']} users): median "
            f"{m['held_median_ms']:.1f} ms, p95 {m['held_p95_ms']:.1f} ms",
            f"  {mode}: latency, search() connecting per query (as the CLI, model loaded once): median "
            f"{m['opened_median_ms']:.1f} ms, p95 {m['opened_p95_ms']:.1f} ms")],
    ])
