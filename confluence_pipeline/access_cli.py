"""`confluence-pipeline access`: who can see what, answered from the synced DuckDB file alone.

    confluence-pipeline access --user EMAIL_OR_ACCOUNT_ID [--json]   what they can see
    confluence-pipeline access --content ID [--json]                 who can see it, and why

The data directory is the pipeline's (`CONFLUENCE_DATA_DIR`, default ./data); nothing here
calls Confluence.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any, TextIO

from .access.model import NO_SPACE, AccessModel, AccessNotBuilt, UserRef, VisibleItem
from .settings import SettingsError
from .sites import SITE_HELP, settings_for
from .storage.lake import LakeError
from .storage.warehouse import Warehouse

ANONYMOUS = "anonymous"
TYPES = ("page", "blogpost", "folder", "comment", "attachment")


class AccessCommandError(Exception):
    """Something the person running the command must fix; the message says what."""


def add_access_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds `access` to the CLI's subcommands; its handler is `args.func(args)`."""
    parser = subparsers.add_parser("access", help="who can see what, from the synced data (no API calls)",
                                   description="Answer permission questions from the DuckDB output: what a user "
                                               "can see, or who can see an item and why.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--user", metavar="EMAIL_OR_ACCOUNT_ID",
                        help=f"what this user can see ('{ANONYMOUS}': a visitor who is not signed in)")
    target.add_argument("--content", metavar="ID", help="who can see this page, blog post, folder, comment or "
                                                        "attachment, and why")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--sample", type=int, default=10, help="items listed with --user (default 10)")
    parser.add_argument("--site", metavar="NAME", help=SITE_HELP)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        settings = settings_for(getattr(args, "site", None))
        with Warehouse(settings.lake, read_only=True) as wh:
            model = AccessModel(wh)
            if args.user is not None:
                data, lines = _user_report(model, args.user, args.sample)
            else:
                data, lines = _content_report(model, args.content)
    except (AccessCommandError, AccessNotBuilt, LakeError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(data, out, indent=2)
        out.write("\n")
    else:
        out.write("\n".join(lines) + "\n")
    return 0


# -- --user ---------------------------------------------------------------------------------------

def _user_report(model: AccessModel, who: str, sample: int) -> tuple[dict[str, Any], list[str]]:
    user: UserRef | None = None
    if who.lower() != ANONYMOUS:
        user = model.find_user(who)
        if user is None:
            raise AccessCommandError(f"No synced user has the email or account id {who!r}: check it, or "
                                     "materialize the users asset (emails hidden by their owners are not known)")
    items = model.visible_items(user.account_id if user else None)
    totals = model.live_items_by_space()
    by_space: dict[str, Counter] = {}
    for item in items:
        by_space.setdefault(item.space_key or NO_SPACE, Counter())[item.content_type] += 1
    who_json = ({"account_id": user.account_id, "display_name": user.display_name, "email": user.email,
                 "groups": user.groups, "is_sync_account": user.is_sync_account} if user else {"account_id": None})
    data = {"user": who_json, "visible_count": len(items),
            "counts_by_space": {key: {**dict(counts), "total": sum(counts.values()), "of": totals.get(key, 0)}
                                for key, counts in sorted(by_space.items())},
            "visible": [item.content_id for item in items]}
    return data, _user_text(user, items, by_space, totals, sample)


def _user_text(user: UserRef | None, items: list[VisibleItem], by_space: dict[str, Counter],
               totals: dict[str, int], sample: int) -> list[str]:
    if user is None:
        lines = ["An anonymous visitor (not signed in)"]
    else:
        lines = [f"{user.display_name or '(no name)'} <{user.email or 'email hidden'}>  {user.account_id}",
                 f"  account type {user.account_type or 'unknown'}; groups: {', '.join(user.groups) or 'none'}"]
        if user.is_sync_account:
            lines.append("  the account the pipeline syncs as: it sees everything it synced")
    lines.append(f"can see {len(items)} of {sum(totals.values())} items")
    if not items:
        return lines
    header = f"  {'space':<12}" + "".join(f"{t + 's':>13}" for t in TYPES) + f"{'total':>9}{'of':>7}"
    lines += ["", header]
    for key, counts in sorted(by_space.items()):
        lines.append(f"  {key:<12}" + "".join(f"{counts.get(t, 0):>13}" for t in TYPES)
                     + f"{sum(counts.values()):>9}{totals.get(key, 0):>7}")
    lines += ["", f"a sample ({min(sample, len(items))} of {len(items)}):"]
    for item in items[:sample]:
        lines.append(f"  {item.content_type:<10} {item.content_id:<14} {item.space_key or '':<10} {item.title or ''}")
    return lines


# -- --content ------------------------------------------------------------------------------------

def _names(names: list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _content_report(model: AccessModel, content_id: str) -> tuple[dict[str, Any], list[str]]:
    item = model.item(content_id) or (model.item(f"att{content_id}") if content_id.isdigit() else None)
    if item is None:
        raise AccessCommandError(f"No synced item has the id {content_id!r}: check it, or sync the window it "
                                 "lives in and materialize content_access")
    clauses = model.clauses(item.content_id)
    viewers = model.viewers(item.content_id)
    anonymous = model.anyone_can_view(item.content_id)
    data = {"content_id": item.content_id, "content_type": item.content_type, "title": item.title,
            "space_key": item.space_key, "anonymous": anonymous,
            "viewers": [{"account_id": v.account_id, "display_name": v.display_name, "reason": v.reason}
                        for v in viewers],
            "clauses": [{"clause": c.clause, "kind": c.kind, "source_type": c.source_type, "source_id": c.source_id,
                         "reason": c.reason, "users": c.users, "groups": c.groups, "all_licensed_users": c.licensed,
                         "anonymous": c.anonymous, "grants_nobody": c.unresolved} for c in clauses]}
    lines = [f"{item.content_type} {item.content_id} {item.title or ''!r} in space {item.space_key or '?'}",
             "a viewer must pass every clause:"]
    for c in clauses:
        lines.append(f"  {c.clause}. {c.reason}")
        if c.kind in ("space", "restriction"):
            grants = [*(["anyone (anonymous access)"] if c.anonymous else []),
                      *(["all licensed users"] if c.licensed else []),
                      *([f"users {_names(c.user_names)}"] if c.users else []),
                      *([f"groups {', '.join(c.groups)}"] if c.groups else [])]
            lines.append(f"     granted to: {'; '.join(grants) or 'nobody'}")
            if c.unresolved:
                lines.append(f"     grants nobody (cannot be expanded): {', '.join(c.unresolved)}")
        else:
            lines.append("     nobody passes this clause")
    lines.append(f"anonymous visitors: {'can view it' if anonymous else 'cannot view it'}")
    lines.append(f"{len(viewers)} users can view it:")
    lines += [f"  {v.display_name or '(no name)':<28} {v.account_id:<45} {v.reason}" for v in viewers]
    return data, lines
