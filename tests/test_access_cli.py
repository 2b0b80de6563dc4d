"""`confluence-pipeline access`: answers from the DuckDB output alone (the emulator is stopped
before the first question), checked against the emulator's own rule."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from confluence_pipeline.access_cli import add_access_parser
from test_access_model import Site, live_items


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    synced = Site.generated(11, 60, tmp_path_factory.mktemp("cli"))
    assert synced.sync().success
    synced.stop()  # from here on, only the data directory answers
    return synced


def access(site: Site, monkeypatch, *argv: str) -> tuple[int, str]:
    monkeypatch.setenv("CONFLUENCE_SETTINGS", str(site.settings_file))
    monkeypatch.delenv("CONFLUENCE_DATA_DIR", raising=False)
    parser = argparse.ArgumentParser(prog="confluence-pipeline")
    add_access_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["access", *argv])
    out = io.StringIO()
    return args.func(args, out), out.getvalue()


def test_user_json_lists_every_item_they_can_see(site, monkeypatch):
    ws = site.ws
    groupless = next(u for u in ws.users.values() if u.account_type == "atlassian" and not u.is_admin
                     and not ws.groups_of(u.account_id))
    member = max((u for u in ws.users.values() if not u.is_admin), key=lambda u: len(ws.groups_of(u.account_id)))
    for user, key in ((groupless, groupless.account_id), (member, member.account_id), (None, "anonymous")):
        if user is not None and user.email_visible:
            key = user.email.upper()  # emails match whatever their case
        code, out = access(site, monkeypatch, "--user", key, "--json")
        assert code == 0
        data = json.loads(out)
        account_id = user.account_id if user else None
        assert set(data["visible"]) == {c.id for c in live_items(ws) if ws.can_view(account_id, c)}
        assert data["visible_count"] == sum(space["total"] for space in data["counts_by_space"].values())


def test_user_text_counts_by_space_and_shows_a_sample(site, monkeypatch):
    admin = next(u for u in site.ws.users.values() if u.is_admin)
    code, out = access(site, monkeypatch, "--user", admin.email, "--sample", "3")
    assert code == 0
    assert f"can see {len(live_items(site.ws))} of {len(live_items(site.ws))} items" in out
    assert "the account the pipeline syncs as" in out and "a sample (3 of" in out
    for space in site.ws.spaces.values():
        if any(c.space_id == space.id for c in live_items(site.ws)):
            assert f"  {space.key} " in out


def test_content_json_names_every_viewer_with_the_reason(site, monkeypatch):
    ws = site.ws
    restricted = next(c for c in ws.content.values() if c.type == "page" and c.status == "current"
                      and "read" in c.restrictions)
    anonymous_space = next(s.id for s in ws.spaces.values()
                           if any(p.principal_id == "ANONYMOUS_USERS" for p in s.permissions))
    public = next(c for c in ws.content.values() if c.space_id == anonymous_space and c.type == "page"
                  and c.status == "current" and ws.can_view(None, c))
    attachment = next(c for c in ws.content.values() if c.type == "attachment" and c.status == "current")
    for item in (restricted, public, attachment):
        code, out = access(site, monkeypatch, "--content", item.id.removeprefix("att"), "--json")
        assert code == 0
        data = json.loads(out)
        assert {v["account_id"] for v in data["viewers"]} == {u for u in ws.users if ws.can_view(u, item)}
        assert all(v["reason"] for v in data["viewers"])
        assert data["anonymous"] is ws.can_view(None, item)
    reasons = {v["account_id"]: v["reason"] for v in json.loads(access(site, monkeypatch, "--content", restricted.id,
                                                                        "--json")[1])["viewers"]}
    named = next(u for u in restricted.restrictions["read"].user_ids if u in reasons and not ws.users[u].is_admin)
    assert f"read restriction on page {restricted.id}: named directly" in reasons[named]


def test_content_text_lists_the_clauses(site, monkeypatch):
    restricted = next(c for c in site.ws.content.values() if c.type == "page" and c.status == "current"
                      and "read" in c.restrictions)
    code, out = access(site, monkeypatch, "--content", restricted.id)
    assert code == 0
    assert "a viewer must pass every clause" in out
    assert f"read restriction on page {restricted.id}" in out and "read permission of space" in out


def test_unknown_user_content_or_data_directory_is_an_error(site, monkeypatch, tmp_path, capsys):
    assert access(site, monkeypatch, "--user", "nobody@example.com")[0] == 1
    assert "No synced user" in capsys.readouterr().err
    assert access(site, monkeypatch, "--content", "999999999")[0] == 1
    assert "No synced item" in capsys.readouterr().err
    empty = tmp_path / "empty.yaml"
    empty.write_text(f"data_dir: {tmp_path / 'nothing'}\n")
    monkeypatch.setenv("CONFLUENCE_SETTINGS", str(empty))
    parser = argparse.ArgumentParser()
    add_access_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["access", "--user", "anonymous"])
    assert args.func(args, io.StringIO()) == 1
    assert "No synced data" in capsys.readouterr().err
