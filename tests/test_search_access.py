"""Search through real Dagster materializations: relevance on the emulator's planted facts, and
for several users no hit the permission oracle (`Workspace.can_view`) denies, before and after
restrictions, group members and content change and an incremental sync; an edit and a trashed
page reach the index in that same incremental run.

The tests of this module run in order against one site: the last one changes it.
"""

from __future__ import annotations

import argparse
import io
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import dagster as dg
import pytest
import requests
import yaml
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from confluence_pipeline.storage.lake import Lake
from confluence_pipeline.defs.assets import build_content_assets
from confluence_pipeline.defs.directory import build_directory_assets
from confluence_pipeline.defs.partitions import content_partitions
from confluence_pipeline.defs.pipeline import PipelineResource
from confluence_pipeline.defs.resources import ConfluenceResource
from confluence_pipeline.defs.checks import build_search_checks
from confluence_pipeline.defs.search import build_search_assets
from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator
from confluence_pipeline.search import Searcher, SearchError, search, semantic
from confluence_pipeline.search.tokens import term_counts, terms, terms_with_spans
from confluence_pipeline.search_cli import add_search_parser
from confluence_pipeline.settings import load_settings
from confluence_pipeline.storage.warehouse import Warehouse

ANCHOR = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
START = (ANCHOR - timedelta(days=2)).date().isoformat()
LIMIT = 25
MODES = ["bm25", "hybrid"] if semantic.installed() else ["bm25"]  # the default is hybrid when installed


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


class Site:
    def __init__(self, folder, *, seed: int = 5, scale: int = 150) -> None:
        self.emu = Emulator(seed=seed, scale=scale, anchor=ANCHOR)
        self.emu.start()
        self.ws = self.emu.ws
        self.settings_file = folder / "confluence.yaml"
        self.configure()
        self.db = load_settings(self.settings_file).lake

    def configure(self, **options: Any) -> None:
        """The settings file every later run reads: the sync window, plus `options`."""
        self.settings_file.write_text(yaml.safe_dump({"sync": {"start_date": START, "timezone": "UTC"},
                                                      "data_dir": str(self.settings_file.parent / "data"),
                                                      **options}))

    def sync(self, first: str = START) -> dg.ExecuteInProcessResult:
        """Content, directory, access and search assets over windows first..today, in one run."""
        partitions = content_partitions(load_settings(self.settings_file))
        search_assets = build_search_assets(partitions)
        assets = [*build_content_assets(partitions), *build_directory_assets(partitions), *search_assets,
                  *build_search_checks(*search_assets)]
        resources = {"confluence": ConfluenceResource(mode="api_token", site_url=self.emu.base_url,
                                                      email=DEFAULT_EMAIL, api_token=DEFAULT_API_TOKEN),
                     "pipeline": PipelineResource(settings_file=str(self.settings_file))}
        return dg.materialize(assets, instance=dg.DagsterInstance.ephemeral(), resources=resources,
                              run_config={"ops": {"content_restrictions": {"config": {"full_pass": True}}}},
                              tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: today()})

    def control(self, path: str, body: dict[str, Any]) -> Any:
        response = requests.post(f"{self.emu.base_url}/__emulator__{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def searchable(self) -> list:
        """Current items whose page or blog post is current: what the index holds."""
        out = []
        for item in self.ws.content.values():
            container = self.ws.container_of(item) if item.container_id else item
            if item.type != "folder" and item.status == "current" and container and container.status == "current":
                out.append(item)
        return out


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("search"))
    result = site.sync()
    assert result.success
    assert sorted((c.check_name, c.passed) for c in result.get_asset_check_evaluations()) == [
        ("chunks_match_items", True), ("matches_documents", True), ("vectors_cover_chunks", True)]
    yield site
    site.emu.stop()


def viewers(site: Site, count: int = 5) -> list[str]:
    """Ordinary users (no site admin) with different views: some in no group, some restricted out."""
    ws = site.ws
    grouped = set().union(*ws.group_members.values())
    users = sorted((u for u in ws.users.values() if u.account_type == "atlassian" and not u.is_admin
                    and u.account_status == "active"), key=lambda u: u.account_id)
    loners = [u.account_id for u in users if u.account_id not in grouped][:2]
    members = [u.account_id for u in users if u.account_id in grouped][:count - len(loners)]
    return loners + members


def leaks(site: Site, account_ids: list[str], queries: list[str]) -> dict[str, list[str]]:
    """Per user: BM25 hits the oracle denies (empty when search never over-grants). Hybrid search
    keeps the same filter over more candidates: test_search_semantic checks it against the oracle."""
    out: dict[str, list[str]] = {}
    with Searcher(site.db) as searcher:
        for account_id in account_ids:
            denied = [hit.content_id for query in queries
                      for hit in searcher.search(query, as_user=account_id, limit=LIMIT, mode="bm25")
                      if not site.ws.can_view(account_id, site.ws.get(hit.content_id))]
            if denied:
                out[account_id] = sorted(set(denied))
    return out


