"""`confluence-pipeline`: the command line."""

from __future__ import annotations

import argparse
import os
import sys
import webbrowser
from datetime import date, datetime, timezone
from pathlib import Path

from pydantic import SecretStr

from .access_cli import add_access_parser
from .bench.cli import add_bench_parser
from .sites import SITE_HELP
from .emulator import app as emulator_app
from .search_cli import add_search_parser


def _emulator_serve(args: argparse.Namespace) -> int:
    from .emulator.app import Emulator

    print(f"Generating the workspace (seed {args.seed}, scale {args.scale})...", flush=True)
    # History ends at today's midnight (UTC), so that the same seed gives the same site all day.
    anchor = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    emu = Emulator(seed=args.seed, scale=args.scale, client_id=args.client_id, client_secret=args.client_secret,
                   redirect_uri=args.redirect_uri, email=args.email, api_token=args.api_token,
                   auto_consent=args.auto_consent, access_token_ttl=args.access_token_ttl, anchor=anchor)
    base = emu.start(args.host, args.port)
    if args.quiet:
        emu._thread.join()
        return 0
    print(f"""Confluence Cloud emulator on {base}
  site (API token, basic auth):  {base}/wiki/api/v2/spaces   {base}/wiki/rest/api/search?cql=type=page
  gateway (OAuth 2.0 bearer):    {base}/ex/confluence/{emu.cloud_id}/wiki/api/v2/...
  auth server:                   {base}/authorize   {base}/oauth/token   {base}/oauth/token/accessible-resources
  control API:                   {base}/__emulator__/workspace  /stats  /faults  /content ...
Credentials it accepts:
  email {args.email}  API token {args.api_token}
  client id {args.client_id}  client secret {args.client_secret}  redirect URI {args.redirect_uri}
  cloud id {emu.cloud_id}{'  (auto-consent: /authorize redirects at once)' if args.auto_consent else ''}
To sync from it:
  CONFLUENCE_SITE_URL={base} CONFLUENCE_EMAIL={args.email} CONFLUENCE_API_TOKEN={args.api_token} confluence-pipeline sync
Ctrl-C stops it.""", flush=True)
    try:
        emu._thread.join()
    except KeyboardInterrupt:
        emu.stop()
    return 0


def _run_sync(args: argparse.Namespace, *, demo: bool) -> int:
    import dagster as dg

    from .defs.pipeline import PipelineResource
    from .defs.resources import ConfluenceResource, confluence_resource_from_settings
    from .emulator.demo import ensure_demo_emulator
    from .runner import (catch_up_range, clear_dead_runs, failed_steps, instance_for, materialize_all, summary,
                         window_range)
    from .defs.site import BUNDLED, Site
    from .settings import SettingsError, load_settings

    site, site_defs = BUNDLED, None
    try:
        if getattr(args, "site", None):
            from .sites import site_component, site_definitions

            component = site_component(args.site)
            site, site_defs, settings = Site(args.site), site_definitions(component), component.settings()
        else:
            settings = load_settings()
    except SettingsError as exc:
        raise SystemExit(f"error: {exc}") from None
    if site_defs is not None:
        confluence = None  # the site's own resources (defs.yaml: auth)
    elif demo:
        url = ensure_demo_emulator()
        print(f"Demo: the bundled emulator serves a generated site at {url} (no credentials needed).", flush=True)
        confluence = ConfluenceResource(mode="api_token", site_url=url, email=emulator_app.DEFAULT_EMAIL,
                                        api_token=emulator_app.DEFAULT_API_TOKEN)
    else:
        if settings.auth.mode == "demo":
            print("No Confluence credentials are set: this syncs the bundled emulator. Set CONFLUENCE_SITE_URL, "
                  "CONFLUENCE_EMAIL and CONFLUENCE_API_TOKEN (or CONFLUENCE_CLIENT_ID/SECRET and run "
                  "`confluence-pipeline auth login`) to sync your site.", flush=True)
        confluence = confluence_resource_from_settings(settings)
    instance = instance_for(settings)
    for line in clear_dead_runs(instance):
        print(line, flush=True)
    start, end = getattr(args, "from_", None), getattr(args, "to", None)
    if start is None and end is None:
        first, last = catch_up_range(settings, instance, site_defs)
        scope = "windows since the last sync"
    else:
        first, last = window_range(settings, start, end)
        scope = "windows"
    print(f"Materializing every asset over {scope} {first}..{last} (job {site.named('incremental_sync')}; "
          f"Dagster home {instance.root_directory})", flush=True)
    results = materialize_all(first, last, instance=instance, reconcile=demo or args.reconcile,
                              resources=None if site_defs is not None else {"confluence": confluence,
                                                                            "pipeline": PipelineResource()},
                              site_definitions=site_defs, site=site)
    print()
    failed = [line for result in results for line in failed_steps(result)]
    for result in results:
        if instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.CANCELED:
            print(f"Run {result.run_id} was cancelled: the steps that finished kept what they wrote, the "
                  "interrupted step stored nothing; the next sync catches up.", flush=True)
    if failed:
        print("Not everything synced; the next sync retries it from the stored watermarks:", flush=True)
        print("\n".join(f"  {line}" for line in failed) + "\n")
    print(summary(settings))
    return 0 if all(result.success for result in results) else 1


