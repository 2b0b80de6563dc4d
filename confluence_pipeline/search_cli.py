"""`confluence-pipeline search`: ranked, permission-aware full-text search of the synced copy.

    confluence-pipeline search "rollback window" --as alice@example.com [--space KEY]
                               [--type page|blogpost|comment|attachment] [--limit N] [--json]

Reads only the DuckDB output (`CONFLUENCE_DATA_DIR`, default ./data); nothing here calls Confluence.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from .search.query import CONTENT_TYPES, Hit, SearchError, search
from .settings import SettingsError, load_settings


def add_search_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds `search` to the CLI's subcommands; its handler is `args.func(args)`."""
    parser = subparsers.add_parser("search", help="full-text search of the synced content, as a given user sees it",
                                   description="Search the synced pages, blog posts, comments and attachments, "
                                               "ranked by BM25, showing only what USER may see in Confluence.")
    parser.add_argument("query", help="words to search for")
    parser.add_argument("--as", dest="as_user", required=True, metavar="USER",
                        help="email or account id of the user to search as")
    parser.add_argument("--space", metavar="KEY", help="only this space (its key, e.g. ENG)")
    parser.add_argument("--type", choices=CONTENT_TYPES, help="only this kind of content")
    parser.add_argument("--limit", type=int, default=10, metavar="N", help="at most N hits (default 10)")
    parser.add_argument("--json", action="store_true", help="machine-readable hits (content id, type, score, ...)")
    parser.set_defaults(func=run_search)
    return parser


def run_search(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    try:
        path = load_settings().duckdb_path
        hits = search(path, args.query, as_user=args.as_user, space=args.space, type=args.type, limit=args.limit)
    except (SearchError, SettingsError) as exc:
        raise SystemExit(str(exc)) from None
    if args.json:
        json.dump([hit.to_json() for hit in hits], out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        out.write(format_hits(hits, args.query))
    return 0


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