def queries_for(site: Site, items: list) -> list[str]:
    words = ["runbook", "deployment pipeline", "team", "Re:", "release checklist pdf", "デプロイ手順", "rollback window"]
    return words + [item.title for item in items]


def found(searcher: Searcher, account_id: str, item) -> bool:
    """Whether a search for the item's title, as this user, returns it."""
    return item.id in {h.content_id for h in searcher.search(item.title, as_user=account_id, limit=LIMIT,
                                                             mode="bm25")}


def test_planted_facts_are_found_in_the_top_five(site):
    facts = site.ws.planted_facts
    assert len(facts) >= 50
    for mode in MODES:
        with Searcher(site.db) as searcher:
            top5 = [content_id in [h.content_id for h in searcher.search(query, as_user=DEFAULT_EMAIL, limit=5,
                                                                          mode=mode)]
                    for query, content_id in facts]
        assert sum(top5) / len(top5) >= 0.9, f"{mode}: {sum(top5)}/{len(top5)}"
        missed = [query for (query, cid), hit in zip(facts, top5) if cid.startswith("att") and not hit]
        # facts inside pdf/docx/csv/txt files are found too
        assert any(cid.startswith("att") for _, cid in facts) and missed == [], f"{mode}: {missed}"


def test_hits_show_title_breadcrumbs_url_and_a_highlighted_snippet(site):
    query, content_id = site.ws.planted_facts[-1]
    hit = search(site.db, query, as_user=DEFAULT_EMAIL, limit=1)[0]
    item = site.ws.get(content_id)
    assert (hit.content_id, hit.title, hit.type) == (content_id, item.title, item.type)
    assert hit.breadcrumbs[0] == site.ws.spaces[item.space_id].name and hit.url.startswith(site.emu.base_url)
    assert "**" in hit.snippet and hit.score > 0
    space_only = search(site.db, query, as_user=DEFAULT_EMAIL, space=hit.space_key, type=hit.type, limit=LIMIT)
    assert space_only and all(h.space_key == hit.space_key and h.type == hit.type for h in space_only)
    other_type = "comment" if hit.type != "comment" else "page"
    assert content_id not in {h.content_id for h in search(site.db, query, as_user=DEFAULT_EMAIL, type=other_type)}


def test_the_command_prints_hits_and_json(site, monkeypatch, capsys):
    monkeypatch.setenv("CONFLUENCE_DATA_DIR", str(site.settings_file.parent / "data"))
    monkeypatch.setenv("CONFLUENCE_SETTINGS", str(site.settings_file))
    parser = argparse.ArgumentParser()
    add_search_parser(parser.add_subparsers())
    query, content_id = site.ws.planted_facts[0]
    out = io.StringIO()
    args = parser.parse_args(["search", query, "--as", DEFAULT_EMAIL, "--limit", "3", "--json"])
    assert args.func(args, out) == 0
    hits = json.loads(out.getvalue())
    assert hits[0]["content_id"] == content_id and {"type", "score", "url", "breadcrumbs", "snippet"} <= set(hits[0])
    text = io.StringIO()
    args = parser.parse_args(["search", query, "--as", DEFAULT_EMAIL, "--limit", "3"])
    args.func(args, text)
    assert text.getvalue().startswith(f"1. {site.ws.get(content_id).title}  [")
    with pytest.raises(SystemExit, match="No user 'nobody@example.com'"):
        args = parser.parse_args(["search", query, "--as", "nobody@example.com"])
        args.func(args, io.StringIO())


@pytest.mark.slow(40)
def test_no_user_ever_gets_a_hit_the_oracle_denies(site):
    ws = site.ws
    users = viewers(site)
    assert len(users) >= 4
    items = site.searchable()
    restricted = [c for c in items if c.type in ("page", "blogpost") and
                  any(r == "read" for n in [c, *ws.ancestors(c)] for r in n.restrictions)]
    sample = restricted[:8] + [c for c in items if c not in restricted][:4]
    assert leaks(site, users, queries_for(site, sample)) == {}
    # the filter removes real hits: a restricted page is found by whoever may see it, and only by them
    shown = hidden = 0
    with Searcher(site.db) as searcher:
        for page in restricted[:8]:
            for account_id in users:
                if ws.can_view(account_id, page):
                    shown += found(searcher, account_id, page)
                else:
                    hidden += 1
                    assert not found(searcher, account_id, page)
    assert shown > 0 and hidden > 0