def _auth(args: argparse.Namespace) -> int:
    from .confluence import login as oauth_login
    from .confluence.auth import OAuthApp
    from .confluence.errors import ConfluenceError
    from .confluence.tokens import TokenStore
    from .settings import load_settings

    settings = load_settings()
    auth = settings.auth
    if getattr(args, "site", None):  # that site's app and token store (defs.yaml: auth)
        from .sites import site_component
        from .settings import SettingsError

        try:
            site = site_component(args.site).auth
        except SettingsError as exc:
            raise SystemExit(f"error: {exc}") from None
        if site.mode != "oauth":
            raise SystemExit(f"error: site {args.site} signs in with an API token (auth.mode: {site.mode}): "
                             "auth is for OAuth sites (auth.mode: oauth, auth.client_id, auth.token_file)")
        if args.auth_command == "login" and not os.environ.get(site.client_secret_env):
            raise SystemExit(f"error: site {args.site}: set {site.client_secret_env} (auth.client_secret_env) to the "
                             "app's client secret")
        auth = auth.model_copy(update={
            "mode": "oauth", "client_id": site.client_id, "token_file": Path(site.token_file),
            "site_url": site.site_url or None, "auth_url": site.auth_url, "api_url": site.api_url,
            "client_secret": SecretStr(os.environ.get(site.client_secret_env, ""))})
    store = TokenStore(auth.token_file)
    if args.auth_command == "status":
        info = oauth_login.status(store)
        for key, value in info.items():
            print(f"{key:>20}: {' '.join(value) if isinstance(value, (list, tuple)) else value}")
        return 0 if info["logged_in"] else 1
    if args.auth_command == "logout":
        print("Tokens forgotten." if oauth_login.logout(store) else "No tokens were stored.")
        return 0
    if auth.mode != "oauth":
        raise SystemExit("auth login is for OAuth 2.0 (3LO): set CONFLUENCE_CLIENT_ID and CONFLUENCE_CLIENT_SECRET "
                         "(and CONFLUENCE_REDIRECT_URI if the app's callback is not http://127.0.0.1:8976/callback)")
    try:
        secret = auth.client_secret.get_secret_value() if auth.client_secret else ""
        app = OAuthApp(auth.client_id or "", secret, redirect_uri=auth.redirect_uri,
                       auth_url=auth.auth_url, api_url=auth.api_url)
        oauth_login.login(app, store, site_url=auth.site_url,
                          browser=None if args.no_browser else webbrowser.open)
    except ConfluenceError as exc:
        raise SystemExit(str(exc)) from None
    return 0


