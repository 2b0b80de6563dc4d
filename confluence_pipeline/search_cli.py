"""`confluence-pipeline search`: ranked, permission-aware full-text search of the synced copy.

    confluence-pipeline search "rollback window" --as alice@example.com [--space KEY]
                               [--type page|blogpost|comment|attachment] [--limit N] [--json]
                               [--mode bm25|hybrid]

Reads only the DuckDB output (`CONFLUENCE_DATA_DIR`, default ./data); nothing here calls Confluence.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from .search.query import CONTENT_TYPES, MODES, Hit, Mode, SearchError, search
from .settings import SearchSettings, SettingsError
from .sites import SITE_HELP, settings_for


def add_search_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds `search` to the CLI's subcommands; its handler is `args.func(args)`."""
    parser = subparsers.add_parser("search", help="full-text search of the synced content, as a given user sees it",
                                   description="Search the synced pages, blog posts, comments and attachments, "
                                               "ranked by BM25 (fused with semantic similarity when the index has "
                                               "vectors), showing only what USER may see in Confluence.")
    parser.add_argument("query", help="words to search for")
    parser.add_argument("--as", dest="as_user", required=True, metavar="USER",
                        help="email or account id of the user to search as")
    parser.add_argument("--space", metavar="KEY", help="only this space (its key, e.g. ENG)")
    parser.add_argument("--type", choices=CONTENT_TYPES, help="only this kind of content")
    parser.add_argument("--limit", type=int, default=10, metavar="N", help="at most N hits (default 10)")
    parser.add_argument("--json", action="store_true", help="machine-readable hits (content id, type, score, ...)")
    parser.add_argument("--mode", choices=MODES,
                        help="bm25, or hybrid: BM25 fused with semantic similarity (default: search.semantic; "
                             "with auto, hybrid when the index has vectors and the model is installed)")
    parser.add_argument("--site", metavar="NAME", help=SITE_HELP)
    parser.set_defaults(func=run_search)
    return parser


def run_search(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    try:
        settings = settings_for(getattr(args, "site", None))
        mode = args.mode or default_mode(settings.search)
        hits = search(settings.lake, args.query, as_user=args.as_user, space=args.space, type=args.type,
                      limit=args.limit, mode=mode)
    except (SearchError, SettingsError) as exc:
        raise SystemExit(str(exc)) from None
    if args.json:
        json.dump([hit.to_json() for hit in hits], out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        out.write(format_hits(hits, args.query))
    return 0


def default_mode(search_settings: SearchSettings) -> Mode | None:
    """off: BM25 alone; on: hybrid (an error if it cannot be); auto: let the index decide."""
    return {"off": "bm25", "on": "hybrid", "auto": None}[search_settings.semantic]


def format_hits(hits: list[Hit], query: str) -> str:
    if not hits:
        return f"No results for {query!r} that this user can see.\n"
    lines = []
    for rank, hit in enumerate(hits, start=1):
        lines.append(f"{rank}. {hit.title}  [{hit.type}, score {hit.score:.2f}]")
        if hit.breadcrumbs:
            lines.append(f"   {' › '.join(hit.breadcrumbs)}")
        if hit.url:
            lines.append(f"   {hit.url}")
        if hit.snippet:
            lines.append(f"   {hit.snippet}")
        lines.append("")
    return "\n".join(lines)