@pytest.mark.slow(40)
def test_changes_reach_search_in_one_incremental_sync_and_nothing_leaks(site):
    ws = site.ws
    users = viewers(site)
    items = site.searchable()
    pages = [c for c in items if c.type == "page" and c.id != ws.spaces[c.space_id].homepage_id]
    viewer, other = users[:2]

    def unrestricted(page) -> bool:
        return not any(n.restrictions.get("read") for n in [page, *ws.ancestors(page)])

    # every target is chosen before anything changes, none of them above another
    reader, opened = next((u, p) for p in pages for u in sorted(ws.users)
                          if p.restrictions.get("read") and not ws.can_view(u, p)
                          and not any(a.restrictions.get("read") for a in ws.ancestors(p))
                          and ws.can_read_space(u, ws.spaces[p.space_id]))
    closed = next(p for p in pages if unrestricted(p) and ws.can_view(viewer, p) and ws.can_view(other, p)
                  and p not in ws.ancestors(opened))
    member, group_page, group_id = next(
        (u, p, g) for p in pages if p.restrictions.get("read") and p is not opened and closed not in ws.ancestors(p)
        for g in p.restrictions["read"].group_ids for u in users
        if ws.can_view(u, p) and u not in p.restrictions["read"].user_ids
        and [x for x in p.restrictions["read"].group_ids if u in ws.group_members.get(x, set())] == [g])
    targets = {opened, closed, group_page}
    edited, trashed = [p for p in pages if unrestricted(p) and ws.can_view(viewer, p) and p not in targets
                       and not any(p in ws.ancestors(t) for t in targets)][:2]
    with Searcher(site.db) as searcher:
        assert found(searcher, viewer, closed) and not found(searcher, reader, opened)
        assert found(searcher, member, group_page) and found(searcher, viewer, trashed)

    site.control(f"/content/{closed.id}/restrictions", {"operation": "read", "userIds": [other]})
    site.control(f"/content/{opened.id}/restrictions", {"operation": "read", "userIds": [], "groupIds": []})
    site.control(f"/groups/{group_id}/members", {"remove": [member]})
    site.control(f"/content/{edited.id}/edit", {"body": "<h2>Fresh</h2><p>Zanzibarite calibration notes.</p>"})
    site.control(f"/content/{trashed.id}/trash", {})
    result = site.sync(first=today())  # the latest window only, as the schedule runs it
    assert result.success
    documents = {k: v.value for k, v in result.asset_materializations_for_node("documents")[-1].metadata.items()}
    assert documents["items_rebuilt"] < len(items) // 4  # incremental: what changed, not everything

    with Searcher(site.db) as searcher:
        assert not found(searcher, viewer, closed) and found(searcher, other, closed)
        assert found(searcher, reader, opened)
        assert not found(searcher, member, group_page)
        assert [h.content_id for h in searcher.search("zanzibarite", as_user=viewer)] == [edited.id]
        assert not found(searcher, DEFAULT_EMAIL, trashed)
    assert leaks(site, users, queries_for(site, [closed, opened, group_page, edited, trashed, *items[:10]])) == {}


def test_search_refuses_without_a_directory_and_answers_empty_for_unknown_words(site, tmp_path):
    assert search(site.db, "qqqqzzzz unheardofword", as_user=DEFAULT_EMAIL) == []
    assert search(site.db, "the and of", as_user=DEFAULT_EMAIL) == []  # only stop words
    with pytest.raises(SearchError, match="No synced data"):
        search(Lake.local(tmp_path / "none"), "x", as_user=DEFAULT_EMAIL)
    with pytest.raises(SearchError, match="type must be one of"):
        search(site.db, "x", as_user=DEFAULT_EMAIL, type="folder")


def test_a_bare_on_or_off_in_the_settings_file_means_the_word(tmp_path):
    """YAML reads `semantic: off` as false: the setting still means off (and `on` on)."""
    settings_file = tmp_path / "confluence.yaml"
    for word in ("on", "off", "auto"):
        settings_file.write_text(f"search:\n  semantic: {word}\n")
        assert load_settings(settings_file).search.semantic == word


def test_the_index_check_fails_when_a_chunk_in_the_index_is_stale(site):
    check = build_search_checks(*build_search_assets(content_partitions(load_settings(site.settings_file)))[:2])[1]
    resource = PipelineResource(settings_file=str(site.settings_file))
    with Warehouse(site.db) as wh:
        chunk_id, text_hash = wh.run("SELECT chunk_id, text_hash FROM search_chunks ORDER BY chunk_id LIMIT 1")[0]
        wh.run("UPDATE search_chunks SET text_hash = 'stale' WHERE chunk_id = ?", [chunk_id])
    try:
        result = check(dg.build_asset_check_context(resources={"pipeline": resource}))
        assert not result.passed
        assert result.metadata["missing_or_stale"].value == 1 and result.metadata["extra"].value == 1
    finally:
        with Warehouse(site.db) as wh:
            wh.run("UPDATE search_chunks SET text_hash = ? WHERE chunk_id = ?", [text_hash, chunk_id])
    assert check(dg.build_asset_check_context(resources={"pipeline": resource})).passed


@pytest.mark.parametrize("text", [
    "Deployments of Quorion-412 by Müller, naïve façade; the_and_ a_b x",
    "日本語のテキスト 中 and 한국어 Ελληνικά Кириллица ﬁle Straße",
    "", "___ --- 42",
    "Deployments of the API v2 by OPS_team: DEPLOYED, deploying 3x faster. The THE the",
])
def test_index_terms_are_the_terms_a_query_and_a_snippet_see(text):
    # indexing takes the fast `terms`; queries and highlighting take `terms_with_spans`
    fast = terms(text)
    assert fast == [term for term, _, _ in terms_with_spans(text)]
    assert term_counts(text) == Counter(fast)
    assert not text.strip("_- ") or fast  # every text with a word gives terms