def _query(args: argparse.Namespace) -> int:
    import duckdb

    from .readers import ALLOW_EXTERNAL_FLAG, check_sandboxed, connect
    from .settings import SettingsError
    from .sites import settings_for
    from .storage.lake import LakeError

    try:
        with connect(as_of=args.as_of, sandboxed=not args.allow_external, settings=settings_for(args.site)) as con:
            if not args.allow_external:
                check_sandboxed(con, args.sql)
            relation = con.sql(args.sql)
            if relation is not None:  # None: a statement without rows (COPY, with --allow-external)
                relation.show(max_rows=args.max_rows, max_width=200)
    except (LakeError, SettingsError) as exc:
        raise SystemExit(f"error: {exc}") from None
    except duckdb.PermissionException as exc:
        raise SystemExit(f"error: {str(exc).splitlines()[0]} (query is sandboxed to the lake: pass "
                         f"{ALLOW_EXTERNAL_FLAG} to allow file, network and extension access)") from None
    except duckdb.CatalogException as exc:
        raise SystemExit(f"error: {str(exc).splitlines()[0]}\n(`SHOW TABLES` lists what the copy holds; "
                         "a table appears with the first sync of its asset)") from None
    except duckdb.Error as exc:
        raise SystemExit(f"error: {str(exc).splitlines()[0]}") from None
    return 0


def _changes(args: argparse.Namespace) -> int:
    import json

    from .readers import changes
    from .settings import SettingsError
    from .sites import settings_for
    from .storage.lake import LakeError

    counts: dict[tuple[str, str], int] = {}
    try:
        for change in changes(args.since, args.until, tables=args.table or None, settings=settings_for(args.site)):
            counts[change.table, change.change] = counts.get((change.table, change.change), 0) + 1
            if args.json:
                print(json.dumps(change.to_json(), default=str, ensure_ascii=False))
            elif counts[change.table, change.change] <= args.max_rows:
                key = ", ".join(f"{k}={v}" for k, v in change.key.items())
                title = change.row.get("title") or change.row.get("name") or ""
                print(f"{change.change:<7} {change.table:<20} {key}  {title}"[:200])
    except (LakeError, SettingsError) as exc:
        raise SystemExit(f"error: {exc}") from None
    if not args.json:
        print("\n" + (", ".join(f"{table}: {n} {change}s" for (table, change), n in sorted(counts.items()))
                      or "no changes"))
    return 0


def _snapshots(args: argparse.Namespace) -> int:
    from .readers import snapshots
    from .settings import SettingsError
    from .sites import settings_for
    from .storage.lake import LakeError

    try:
        rows = snapshots(limit=args.limit, settings=settings_for(args.site))
    except (LakeError, SettingsError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"{'snapshot':>8}  {'time (UTC)':<19}  {'written by':<22} {'run':<10} changes")
    for snap in rows:
        what = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in snap.changes.items())
        print(f"{snap.id:>8}  {snap.time:%Y-%m-%d %H:%M:%S}  {snap.writer or '':<22} {(snap.run_id or '')[:8]:<10} "
              f"{what}"[:220])
    return 0


