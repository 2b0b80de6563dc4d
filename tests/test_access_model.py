"""The access model against the emulator's own rule (`Workspace.can_view`), pair by pair.

Every test syncs an emulated site over real HTTP through real Dagster materializations (content
and directory assets in one run, as `incremental_sync` runs them), then compares the stored
model's answer with a brute-force walk of the emulator's data for every (user, item) pair and
for an anonymous visitor: zero over-grants and zero under-grants.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import dagster as dg
import pytest
import requests
import yaml
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from confluence_pipeline.access import AccessModel, update_content_access
from confluence_pipeline.defs.assets import build_content_assets
from confluence_pipeline.defs.directory import build_directory_assets, build_directory_checks
from confluence_pipeline.defs.partitions import content_partitions
from confluence_pipeline.defs.pipeline import PipelineResource
from confluence_pipeline.defs.resources import ConfluenceResource
from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator
from confluence_pipeline.settings import load_settings
from confluence_pipeline.storage.derived import read_snapshot, tables_changed_since
from confluence_pipeline.storage.lake import Lake
from confluence_pipeline.storage.warehouse import Warehouse

# History ends at today's midnight (UTC); windows start two days before it (the first holds everything older).
ANCHOR = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
START = (ANCHOR - timedelta(days=2)).date().isoformat()
LIVE = ("current", "archived")


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


class Site:
    """An emulated site and a data directory that Dagster syncs it into."""

    def __init__(self, emulator: Emulator, folder: Path, *, email: str = DEFAULT_EMAIL,
                 api_token: str = DEFAULT_API_TOKEN) -> None:
        self.emu = emulator
        self.ws = emulator.ws
        self.email, self.api_token = email, api_token
        self.settings_file = folder / "confluence.yaml"
        self.settings_file.write_text(yaml.safe_dump({"sync": {"start_date": START, "timezone": "UTC"},
                                                      "data_dir": str(folder / "data")}))
        self.settings = load_settings(self.settings_file)

    @classmethod
    def generated(cls, seed: int, scale: int, folder: Path) -> "Site":
        emulator = Emulator(seed=seed, scale=scale, anchor=ANCHOR)
        emulator.start()
        return cls(emulator, folder)

    def stop(self) -> None:
        self.emu.stop()

    def assets(self) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
        partitions = content_partitions(self.settings)
        directory = build_directory_assets(partitions)
        return ([*build_content_assets(partitions), *directory],
                build_directory_checks({a.key.to_user_string(): a for a in directory}))

    def sync(self, first: str = START, last: str | None = None, *, full_pass: bool = False, checks: bool = False,
             selection: list[str] | None = None) -> dg.ExecuteInProcessResult:
        """Content windows first..last and every directory asset (or `selection`), in one run."""
        assets, asset_checks = self.assets()
        resources = {"confluence": ConfluenceResource(mode="api_token", site_url=self.emu.base_url, email=self.email,
                                                      api_token=self.api_token),
                     "pipeline": PipelineResource(settings_file=str(self.settings_file))}
        config = {"ops": {"content_restrictions": {"config": {"full_pass": full_pass}}}}
        if selection is not None and "content_restrictions" not in selection:
            config = {}
        return dg.materialize([*assets, *(asset_checks if checks else [])], instance=dg.DagsterInstance.ephemeral(),
                              resources=resources, run_config=config, selection=selection,
                              tags={ASSET_PARTITION_RANGE_START_TAG: first,
                                    ASSET_PARTITION_RANGE_END_TAG: last or today()})

    @contextmanager
    def model(self) -> Iterator[AccessModel]:
        with Warehouse(self.settings.lake, read_only=True) as wh:
            yield AccessModel(wh)

    def control(self, path: str, body: dict[str, Any]) -> Any:
        """The emulator's admin API (changes between syncs), over HTTP."""
        response = requests.post(f"{self.emu.base_url}/__emulator__{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[-1].metadata.items()}


def live_items(ws) -> list:
    """What a person could open: current or archived, and so is its page or blog post."""
    out = []
    for item in ws.content.values():
        container = ws.container_of(item) if item.container_id else None
        if item.status in LIVE and (item.container_id is None or (container is not None and container.status in LIVE)):
            out.append(item)
    return out


def can_view_by_rule(ws, account_id: str | None, item) -> bool:
    """The emulator's rule without its site-admin bypass, which no API reveals (the model's
    documented decision: admins are bound by restrictions like anyone, as in Confluence Cloud)."""
    user = ws.users.get(account_id) if account_id else None
    if user is None or not user.is_admin:
        return ws.can_view(account_id, item)
    user.is_admin = False
    try:
        return ws.can_view(account_id, item)
    finally:
        user.is_admin = True


def mismatches(site: Site, among: set[str] | None = None) -> dict[str, dict[str, list[str]]]:
    """Per viewer (account id, or None for an anonymous visitor): items the model grants that
    Confluence does not (over) and the reverse (under); empty when they agree on every pair.
    The syncing account is judged by `ws.can_view` itself; a site admin who is not the syncing
    account by the rule without the admin bypass, and never above `ws.can_view`."""
    ws = site.ws
    with ws.lock:
        items = [c for c in live_items(ws) if among is None or c.id in among]
        syncing = ws.user_by_email(site.email).account_id
        truth, ceiling = {}, {}
        for uid in [*ws.users, None]:
            ceiling[uid] = {c.id for c in items if ws.can_view(uid, c)}
            truth[uid] = ceiling[uid] if uid == syncing else {c.id for c in items if can_view_by_rule(ws, uid, c)}
    out = {}
    with site.model() as model:
        for uid, want in truth.items():
            got = model.visible_ids(uid)
            if got != want or not got <= ceiling[uid]:
                out[str(uid)] = {"over": sorted(got - want)[:10], "under": sorted(want - got)[:10]}
    return out


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """One site synced once, for the tests that only read it: (site, the run's result)."""
    site = Site.generated(1, 150, tmp_path_factory.mktemp("synced"))
    result = site.sync(checks=True)
    yield site, result
    site.stop()


def _oracle_checks(site: Site, result: dg.ExecuteInProcessResult) -> None:
    assert result.success
    ws = site.ws
    # the generated site has what makes access hard: deep chains restricted on alternating levels,
    # group-only restrictions, users in no group, anonymous spaces, edit-only restrictions
    grouped = set().union(*ws.group_members.values())
    assert any(u.account_type == "atlassian" and u.account_id not in grouped for u in ws.users.values())
    assert any(p.principal_id == "ANONYMOUS_USERS" for s in ws.spaces.values() for p in s.permissions)
    assert any(r.group_ids and not r.user_ids for c in ws.content.values()
               for op, r in c.restrictions.items() if op == "read")
    assert mismatches(site) == {}
    access = metadata(result, "content_access")
    assert access["denied_missing_data"] == 0 and access["restricted_items"] > 0
    restrictions = metadata(result, "content_restrictions")
    assert restrictions["full_pass"] and restrictions["items_failed"] == 0
    # batched: one CQL call per 100 items (archived pages too, through cqlcontext), none one by one
    assert any(c.status == "archived" for c in ws.content.values() if c.type == "page")
    assert restrictions["batched_calls"] == -(-restrictions["items_read"] // 100)
    assert restrictions["single_item_calls"] == 0
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks and all(checks.values()), checks


def test_the_model_equals_confluence_for_every_user_and_item(synced):
    _oracle_checks(*synced)


@pytest.mark.parametrize("seed,scale", [(2, 300), (5, 200)])
def test_the_model_equals_confluence_on_other_sites(tmp_path, seed, scale):
    site = Site.generated(seed, scale, tmp_path)
    try:
        _oracle_checks(site, site.sync(checks=True))
    finally:
        site.stop()


def test_inheritance_every_restricted_ancestor_is_a_clause(synced):
    site, _ = synced
    ws = site.ws

    def restricted_above(c):
        return [a.id for a in [*ws.ancestors(c), c] if "read" in a.restrictions]

    # the page below the most restricted ancestors (the generator's alternating chain)
    deep = max((c for c in ws.content.values() if c.type == "page" and c.status == "current"),
               key=lambda c: (len(restricted_above(c)), len(ws.ancestors(c))))
    edit_only = next(c for c in ws.content.values() if c.type == "page" and c.status == "current"
                     and "update" in c.restrictions and "read" not in c.restrictions)
    with site.model() as model:
        clauses = model.clauses(deep.id)
        # not only the nearest: one clause per restricted ancestor-or-self, top first, after the space's
        assert len(restricted_above(deep)) >= 2
        assert [c.source_id for c in clauses if c.kind == "restriction"] == restricted_above(deep)
        assert clauses[0].kind == "space"
        # an edit restriction alone hides nothing: no clause for it
        assert edit_only.id not in {c.source_id for c in model.clauses(edit_only.id)}
        # comments and attachments carry their page's clauses
        attached = [c for c in ws.content.values() if c.container_id and c.status == "current"
                    and "read" in ws.container_of(c).restrictions]
        assert attached
        for item in attached:
            container = ws.container_of(item)
            assert [(c.kind, c.source_id) for c in model.clauses(item.id)] == \
                [(c.kind, c.source_id) for c in model.clauses(container.id)]
        # why: every clause names how a viewer passes, and a blocked user meets a clause that does not grant
        viewer = next(u for u in ws.users if ws.can_view(u, deep) and not ws.users[u].is_admin)
        blocked = next(u for u in ws.users if not ws.can_view(u, deep))
        assert all(d.grants and d.how for d in model.explain(deep.id, viewer))
        assert any(not d.grants for d in model.explain(deep.id, blocked))
        assert {v.account_id for v in model.viewers(deep.id)} == {u for u in ws.users if ws.can_view(u, deep)}


def test_mutations_then_an_incremental_sync_still_match(tmp_path):
    site = Site.generated(4, 250, tmp_path)
    try:
        assert site.sync().success
        assert mismatches(site) == {}
        ws = site.ws
        with ws.lock:
            pages = [c for c in ws.content.values() if c.type == "page" and c.status == "current"]
            restricted = next(c for c in pages if "read" in c.restrictions and ws.children(c.id))
            open_deep = max((c for c in pages if "read" not in c.restrictions),
                            key=lambda c: len(ws.ancestors(c)))
            post = next(c for c in ws.content.values() if c.type == "blogpost" and c.status == "current"
                        and not c.restrictions)
            groups = sorted((g for g in ws.groups.values() if g.name != "atlassian-addons-admin"),
                            key=lambda g: g.name)
            source, target = next((a, b) for a in groups for b in groups
                                  if a is not b and ws.group_members[a.id] - ws.group_members[b.id])
            mover = sorted(ws.group_members[source.id] - ws.group_members[target.id])[0]
            open_space = next(s for s in ws.spaces.values() if s.type == "global" and any(
                p.principal_id == "ALL_LICENSED_USERS" and p.key == "read" for p in s.permissions))
            licensed_read = [p.id for p in open_space.permissions
                             if p.principal_id == "ALL_LICENSED_USERS" and p.key == "read"]
            everyone = ("ALL_LICENSED_USERS", "ANONYMOUS_USERS")
            private_space = next(s for s in ws.spaces.values() if not any(
                p.principal_id in everyone and p.key == "read" for p in s.permissions))
        # restrictions added (group only, deep in a restricted chain; users on a blog post) and removed
        site.control(f"/content/{open_deep.id}/restrictions", {"operation": "read", "groupIds": [target.id]})
        site.control(f"/content/{post.id}/restrictions", {"operation": "read", "userIds": [mover]})
        site.control(f"/content/{restricted.id}/restrictions", {"operation": "read", "userIds": [], "groupIds": []})
        # a member moved between groups
        site.control(f"/groups/{source.id}/members", {"remove": [mover]})
        site.control(f"/groups/{target.id}/members", {"add": [mover]})
        # space permissions: licensed users lose an open space to one group; a closed space opens to anyone
        site.control(f"/spaces/{open_space.id}/permissions", {
            "remove": licensed_read, "add": [{"principalType": "group", "principalId": source.id, "key": "read"}]})
        site.control(f"/spaces/{private_space.id}/permissions", {
            "add": [{"principalType": "access-class", "principalId": "ANONYMOUS_USERS", "key": "read"}]})
        assert mismatches(site) != {}  # the stored model is stale now

        result = site.sync(today(), today())
        assert result.success
        assert mismatches(site) == {}
        restrictions = metadata(result, "content_restrictions")
        # no full pass: the audit log named the three items whose restrictions changed
        assert not restrictions["full_pass"] and restrictions["items_from_audit"] >= 3
        assert restrictions["items_read"] < 20 and restrictions["batched_calls"] <= 1
        # the audit log re-read today's window: no record stored twice
        with Warehouse(site.settings.lake, read_only=True) as wh:
            assert wh.count("audit_log", "summary = 'Content restrictions changed' AND window_key = ?",
                            [today()]) >= 3
            assert wh.run("SELECT count(*) = count(DISTINCT id) FROM audit_log")[0][0]
    finally:
        site.stop()


def test_an_account_without_audit_access_syncs_and_a_full_pass_catches_restriction_changes(tmp_path):
    emulator = Emulator(seed=6, scale=150, anchor=ANCHOR)
    emulator.start()
    try:
        ws = emulator.ws
        reader = max((u for u in ws.users.values() if u.account_type == "atlassian" and not u.is_admin
                      and u.account_status == "active" and u.email_visible),
                     key=lambda u: (len(ws.groups_of(u.account_id)), u.account_id))
        site = Site(emulator, tmp_path, email=reader.email, api_token="reader-token")
        site.control("/api-tokens", {"email": reader.email, "token": "reader-token"})
        result = site.sync(checks=True)
        assert result.success  # the 403 fails neither the run nor the other assets
        audit = metadata(result, "audit_log")
        assert audit["audit_access"] is False and audit["failures"] == 1
        readable = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
                    for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
        assert readable["readable"] is False
        with Warehouse(site.settings.lake, read_only=True) as wh:
            stored = {r[0] for r in wh.run("SELECT content_id FROM content_access")}
            assert wh.run("SELECT is_sync_account FROM users WHERE account_id = ?", [reader.account_id])[0][0]
        # the account sees part of the site: the model equals Confluence on every item it synced
        assert 0 < len(stored) < len(live_items(ws))
        assert mismatches(site, among=stored) == {}

        target = next(c for c in ws.content.values() if c.id in stored and c.type == "page"
                      and c.status == "current" and not c.restrictions and ws.children(c.id))
        group = sorted(ws.groups_of(reader.account_id))[0]
        site.control(f"/content/{target.id}/restrictions", {"operation": "read", "userIds": [reader.account_id],
                                                           "groupIds": [group]})
        directory = ["content_restrictions", "content_access"]
        incremental = metadata(site.sync(selection=directory), "content_restrictions")
        assert not incremental["full_pass"] and "unavailable" in incremental["audit_hints"]
        assert mismatches(site, among=stored) != {}  # without the audit log, the change waits for a full pass
        full = site.sync(selection=directory, full_pass=True)
        assert metadata(full, "content_restrictions")["full_pass"]
        assert mismatches(site, among=stored) == {}
    finally:
        emulator.stop()


def test_missing_data_denies_and_is_reported_never_opened(synced, tmp_path):
    site, _ = synced
    ws = site.ws
    copy = Lake.local(tmp_path / "copy")  # the lake's catalog and files, copied
    shutil.copytree(site.settings.data_dir / "lake", tmp_path / "copy" / "lake")
    shutil.copy(site.settings.data_dir / "catalog.sqlite", tmp_path / "copy" / "catalog.sqlite")

    def anchor(c):
        return ws.container_of(c) if c.container_id else c

    with ws.lock:
        top = next(c for c in ws.content.values() if c.type == "page" and c.status == "current"
                   and "read" in c.restrictions and ws.children(c.id))
        below = {c.id for c in live_items(ws) if anchor(c).type in ("page", "folder")
                 and top.id in {a.id for a in [*ws.ancestors(anchor(c)), anchor(c)]}}
        group = next(g for c in ws.content.values() if "read" in c.restrictions
                     for g in c.restrictions["read"].group_ids)
        people = [u for u in ws.users if not ws.users[u].is_admin]
    with Warehouse(site.settings.lake, read_only=True) as wh:
        before = {u: AccessModel(wh).visible_ids(u) for u in people}
    with Warehouse(copy) as wh:
        # the restrictions of a restricted page never loaded; a group's members failed to load
        wh.run("DELETE FROM directory_reads WHERE kind = 'restrictions' AND id = ?", [top.id])
        wh.run("UPDATE groups SET members_loaded = FALSE WHERE id = ?", [group])
        summary = update_content_access(wh, datetime.now(timezone.utc))  # it sees what changed
        model = AccessModel(wh)
        after = {u: model.visible_ids(u) for u in people}
        problems = wh.run("SELECT effect, problem, items FROM access_problems")
    assert all(after[u] <= before[u] for u in people)  # nothing opened
    assert any(before[u] & below for u in people) and not any(after[u] & below for u in people)
    assert summary.denied_missing >= len(below) > 1
    assert ("denied", f"the restrictions of page {top.id} were not read yet", len(below)) in problems
    assert any(effect == "grants nobody" and f"group:{group}" in problem for effect, problem, _ in problems)


def _listing_calls(emulator: Emulator) -> dict[str, int]:
    received = emulator.limits.stats()["received"]
    return {op: sum(received.get(op, {}).values()) for op in ("getGroupMembersByGroupId",
                                                              "getSpacePermissionsAssignments", "getGroups",
                                                              "getSpaces", "searchUser", "getAuditRecords")}


def test_directory_changes_come_from_the_audit_log_and_a_no_change_run_lists_nothing(tmp_path):
    site = Site.generated(8, 150, tmp_path)
    try:
        first = site.sync()
        assert first.success
        before = _listing_calls(site.emu)
        with Warehouse(site.settings.lake, read_only=True) as wh:
            last = read_snapshot(wh)
        quiet = site.sync(today(), today())
        assert quiet.success
        calls = {op: n - before[op] for op, n in _listing_calls(site.emu).items()}
        # nothing changed: no group, member, space, permission or user listing; the audit log read once
        assert calls == {"getGroupMembersByGroupId": 0, "getSpacePermissionsAssignments": 0, "getGroups": 0,
                         "getSpaces": 0, "searchUser": 0, "getAuditRecords": 1}, calls
        assert metadata(quiet, "group_members")["groups_read"] == 0
        assert metadata(quiet, "space_permissions")["spaces_read"] == 0
        assert "audit records" in metadata(quiet, "space_permissions")["read"]
        with Warehouse(site.settings.lake, read_only=True) as wh:
            written = tables_changed_since(wh, last)
            tree = wh.get_state("built:tree")
        # and no step rewrote a row (the run's watermarks aside); content_access,
        # built from unchanged tables, was not built again
        assert written == {"sync_state"}, written
        built_from = metadata(first, "content_access")["built_from_snapshot"]
        assert metadata(quiet, "content_access")["built_from_snapshot"] == built_from > 0
        # the tree's mend, which wrote paths in the first run, ran once more (its own writes are
        # changes), left no gap, and is skipped from then on
        assert tree["snapshot"] >= last
        assert site.sync(today(), today(), selection=["folders"]).success
        with Warehouse(site.settings.lake, read_only=True) as wh:
            assert wh.get_state("built:tree") == tree

        ws = site.ws
        with ws.lock:
            groups = sorted(ws.groups.values(), key=lambda g: g.name)
            source, target = next((a, b) for a in groups for b in groups
                                  if a is not b and ws.group_members[a.id] - ws.group_members[b.id])
            mover = sorted(ws.group_members[source.id] - ws.group_members[target.id])[0]
            space = next(s for s in ws.spaces.values() if s.type == "global" and s.status == "current"
                         and not any(p.principal_id == "ANONYMOUS_USERS" for p in s.permissions))
        site.control(f"/groups/{target.id}/members", {"add": [mover]})
        site.control(f"/spaces/{space.id}/permissions", {
            "add": [{"principalType": "access-class", "principalId": "ANONYMOUS_USERS", "key": "read"}]})
        assert mismatches(site) != {}

        before = _listing_calls(site.emu)
        changed = site.sync(today(), today())
        assert changed.success
        calls = {op: n - before[op] for op, n in _listing_calls(site.emu).items()}
        # only the group and the space the audit log names are read again, and the model is exact
        assert calls["getGroupMembersByGroupId"] == 1 and calls["getSpacePermissionsAssignments"] == 1, calls
        assert metadata(changed, "group_members")["groups_read"] == 1
        assert metadata(changed, "space_permissions")["spaces_read"] == 1
        assert metadata(changed, "content_access")["built_from_snapshot"] > built_from
        assert mismatches(site) == {}
        with Warehouse(site.settings.lake, read_only=True) as wh:
            assert wh.run("SELECT count(*) FROM group_members WHERE group_id = ? AND account_id = ?",
                          [target.id, mover])[0][0] == 1
            assert wh.run("SELECT count(*) FROM space_permissions WHERE space_id = ? AND principal_id = "
                          "'ANONYMOUS_USERS' AND operation = 'read'", [space.id])[0][0] == 1
    finally:
        site.stop()
