"""`confluence-pipeline bench peers`: this project's sync and other Confluence clients on one site.

The emulator runs in its own process; each client runs twice (a full run, then an unchanged
second run) in a subprocess of its own, so wall time and peak RSS are its alone. The site's
request statistics (every request, served or refused) give the API calls and points. The clients
are LangChain's ConfluenceLoader and LlamaIndex's ConfluenceReader (the `peers` extra), in their
documented space-key mode with comments and attachments on, with basic auth as the site admin.

Over-grants: a peer's output has no per-user permissions, so every item it fetched that some
user of the site cannot view is something that user could read in the peer's index but not in
Confluence. They are counted with this project's access model (built by its own run, which comes
first), and cross-checked against the site's own rules (Workspace.can_view).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from .common import peak_rss_mb, run_all, serve_emulator

PEERS = ("confluence_pipeline", "langchain", "llamaindex")


@dataclass
class Run:
    """What one client returned in one run (printed as JSON by the subprocess)."""

    pages: list[str] = field(default_factory=list)
    blogposts: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    permissions: bool = False
    visible: dict[str, list[str]] = field(default_factory=dict)  # this project's access model: user -> ids
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0


def _spaces(base: str, auth: tuple[str, str]) -> list[str]:
    keys, url = [], f"{base}/wiki/rest/api/space?limit=250"
    while url:
        body = requests.get(url, auth=auth, timeout=60).json()
        keys += [s["key"] for s in body["results"]]
        url = f"{base}/wiki{body['_links']['next']}" if "next" in body["_links"] else ""
    return keys


def _comment_ids(base: str, auth: tuple[str, str], page_id: str) -> list[str]:
    """The comments a peer read for a page (they keep no ids): what the same listing returns."""
    url = f"{base}/wiki/rest/api/content/{page_id}/child/comment?depth=all&limit=200"
    return [c["id"] for c in requests.get(url, auth=auth, timeout=60).json()["results"]]


def _run_langchain(base: str, auth: tuple[str, str], run: Run) -> None:
    from langchain_community.document_loaders import ConfluenceLoader

    for key in _spaces(base, auth):
        options = dict(url=f"{base}/wiki", username=auth[0], api_key=auth[1], space_key=key, include_comments=True,
                       include_restricted_content=True, max_pages=1_000_000)
        try:
            documents = ConfluenceLoader(include_attachments=True, **options).load()
        except requests.HTTPError as exc:
            path = urlsplit(exc.response.url).path.rsplit("/", 2)[0]
            run.notes.append(f"space {key}: attachments on stops with HTTP {exc.response.status_code} on "
                             f"{path}/... (the download servlet); loaded again without")
            documents = ConfluenceLoader(include_attachments=False, **options).load()
        run.pages += [d.metadata["id"] for d in documents]


def _run_llamaindex(base: str, auth: tuple[str, str], run: Run) -> None:
    from llama_index.readers.confluence import ConfluenceReader

    failed: list[str] = []  # the reader logs a failed attachment and goes on without it

    class _Failures(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Failed to process attachment"):
                failed.append(record.getMessage()[:120])

    logger = logging.getLogger("bench-peers-llamaindex")
    logger.addHandler(_Failures())
    logger.propagate = False
    reader = ConfluenceReader(base_url=f"{base}/wiki", user_name=auth[0], password=auth[1], logger=logger)
    for key in _spaces(base, auth):
        try:
            documents = reader.load_data(space_key=key, page_status="current", include_attachments=True)
        except Exception as exc:  # noqa: BLE001 -- the peer's own failure is the finding
            run.notes.append(f"space {key}: attachments on fails ({type(exc).__name__}: {str(exc)[:80]}); "
                             "loaded again without")
            documents = reader.load_data(space_key=key, page_status="current")
        run.pages += [d.doc_id for d in documents]
    if failed:
        run.notes.append(f"{len(failed)} attachments failed and were left out, e.g. {failed[0]!r}")


def _run_ours(base: str, auth: tuple[str, str], run: Run, data_dir: str) -> None:
    """The whole sync: content, then groups, members, space permissions, restrictions, users and
    the access model, as `confluence-pipeline sync` materializes them."""
    from ..access import AccessModel, update_content_access
    from ..confluence.client import ConfluenceClient
    from ..settings import Settings, SyncSettings
    from ..storage.warehouse import Warehouse
    from ..sync.groups import sync_group_members, sync_groups
    from ..sync.restrictions import sync_restrictions
    from ..sync.space_permissions import sync_space_permissions
    from ..sync.step import SyncContext
    from ..sync.users import sync_users

    today = datetime.now(timezone.utc).date()
    settings = Settings(data_dir=Path(data_dir), sync=SyncSettings(start_date=today - timedelta(days=7)))
    ctx = SyncContext(client=ConfluenceClient.with_api_token(base, *auth), settings=settings, site_url=base)
    run_all(ctx)
    for step in (sync_groups, sync_group_members, sync_space_permissions, sync_restrictions, sync_users):
        step(ctx)
    with Warehouse(settings.lake, writer="content_access") as wh:
        update_content_access(wh, datetime.now(timezone.utc))
    with Warehouse(settings.lake, read_only=True) as wh:
        for table in ("pages", "blogposts", "comments", "attachments"):
            setattr(run, table, sorted(wh.ids(table, "status = 'current'")))
        model = AccessModel(wh)
        accounts = [r[0] for r in wh.run("SELECT account_id FROM users WHERE deleted_at IS NULL")]
        run.visible = {account: sorted(model.visible_ids(account)) for account in accounts}
    run.permissions = True


def run_one(peer: str, base: str, email: str, token: str, data_dir: str) -> Run:
    """One client, one run, in this process (the subprocess side)."""
    run, auth = Run(), (email, token)
    t0 = time.perf_counter()
    if peer == "confluence_pipeline":
        _run_ours(base, auth, run, data_dir)
    elif peer == "langchain":
        _run_langchain(base, auth, run)
    elif peer == "llamaindex":
        _run_llamaindex(base, auth, run)
    else:
        raise SystemExit(f"unknown peer {peer!r}: use one of {', '.join(PEERS)}")
    run.wall_s = time.perf_counter() - t0
    run.peak_rss_mb = peak_rss_mb()
    if peer != "confluence_pipeline":  # the peers keep no comment ids: the listings they read
        run.comments = [c for page_id in run.pages for c in _comment_ids(base, auth, page_id)]
    return run


def _in_subprocess(peer: str, base: str, email: str, token: str, data_dir: str) -> Run:
    done = subprocess.run([sys.executable, "-m", "confluence_pipeline.bench.peers", peer, base, email, token, data_dir],
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        return Run(notes=[f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"])
    return Run(**json.loads(done.stdout.strip().splitlines()[-1]))


def _over_grants(ws: Any, visible: dict[str, set[str]], ids: list[str]) -> tuple[int, int, int]:
    """(items some user cannot view, item-user pairs) among what a peer fetched, by this project's
    access model (`visible`); and the pairs where the site's own rules disagree with it."""
    users = [u.account_id for u in ws.users.values() if not u.is_admin]
    items = pairs = disagreements = 0
    for cid in set(ids):
        item = ws.content.get(cid)
        hidden = [u for u in users if cid not in visible.get(u, set())]
        items += bool(hidden)
        pairs += len(hidden)
        if item is not None:
            disagreements += sum(1 for u in users if (u in hidden) == ws.can_view(u, item))
    return items, pairs, disagreements