def _maintain(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from .settings import SettingsError
    from .sites import settings_for
    from .storage.lake import LakeError
    from .storage.maintenance import maintain

    try:
        settings = settings_for(args.site)
        report = maintain(settings.lake, retention=timedelta(days=args.retention_days or settings.storage.retention_days),
                          orphan_grace=timedelta(minutes=args.orphan_grace_minutes))
    except (LakeError, SettingsError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"Lake maintenance: {report.summary()} in {report.duration_s:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="confluence-pipeline",
                                     description="Sync a Confluence Cloud site into DuckDB and Parquet with Dagster.")
    sub = parser.add_subparsers(dest="command", required=True)

    emulator = sub.add_parser("emulator", help="the bundled Confluence Cloud emulator")
    emulator_sub = emulator.add_subparsers(dest="emulator_command", required=True)
    serve = emulator_sub.add_parser("serve", help="serve the emulator on a local port")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--scale", type=int, default=2000, help="number of pages; everything else in proportion")
    serve.add_argument("--client-id", default=emulator_app.DEFAULT_CLIENT_ID)
    serve.add_argument("--client-secret", default=emulator_app.DEFAULT_CLIENT_SECRET)
    serve.add_argument("--redirect-uri", default=emulator_app.DEFAULT_REDIRECT_URI)
    serve.add_argument("--email", default=emulator_app.DEFAULT_EMAIL, help="an administrator of the generated site")
    serve.add_argument("--api-token", default=emulator_app.DEFAULT_API_TOKEN)
    serve.add_argument("--auto-consent", action="store_true", help="/authorize redirects at once, without a page")
    serve.add_argument("--access-token-ttl", type=int, default=3600, help="seconds an access token lives")
    serve.add_argument("--quiet", action="store_true", help="print nothing (the demo's background emulator)")
    serve.set_defaults(func=_emulator_serve)

    demo = sub.add_parser("demo", help="sync the bundled emulator's demo site into data/ (no credentials)")
    demo.set_defaults(func=lambda a: _run_sync(a, demo=True))

    sync = sub.add_parser("sync", help="sync the configured site (settings and environment) through Dagster")
    sync.add_argument("--from", dest="from_", type=date.fromisoformat, help="first window, YYYY-MM-DD")
    sync.add_argument("--to", type=date.fromisoformat, help="last window, YYYY-MM-DD (default: today)")
    sync.add_argument("--reconcile", action="store_true",
                      help="also list every id to find purges and restriction-only changes (the daily job does it)")
    sync.add_argument("--site", metavar="NAME", help=SITE_HELP.replace("whose lake to read", "to sync"))
    sync.set_defaults(func=lambda a: _run_sync(a, demo=False))

    auth = sub.add_parser("auth", help="OAuth 2.0 (3LO): log in, show or forget the stored tokens")
    auth_sub = auth.add_subparsers(dest="auth_command", required=True)
    login = auth_sub.add_parser("login", help="authorize the app in a browser and store the tokens")
    login.add_argument("--no-browser", action="store_true", help="only print the address to open")
    status = auth_sub.add_parser("status", help="site, cloud id, scopes and expiry (never a token)")
    logout = auth_sub.add_parser("logout", help="forget the stored tokens")
    for command in (login, status, logout):
        command.add_argument("--site", metavar="NAME",
                             help="the ConfluenceComponent instance (its name) whose app and token store to use "
                                  "(auth.client_id, auth.client_secret_env, auth.token_file in its defs.yaml)")
    auth.set_defaults(func=_auth)

    query = sub.add_parser("query", help="run SQL on the synced copy (read-only; never waits for a sync)")
    query.add_argument("sql")
    query.add_argument("--max-rows", type=int, default=40)
    query.add_argument("--as-of", metavar="SNAPSHOT_OR_TIME",
                       help="read the copy as a snapshot (its id) or a time (ISO, e.g. 2026-11-30T09:00) left it")
    query.add_argument("--allow-external", action="store_true",
                       help="let the SQL read and write other files, use the network and install extensions "
                            "(COPY ... TO, read_csv, INSTALL); off by default")
    query.add_argument("--site", metavar="NAME", help=SITE_HELP)
    query.set_defaults(func=_query)

    changes = sub.add_parser("changes", help="rows inserted, updated and deleted since a snapshot or time")
    changes.add_argument("--since", required=True, metavar="SNAPSHOT_OR_TIME")
    changes.add_argument("--until", metavar="SNAPSHOT_OR_TIME", help="default: the last snapshot")
    changes.add_argument("--table", action="append", help="only this table (repeatable)")
    changes.add_argument("--json", action="store_true", help="one JSON object per changed row")
    changes.add_argument("--max-rows", type=int, default=20, help="rows listed per table and kind (text output)")
    changes.add_argument("--site", metavar="NAME", help=SITE_HELP)
    changes.set_defaults(func=_changes)

    history = sub.add_parser("snapshots", help="the lake's snapshots: when, written by which asset and run")
    history.add_argument("--limit", type=int, default=30)
    history.add_argument("--site", metavar="NAME", help=SITE_HELP)
    history.set_defaults(func=_snapshots)

    maintain = sub.add_parser("maintain", help="compact the lake, expire old snapshots, delete orphaned files "
                                               "(the lake_maintenance job does the same daily)")
    maintain.add_argument("--retention-days", type=int, help="default: storage.retention_days (30)")
    maintain.add_argument("--orphan-grace-minutes", type=int, default=60,
                          help="unknown files younger than this may be a running sync's and are kept")
    maintain.add_argument("--site", metavar="NAME", help=SITE_HELP.replace("whose lake to read", "whose lake to maintain"))
    maintain.set_defaults(func=_maintain)

    add_access_parser(sub)
    add_search_parser(sub)
    add_bench_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