def bench_peers(scale: int, seed: int, as_json: bool) -> int:
    from ..emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL
    from ..emulator.generate import generate_workspace

    ws = generate_workspace(seed, scale)  # the same site as the served one: generation is seeded
    current = [c for c in ws.content.values() if c.status == "current"]
    totals = {kind: sum(1 for c in current if c.type == kind) for kind in ("page", "blogpost", "comment", "attachment")}
    proc, base = serve_emulator(scale, seed)
    rows: list[dict[str, Any]] = []
    visible: dict[str, set[str]] = {}  # from this project's run, which comes first
    try:
        for peer in PEERS:
            with tempfile.TemporaryDirectory(prefix=f"bench-peers-{peer}-") as data_dir:
                measured = []
                for _ in range(2):  # a full run, then an unchanged second run
                    requests.post(f"{base}/__emulator__/stats/reset", timeout=30).raise_for_status()
                    result = _in_subprocess(peer, base, DEFAULT_EMAIL, DEFAULT_API_TOKEN, data_dir)
                    stats = requests.get(f"{base}/__emulator__/stats", timeout=30).json()
                    measured.append((result, stats))
            (first, stats), (_, second_stats) = measured
            fetched = first.pages + first.blogposts + first.comments + first.attachments
            if first.permissions:
                visible = {account: set(ids) for account, ids in first.visible.items()}
                items = pairs = 0
            else:
                items, pairs, disagreements = _over_grants(ws, visible, fetched)
                if disagreements:
                    first.notes.append(f"the access model and the site's rules disagree on {disagreements} "
                                       "item-user pairs")
            rows.append({"client": peer, "calls": stats["received_requests"], "points": stats["total_points"],
                         "wall_s": round(first.wall_s, 1), "peak_rss_mb": round(first.peak_rss_mb),
                         "pages": len(set(first.pages)), "blogposts": len(set(first.blogposts)),
                         "comments": len(set(first.comments)), "attachments": len(set(first.attachments)),
                         "permissions": first.permissions, "over_granted_items": items,
                         "over_granted_pairs": pairs, "second_run_calls": second_stats["received_requests"],
                         "notes": sorted(set(first.notes))})
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if as_json:
        print(json.dumps({"scale": scale, "seed": seed, "totals": totals, "clients": rows}, indent=2))
        return 0
    print(f"peers bench, seed {seed}, scale {scale:,}: site has {totals['page']:,} pages, {totals['blogpost']:,} "
          f"blog posts, {totals['comment']:,} comments, {totals['attachment']:,} attachments (current), "
          f"{sum(1 for u in ws.users.values() if not u.is_admin)} non-admin users")
    header = (f"{'client':<20}{'calls':>7}{'points':>8}{'wall s':>8}{'RSS MB':>8}{'pages':>7}{'blogs':>7}"
              f"{'comments':>9}{'attach':>8}{'perms':>7}{'over-granted':>14}{'2nd run':>9}")
    print(header)
    for r in rows:
        over = "-" if r["permissions"] else f"{r['over_granted_items']} ({r['over_granted_pairs']})"
        print(f"{r['client']:<20}{r['calls']:>7}{r['points']:>8}{r['wall_s']:>8}{r['peak_rss_mb']:>8}{r['pages']:>7}"
              f"{r['blogposts']:>7}{r['comments']:>9}{r['attachments']:>8}{'yes' if r['permissions'] else 'no':>7}"
              f"{over:>14}{r['second_run_calls']:>9}")
    print("over-granted: items some user cannot view in Confluence (item-user pairs); '-': per-user permissions "
          "are recorded")
    for r in rows:
        for note in r["notes"]:
            print(f"  {r['client']}: {note}")
    return 0


if __name__ == "__main__":  # the subprocess side: one client, one run, JSON on stdout
    peer_name, site, email_arg, token_arg, data = sys.argv[1:6]
    print(json.dumps(asdict(run_one(peer_name, site, email_arg, token_arg, data))))
