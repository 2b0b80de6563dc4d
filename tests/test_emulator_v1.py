"""The emulator's v1 operations (emulator/api_v1/), driven through the v1 routing table with a
small hand-built site: shapes (validated against the v1 spec), pagination, permissions, quirks.
The last test runs a few of them through the emulator's WSGI app."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from openapi_check import check_schema, validate_response
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Map, Rule

from confluence_pipeline.emulator import api_v1, mutations
from confluence_pipeline.emulator.api_v1 import search as v1_search
from confluence_pipeline.emulator.http import ApiError, Ctx, Reply, epoch_ms, render_error
from confluence_pipeline.emulator.model import (AuditRecord, Clock, Content, Group, Restriction, Site, Space, SpacePermission, User, Version)
from confluence_pipeline.emulator.workspace import Workspace
from confluence_pipeline.emulator.routes import ROUTES

NOON = datetime(2026, 3, 2, 12, 0, 0, tzinfo=timezone.utc)
DAY0 = NOON - timedelta(days=30)  # content is created hours after this
BASE = "https://acme.atlassian.net/wiki"
EXCEPTIONS = "com.atlassian.confluence.api.service.exceptions"
ADMIN, ALICE, BOB, CAROL = "557058:admin", "712020:alice", "712020:bob", "712020:carol"
G_USERS, G_ENG, G_ZETA, G_ADMINS = "g-users", "g-eng", "g-zeta", "g-admins"
TEAM, ARCH, PRIV = "65540", "65541", "65542"
VISIBLE_PAGES = {"1001", "1002", "1003", "1004", "1011", "1015"}  # current pages in current spaces
BOB_PAGES = {"1001", "1004", "1011"}  # 1002 is restricted, 1003 inherits that, 1015 is in PRIV

_MAP = Map([Rule(r.path, endpoint=r, methods=[r.method]) for r in ROUTES if r.api == "v1"],
           strict_slashes=False, merge_slashes=False)


# --------------------------------------------------------------------------------------------
# The site


def _user(account_id: str, name: str, *, email_visible: bool = True, tz: str = "UTC",
          admin: bool = False) -> User:
    first = name.split()[0]
    return User(account_id, name, first, f"{first.lower()}@acme.test", email_visible, "atlassian", "active",
                tz, is_admin=admin)


def _read(principal_type: str, principal_id: str) -> SpacePermission:
    return SpacePermission(f"p-{principal_id}", principal_type, principal_id, "read", "space")


def _content(ws: Workspace, cid: str, type_: str, space: str, title: str, when: datetime,
             **fields: Any) -> Content:
    status = fields.pop("status", "current")
    return ws.add_content(Content(cid, type_, space, status, title, ALICE, when, [Version(1, ALICE, when)],
                                  **fields))


def _at(hours: int) -> datetime:
    return DAY0 + timedelta(hours=hours)


@pytest.fixture
def ws() -> Workspace:
    w = Workspace(Site("cloud-1", "acme", "https://acme.atlassian.net"), seed=7, scale=1)
    w.clock = Clock(NOON)
    for user in (_user(ADMIN, "Site Admin", admin=True), _user(ALICE, "Alice Archer", tz="Europe/Berlin"),
                 _user(BOB, "Bob Baker", email_visible=False), _user(CAROL, "carol Cook")):
        w.users[user.account_id] = user
    for group in (Group(G_USERS, "confluence-users"), Group(G_ENG, "engineering"), Group(G_ZETA, "Zeta"),
                  Group(G_ADMINS, "administrators")):
        w.groups[group.id] = group
    w.group_members = {G_USERS: {ALICE, BOB, CAROL}, G_ENG: {ALICE}, G_ZETA: {CAROL}, G_ADMINS: {ADMIN}}
    w.spaces[TEAM] = Space(TEAM, "TEAM", "Team", "global", "current", ADMIN, DAY0, homepage_id="1001",
                           permissions=[_read("group", G_USERS)])
    w.spaces[ARCH] = Space(ARCH, "ARCH", "Archive", "global", "archived", ADMIN, DAY0,
                           permissions=[_read("group", G_USERS)])
    w.spaces[PRIV] = Space(PRIV, "PRIV", "Private", "global", "current", ADMIN, DAY0,
                           permissions=[_read("user", ALICE)])
    _content(w, "1001", "page", TEAM, "Home", _at(1))
    _content(w, "1002", "page", TEAM, "Design doc", _at(2), parent_id="1001", parent_type="page", position=1,
             body="<p>Design of the <b>sync</b> & its parts</p>",
             restrictions={"read": Restriction([ALICE], [G_ENG]), "update": Restriction([ALICE], [])})
    _content(w, "1003", "page", TEAM, "Secret child", _at(3), parent_id="1002", parent_type="page")
    _content(w, "1004", "page", TEAM, "Public notes", _at(4), parent_id="1001", parent_type="page",
             position=2, body="<p>Notes for everyone</p>")
    _content(w, "1005", "blogpost", TEAM, "Launch", _at(5))
    _content(w, "1006", "comment", TEAM, "", _at(6), container_id="1004", container_type="page",
             comment_kind="footer", body="<p>Nice notes</p>")
    _content(w, "att1007", "attachment", TEAM, "notes.txt", _at(7), container_id="1004",
             container_type="page", media_type="text/plain", file_size=5, data=b"hello", file_id="f-1007")
    _content(w, "att1014", "attachment", TEAM, "design.txt", _at(7), container_id="1002",
             container_type="page", media_type="text/plain", file_size=6, data=b"secret")
    _content(w, "1008", "folder", TEAM, "Folder", _at(8))
    _content(w, "1009", "page", TEAM, "Trashed", _at(9), status="trashed")
    _content(w, "1010", "page", TEAM, "Draft parent", _at(10), status="draft")
    _content(w, "1011", "page", TEAM, "Child of a draft", _at(11), parent_id="1010", parent_type="page")
    _content(w, "1012", "page", ARCH, "Old page", _at(12))
    _content(w, "1013", "page", TEAM, "Archived page", _at(13), status="archived")
    _content(w, "1015", "page", PRIV, "Alice's own", _at(14))
    w.audit = [AuditRecord(NOON - timedelta(days=d), ADMIN if d % 2 else None, f"Event {d}", "Permissions",
                           affected_object=("TEAM", "Space"), changed_values=[("Permission", "", f"VIEW{d}")])
               for d in (1, 2, 10, 40, 200)]
    return w


def call(ws: Workspace, user: str | None, path: str, *, gateway: bool = False, **params: Any) -> Reply:
    """GET a site path (/wiki/rest/api/..., or a v1 link such as `_links.next`, which lacks
    /wiki) as `user`. ApiErrors come back rendered in the v1 shape, as the app sends them."""
    if not path.startswith("/wiki/"):
        path = "/wiki" + path
    parts = urlsplit(path)
    query = MultiDict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in params.items():
        query.setlist(key, value if isinstance(value, list) else [str(value)])
    route, args = _MAP.bind("acme.atlassian.net").match(parts.path, method="GET")
    ctx = Ctx(ws=ws, user=ws.users.get(user) if user else None, method="GET", path=parts.path,
              params=query, api="v1", site_base=BASE, operation_id=route.operation_id, gateway=gateway)
    try:
        reply = route.handler(ctx, **args)
        if callable(reply.body):  # a file's bytes, made as the app makes them: after the handler
            reply.body = reply.body()
        return reply
    except ApiError as err:
        status, headers, body = render_error(err, "v1")
        return Reply(body, status=status, headers=headers)


def get(ws: Workspace, user: str | None, path: str, operation_id: str, **params: Any) -> dict[str, Any]:
    """A 200 whose body conforms to the v1 spec's response for `operation_id`."""
    reply = call(ws, user, path, **params)
    assert reply.status == 200, reply.body
    assert validate_response("v1", operation_id, reply.body) == []
    return reply.body


def search_ids(ws: Workspace, user: str | None, cql: str, **params: Any) -> list[str]:
    body = get(ws, user, "/rest/api/search", "searchByCQL", cql=cql, **params)
    return [r["content"]["id"] for r in body["results"]]


def follow(ws: Workspace, user: str | None, path: str, operation_id: str, **params: Any) -> list[dict]:
    """Every page of a listing, following `_links.next` until it is absent."""
    pages = [get(ws, user, path, operation_id, **params)]
    while "next" in pages[-1]["_links"]:
        pages.append(get(ws, user, pages[-1]["_links"]["next"], operation_id))
    return pages


# --------------------------------------------------------------------------------------------
# CQL search


def test_search_result_shape_follows_the_recording(ws: Workspace) -> None:
    body = get(ws, ADMIN, "/rest/api/search", "searchByCQL", cql="type=page and space=TEAM", limit=2)
    assert list(body) == ["results", "start", "limit", "size", "totalSize", "cqlQuery", "searchDuration",
                          "archivedResultCount", "_links"]
    assert (body["start"], body["limit"], body["size"], body["totalSize"]) == (0, 2, 2, 5)
    assert body["cqlQuery"] == "type=page and space=TEAM" and body["archivedResultCount"] == 0
    assert body["_links"]["base"] == BASE and body["_links"]["context"] == "/wiki"
    assert body["_links"]["self"] == f"{BASE}/rest/api/search?cql=type%3Dpage+and+space%3DTEAM"
    assert body["_links"]["next"].startswith("/rest/api/search?next=true&cursor=")
    first = body["results"][0]
    assert list(first) == ["content", "title", "excerpt", "url", "resultGlobalContainer", "breadcrumbs",
                           "entityType", "iconCssClass", "lastModified", "friendlyLastModified", "score"]
    content = first["content"]
    assert set(content) == {"id", "type", "status", "title", "childTypes", "macroRenderedOutput",
                            "restrictions", "_expandable", "_links"}
    assert content["id"] == "1011"  # newest first
    assert content["_links"] == {"webui": "/spaces/TEAM/pages/1011/Child+of+a+draft",
                                 "self": f"{BASE}/rest/api/content/1011", "tinyui": "/x/8wM"}
    assert content["_expandable"]["space"] == "/rest/api/space/TEAM"
    assert first["resultGlobalContainer"] == {"title": "Team", "displayUrl": "/spaces/TEAM"}
    assert first["iconCssClass"] == "aui-icon content-type-page" and first["entityType"] == "content"
    assert first["lastModified"] == "2026-01-31T23:00:00.000Z"
    assert first["friendlyLastModified"] == "Jan 31, 2026"


def test_search_cursor_pages_through_every_result_once(ws: Workspace) -> None:
    pages = follow(ws, ADMIN, "/rest/api/search", "searchByCQL", cql="type in (page, blogpost, folder)",
                   limit=2)
    seen = [r["content"]["id"] for page in pages for r in page["results"]]
    assert sorted(seen) == sorted(VISIBLE_PAGES | {"1005", "1008"}) and len(seen) == len(set(seen))
    assert [page["start"] for page in pages] == [0, 2, 4, 6]


def test_paging_a_search_evaluates_the_query_once(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    evaluations = []
    find = v1_search._find
    monkeypatch.setattr(v1_search, "_find", lambda *args: evaluations.append(args) or find(*args))
    pages = follow(ws, ADMIN, "/rest/api/content/search", "searchContentByCQL", cql="type = page", limit=2)
    assert len(pages) == 3 and len(evaluations) == 1
    mutations.set_restriction(ws, "1004", "read", user_ids=[ALICE])  # any change to the site: evaluate again
    get(ws, ADMIN, "/rest/api/content/search", "searchContentByCQL", cql="type = page", limit=2)
    assert len(evaluations) == 2


def test_search_cursor_is_stable_when_content_is_added_between_pages(ws: Workspace) -> None:
    first = get(ws, ADMIN, "/rest/api/search", "searchByCQL", cql="type = page", limit=3)
    _content(ws, "1020", "page", TEAM, "Newest", NOON)  # sorts first: before the cursor
    rest = get(ws, ADMIN, first["_links"]["next"], "searchByCQL")
    ids = [r["content"]["id"] for r in first["results"] + rest["results"]]
    assert sorted(ids) == sorted(VISIBLE_PAGES) and "next" not in rest["_links"]
    assert rest["start"] == 4 and rest["totalSize"] == 7  # offsets count the new page


def test_search_cursor_is_bound_to_the_query(ws: Workspace) -> None:
    first = get(ws, ADMIN, "/rest/api/search", "searchByCQL", cql="type = page", limit=2)
    reply = call(ws, ADMIN, first["_links"]["next"], cql="type = blogpost")
    assert reply.status == 400 and "cursor does not belong" in reply.body["message"]


def test_search_limit_is_capped_silently(ws: Workspace) -> None:
    assert get(ws, ADMIN, "/rest/api/search", "searchByCQL", cql="type=page", limit=1000)["limit"] == 250
    body = get(ws, ADMIN, "/rest/api/search", "searchByCQL", cql="type=page", limit=1000,
               expand="content.body.storage")
    assert body["limit"] == 50
    assert body["results"][0]["content"]["body"]["storage"]["representation"] == "storage"
    assert call(ws, ADMIN, "/rest/api/search", cql="type=page", limit=0).status == 400


def test_search_shows_only_what_the_caller_may_view(ws: Workspace) -> None:
    assert set(search_ids(ws, ALICE, "type = page")) == VISIBLE_PAGES
    assert set(search_ids(ws, BOB, "type = page")) == BOB_PAGES
    assert search_ids(ws, None, "type = page") == []
    assert set(search_ids(ws, BOB, "type = attachment")) == {"att1007"}  # att1014 is on 1002


def test_search_statuses_and_archived_spaces(ws: Workspace) -> None:
    plain = get(ws, ADMIN, "/rest/api/search", "searchByCQL", cql="type = page")
    assert plain["archivedResultCount"] == 1  # 1012, in the archived space
    assert "1012" in search_ids(ws, ADMIN, "type = page", includeArchivedSpaces="true")
    archived_only = '{"contentStatuses":["archived"]}'
    assert set(search_ids(ws, ADMIN, "type = page", cqlcontext=archived_only)) == {"1013"}
    archived_spaces = search_ids(ws, ADMIN, "type = page", excludeCurrentSpaces="true",
                                 includeArchivedSpaces="true")
    assert archived_spaces == ["1012"]
    assert "1009" not in search_ids(ws, ADMIN, "type = page", cqlcontext='{"contentStatuses":["trashed"]}')
    assert call(ws, ADMIN, "/rest/api/search", cql="type=page", cqlcontext="[1]").status == 400


def test_search_reads_dates_in_the_callers_time_zone(ws: Workspace) -> None:
    # 1011 was modified at 23:00 UTC on Jan 31, which is 00:00 on Feb 1 in Berlin (Alice's zone)
    cql = 'type = page and lastmodified >= "2026-02-01"'
    assert "1011" in search_ids(ws, ALICE, cql)
    assert "1011" not in search_ids(ws, ADMIN, cql)


def test_search_other_content_types_and_excerpts(ws: Workspace) -> None:
    body = get(ws, ADMIN, "/rest/api/search", "searchByCQL",
               cql="type in (comment, attachment, blogpost, folder)")
    by_id = {r["content"]["id"]: r for r in body["results"]}
    assert set(by_id) == {"1005", "1006", "att1007", "1008", "att1014"}
    comment = by_id["1006"]
    assert comment["title"] == "Re: Public notes"
    assert comment["url"] == "/spaces/TEAM/pages/1004/Public+notes?focusedCommentId=1006"
    assert comment["resultParentContainer"] == {"title": "Public notes",
                                                "displayUrl": "/spaces/TEAM/pages/1004/Public+notes"}
    assert by_id["att1007"]["url"].startswith("/pages/viewpageattachments.action?pageId=1004&preview=")
    assert by_id["1005"]["iconCssClass"] == "aui-icon content-type-blogpost"
    design = get(ws, ADMIN, "/rest/api/search", "searchByCQL", cql='title = "Design doc"')
    assert design["results"][0]["excerpt"] == "Design of the sync &amp; its parts"
    raw = get(ws, ADMIN, "/rest/api/search", "searchByCQL", cql='title = "Design doc"',
              excerpt="indexed_unescaped")
    assert raw["results"][0]["excerpt"] == "Design of the sync & its parts"


def test_bad_cql_is_a_400_in_the_v1_shape(ws: Workspace) -> None:
    reply = call(ws, ADMIN, "/rest/api/search", cql="type = = page")
    assert reply.status == 400 and reply.body["statusCode"] == 400
    assert reply.body["message"].startswith(
        f"{EXCEPTIONS}.api.BadRequestException: Could not parse cql : type = = page")
    empty = call(ws, ADMIN, "/rest/api/content/search", cql="")
    # exactly the recorded message (text2confl-v1-search-user-400-bad-cql.json)
    assert empty.body["message"] == f"{EXCEPTIONS}.api.BadRequestException: Could not parse cql : "


# --------------------------------------------------------------------------------------------
# Content search: the batched restriction read


RESTRICTION_EXPAND = ("restrictions.read.restrictions.user,restrictions.read.restrictions.group,"
                      "restrictions.update.restrictions.user,restrictions.update.restrictions.group,"
                      "ancestors,version,space,history,container")
ANCESTOR_RESTRICTIONS = ("ancestors.restrictions.read.restrictions.user,"
                         "ancestors.restrictions.read.restrictions.group")


def test_content_search_expands_restrictions_and_more(ws: Workspace) -> None:
    reply = call(ws, ADMIN, "/rest/api/content/search", cql="id = 1002", expand=RESTRICTION_EXPAND)
    assert reply.points == 1 + 2 * 3  # one page, three restriction principals
    body = get(ws, ADMIN, "/rest/api/content/search", "searchContentByCQL", cql="id = 1002",
               expand=RESTRICTION_EXPAND)
    assert list(body) == ["results", "start", "limit", "size", "_links"] and body["size"] == 1
    page = body["results"][0]
    read = page["restrictions"]["read"]
    users = read["restrictions"]["user"]
    assert read["operation"] == "read" and [u["accountId"] for u in users["results"]] == [ALICE]
    assert (users["start"], users["limit"], users["size"]) == (0, 200, 1)
    assert read["restrictions"]["group"]["results"][0]["name"] == "engineering"
    assert read["_links"]["self"] == f"{BASE}/rest/api/content/1002/restriction/byOperation/read"
    assert page["restrictions"]["update"]["restrictions"]["group"]["size"] == 0
    assert [a["id"] for a in page["ancestors"]] == ["1001"]
    assert page["space"]["id"] == int(TEAM) and page["space"]["key"] == "TEAM"
    assert page["container"]["key"] == "TEAM"
    assert page["version"]["number"] == 1 and page["version"]["by"]["accountId"] == ALICE
    assert page["history"]["createdBy"]["accountId"] == ALICE and page["history"]["latest"] is True
    assert page["extensions"] == {"position": 1}
    assert page["_links"]["editui"] == "/pages/resumedraft.action?draftId=1002"
    expanded = {"restrictions", "ancestors", "version", "space", "history", "container"}
    assert not expanded & set(page["_expandable"])


def test_content_search_partial_expansion_names_what_is_left(ws: Workspace) -> None:
    body = get(ws, ADMIN, "/rest/api/content/search", "searchContentByCQL", cql="id = 1002",
               expand="restrictions.read.restrictions.user")
    restrictions = body["results"][0]["restrictions"]  # as in airbyte's recorded page
    assert restrictions["_expandable"] == {"update": ""}
    assert restrictions["read"]["restrictions"]["_expandable"] == {"group": ""}
    assert restrictions["read"]["_expandable"] == {"content": "/rest/api/content/1002"}


def test_content_search_ancestor_restrictions_and_the_confcloud_77618_404(ws: Workspace) -> None:
    body = get(ws, ADMIN, "/rest/api/content/search", "searchContentByCQL", cql="id = 1003",
               expand=ANCESTOR_RESTRICTIONS)
    ancestors = body["results"][0]["ancestors"]
    assert [a["id"] for a in ancestors] == ["1001", "1002"]
    assert ancestors[1]["restrictions"]["read"]["restrictions"]["group"]["results"][0]["id"] == G_ENG
    broken = call(ws, ADMIN, "/rest/api/content/search", cql="type = page", expand=ANCESTOR_RESTRICTIONS)
    assert broken.status == 404
    assert broken.body == {"statusCode": 404, "data": {
        "authorized": False, "valid": False, "successful": False,
        "errors": [{"message": {"translation": "No content with id <ContentId{id=1010}> can be found"}}]}}
    plain = call(ws, ADMIN, "/rest/api/content/search", cql="type = page", expand="ancestors")
    assert plain.status == 200  # only the restriction expansion of ancestors trips the bug


def test_content_search_body_and_paging(ws: Workspace) -> None:
    body = get(ws, ADMIN, "/rest/api/content/search", "searchContentByCQL",
               cql="type = page order by title asc", expand="body.storage", limit=100)
    assert body["limit"] == 50
    design = next(r for r in body["results"] if r["id"] == "1002")
    assert design["body"]["storage"]["value"].startswith("<p>Design of the")
    pages = follow(ws, BOB, "/rest/api/content/search", "searchContentByCQL", cql="type = page", limit=1)
    assert pages[0]["_links"]["next"].startswith("/rest/api/content/search?next=true&cursor=")
    assert sorted(r["id"] for page in pages for r in page["results"]) == sorted(BOB_PAGES)


# --------------------------------------------------------------------------------------------
# Restrictions


def test_restrictions_shape_and_hash(ws: Workspace) -> None:
    reply = call(ws, ALICE, "/rest/api/content/1002/restriction")
    assert reply.points == 2 * 3
    body = get(ws, ALICE, "/rest/api/content/1002/restriction", "getRestrictions")
    assert [r["operation"] for r in body["results"]] == ["read", "update"]
    assert (body["start"], body["limit"], body["size"]) == (0, 100, 2)
    read = body["results"][0]["restrictions"]
    assert [u["accountId"] for u in read["user"]["results"]] == [ALICE]
    assert read["group"]["results"][0] == {"type": "group", "name": "engineering", "id": G_ENG,
                                           "usageType": "USERBASE_GROUP", "managedBy": "ADMINS",
                                           "_links": {"self": f"{BASE}/rest/experimental/group/engineering"}}

    def restrictions_hash(content_id: str) -> str:
        body = get(ws, ALICE, f"/rest/api/content/{content_id}/restriction", "getRestrictions")
        return body["restrictionsHash"]

    before = restrictions_hash("1002")
    assert restrictions_hash("1002") == before
    mutations.set_restriction(ws, "1002", "read", user_ids=[ALICE, BOB], group_ids=[G_ENG])
    after = restrictions_hash("1002")
    assert after != before
    unrestricted = get(ws, ALICE, "/rest/api/content/1004/restriction", "getRestrictions")
    assert all(r["restrictions"]["user"]["size"] == 0 for r in unrestricted["results"])
    assert unrestricted["restrictionsHash"] not in (before, after)


def test_restriction_principals_page_by_start_and_limit(ws: Workspace) -> None:
    people = [f"712020:u{i}" for i in range(5)]
    for account_id in people:
        ws.users[account_id] = _user(account_id, f"User {account_id[-2:]}")
    mutations.set_restriction(ws, "1004", "read", user_ids=people, group_ids=[G_USERS, G_ENG])
    body = get(ws, ADMIN, "/rest/api/content/1004/restriction/byOperation/read",
               "getRestrictionsForOperation", start=2, limit=2)
    assert [u["accountId"] for u in body["restrictions"]["user"]["results"]] == people[2:4]
    assert body["restrictions"]["user"]["start"] == 2 and body["restrictions"]["group"]["size"] == 0
    only_users = get(ws, ADMIN, "/rest/api/content/1004/restriction", "getRestrictions",
                     expand="read.restrictions.user", limit=500)
    assert only_users["limit"] == 200 and only_users["results"][0]["restrictions"]["user"]["size"] == 5
    assert only_users["results"][0]["restrictions"]["_expandable"] == {"group": ""}


def test_restrictions_by_operation_and_checks(ws: Workspace) -> None:
    reply = call(ws, ALICE, "/rest/api/content/1002/restriction/byOperation")
    body = reply.body
    # The spec's schema here is a placeholder (each key holds {operationType, _links}); the object
    # maps each operation to a ContentRestriction, as content's expanded `restrictions` does.
    assert reply.status == 200 and set(body) == {"read", "update", "_links"}
    for op in ("read", "update"):
        assert check_schema("v1", "ContentRestriction", body[op]).violations == []
    assert body["read"]["restrictions"]["user"]["limit"] == 200
    assert body["update"]["restrictions"]["user"]["results"][0]["accountId"] == ALICE
    with_content = get(ws, ALICE, "/rest/api/content/1002/restriction/byOperation/update",
                       "getRestrictionsForOperation", expand="content")
    assert with_content["content"]["id"] == "1002" and with_content["_expandable"] == {}
    check = "/rest/api/content/1002/restriction/byOperation/read"
    assert call(ws, ALICE, f"{check}/byGroupId/{G_ENG}").status == 200
    assert call(ws, ALICE, f"{check}/byGroupId/{G_USERS}").status == 404
    assert call(ws, ALICE, f"{check}/user", accountId=ALICE).status == 200
    assert call(ws, ALICE, f"{check}/user", accountId=BOB).status == 404
    assert call(ws, ALICE, f"{check}/user").status == 400
    assert call(ws, ALICE, "/rest/api/content/1002/restriction/byOperation/delete").status == 400


def test_restrictions_of_content_the_caller_cannot_see_are_404(ws: Workspace) -> None:
    hidden = call(ws, BOB, "/rest/api/content/1003/restriction")  # inherits 1002's restriction
    assert hidden.status == 404 and hidden.body["statusCode"] == 404
    assert hidden.body["message"].startswith(f"{EXCEPTIONS}.api.NotFoundException")
    assert call(ws, ADMIN, "/rest/api/content/1009/restriction").status == 404  # trashed
    check = f"/rest/api/content/1002/restriction/byOperation/read/byGroupId/{G_ENG}"
    assert call(ws, BOB, check).status == 404
    attachment = get(ws, BOB, "/rest/api/content/att1007/restriction", "getRestrictions")
    assert attachment["results"][0]["_links"]["self"] == \
        f"{BASE}/rest/api/content/att1007/restriction/byOperation/read"
    assert call(ws, BOB, "/rest/api/content/1007/restriction").status == 200  # the bare number works too


# --------------------------------------------------------------------------------------------
# Groups


def test_groups_are_listed_by_name_with_offset_paging(ws: Workspace) -> None:
    first = get(ws, BOB, "/rest/api/group", "getGroups", limit=3)
    assert [g["name"] for g in first["results"]] == ["administrators", "confluence-users", "engineering"]
    assert first["_links"]["next"] == "/rest/api/group?next=true&limit=3&start=3"
    second = get(ws, BOB, first["_links"]["next"], "getGroups")
    assert [g["name"] for g in second["results"]] == ["Zeta"] and "next" not in second["_links"]
    assert (second["start"], second["limit"], second["size"]) == (3, 3, 1)
    assert call(ws, BOB, "/rest/api/group").body["limit"] == 200
    assert call(ws, BOB, "/rest/api/group", limit=201).status == 400
    assert call(ws, BOB, "/rest/api/group", accessType="everyone").status == 400


def test_group_by_id_picker_members_and_memberof(ws: Workspace) -> None:
    group = get(ws, BOB, "/rest/api/group/by-id", "getGroupByGroupId", id=G_ENG)
    assert group["name"] == "engineering" and group["_links"]["base"] == BASE
    assert call(ws, BOB, "/rest/api/group/by-id", id="nope").status == 404
    picked = get(ws, BOB, "/rest/api/group/picker", "searchGroups", query="E", shouldReturnTotalSize="true")
    assert [g["name"] for g in picked["results"]] == ["confluence-users", "engineering", "Zeta"]
    assert picked["totalSize"] == 3
    members = f"/rest/api/group/{G_USERS}/membersByGroupId"
    assert call(ws, BOB, members, limit=2).points == 4
    pages = follow(ws, BOB, members, "getGroupMembersByGroupId", limit=2)
    assert [[u["displayName"] for u in page["results"]] for page in pages] == [
        ["Alice Archer", "Bob Baker"], ["carol Cook"]]
    assert "totalSize" not in pages[0]
    total = get(ws, BOB, members, "getGroupMembersByGroupId", shouldReturnTotalSize="true")
    assert total["totalSize"] == 3 and total["limit"] == 200
    assert call(ws, BOB, members, limit=201).status == 400
    assert call(ws, BOB, "/rest/api/group/nope/membersByGroupId").status == 404
    mine = get(ws, BOB, "/rest/api/user/memberof", "getGroupMembershipsForUser", accountId=CAROL)
    assert [g["name"] for g in mine["results"]] == ["confluence-users", "Zeta"]


# --------------------------------------------------------------------------------------------
# Users


def test_user_shape_and_hidden_email(ws: Workspace) -> None:
    alice = get(ws, BOB, "/rest/api/user", "getUser", accountId=ALICE)
    assert alice["type"] == "known" and alice["email"] == "alice@acme.test" and "timeZone" not in alice
    assert alice["profilePicture"] == {"path": f"/wiki/aa-avatar/{ALICE}", "width": 48, "height": 48,
                                       "isDefault": False}
    assert alice["_links"] == {"self": f"{BASE}/rest/api/user?accountId={ALICE}", "base": BASE,
                               "context": "/wiki"}
    assert get(ws, ALICE, "/rest/api/user", "getUser", accountId=BOB)["email"] == ""
    assert get(ws, BOB, "/rest/api/user/current", "getCurrentUser")["email"] == "bob@acme.test"
    assert get(ws, None, "/rest/api/user/current", "getCurrentUser")["type"] == "anonymous"
    assert call(ws, BOB, "/rest/api/user", accountId="712020:nobody").status == 404
    assert call(ws, BOB, "/rest/api/user").status == 400


def test_user_bulk_returns_at_most_100(ws: Workspace) -> None:
    padding = [f"712020:missing{i}" for i in range(100)]
    reply = call(ws, ALICE, "/rest/api/user/bulk", accountId=",".join([BOB, *padding, CAROL]))
    body = reply.body
    assert reply.status == 200 and [u["accountId"] for u in body["results"]] == [BOB]  # CAROL is id 102
    assert (body["start"], body["limit"], body["size"]) == (0, 100, 1) and reply.points == 2
    assert body["results"][0]["email"] == ""
    assert validate_response("v1", "getBulkUserLookup", body) == []
    both = call(ws, ALICE, "/rest/api/user/bulk", accountId=[ALICE, CAROL])
    assert [u["accountId"] for u in both.body["results"]] == [ALICE, CAROL]


def test_user_search(ws: Workspace) -> None:
    every = get(ws, BOB, "/rest/api/search/user", "searchUser", cql="type=user")
    assert [r["title"] for r in every["results"]] == ["Alice Archer", "Bob Baker", "carol Cook", "Site Admin"]
    assert every["totalSize"] == 4 and every["cqlQuery"] == "type=user"
    first = every["results"][0]
    assert first["entityType"] == "user" and first["url"] == f"/people/{ALICE}"
    assert first["iconCssClass"] == "aui-icon content-type-profile" and first["user"]["accountId"] == ALICE

    def titles(cql: str) -> list[str]:
        return [r["title"] for r in get(ws, BOB, "/rest/api/search/user", "searchUser", cql=cql)["results"]]

    assert titles('type = user AND user.fullname ~ "ba"') == ["Bob Baker"]
    assert titles(f'user.accountid = "{CAROL}"') == ["carol Cook"]
    assert titles(f'user.accountid in ("{CAROL}", "{ALICE}")') == ["Alice Archer", "carol Cook"]
    paged = get(ws, BOB, "/rest/api/search/user", "searchUser", cql="type=user", limit=3)
    assert paged["_links"]["next"] == "/rest/api/search/user?next=true&cql=type%3Duser&limit=3&start=3"
    bad = call(ws, BOB, "/rest/api/search/user", cql="type = page")
    assert bad.status == 400 and "Could not parse cql : type = page" in bad.body["message"]
    assert call(ws, BOB, "/rest/api/search/user", cql="user.fullname ~ x OR type = user").status == 400


# --------------------------------------------------------------------------------------------
# Audit


def test_audit_is_for_admins_and_filters_by_epoch_ms(ws: Workspace) -> None:
    denied = call(ws, ALICE, "/rest/api/audit")
    assert denied.status == 403 and denied.body is None
    everything = get(ws, ADMIN, "/rest/api/audit", "getAuditRecords")
    summaries = [r["summary"] for r in everything["results"]]
    assert summaries == ["Event 1", "Event 2", "Event 10", "Event 40", "Event 200"]
    assert everything["limit"] == 1000
    record = everything["results"][0]
    assert record["creationDate"] == epoch_ms(NOON - timedelta(days=1))
    assert record["author"]["accountId"] == ADMIN
    assert record["changedValues"] == [{"name": "Permission", "oldValue": "", "newValue": "VIEW1"}]
    assert everything["results"][1]["author"]["displayName"] == "System"

    def summaries_of(**params: Any) -> list[str]:
        body = get(ws, ADMIN, "/rest/api/audit", "getAuditRecords", **params)
        return [r["summary"] for r in body["results"]]

    both_ends = summaries_of(startDate=epoch_ms(NOON - timedelta(days=10)),
                             endDate=epoch_ms(NOON - timedelta(days=2)))
    assert both_ends == ["Event 2", "Event 10"]  # both ends inclusive
    assert summaries_of(searchString="view4") == ["Event 40"]
    assert summaries_of(limit=2, start=2) == ["Event 10", "Event 40"]
    assert "next" in get(ws, ADMIN, "/rest/api/audit", "getAuditRecords", limit=2, start=2)["_links"]
    assert call(ws, ADMIN, "/rest/api/audit", startDate="2026-01-01").status == 400


def test_audit_since(ws: Workspace) -> None:
    def since(**params: Any) -> list[str]:
        body = get(ws, ADMIN, "/rest/api/audit/since", "getAuditRecordsForTimePeriod", **params)
        return [r["summary"] for r in body["results"]]

    assert since() == ["Event 1", "Event 2", "Event 10", "Event 40"]  # 3 months
    assert since(number=7, units="DAYS") == ["Event 1", "Event 2"]
    assert since(number=1, units="YEARS")[-1] == "Event 200"
    assert call(ws, ADMIN, "/rest/api/audit/since", units="FORTNIGHTS").status == 400
    assert call(ws, BOB, "/rest/api/audit/since").status == 403


# --------------------------------------------------------------------------------------------
# Attachment download, removed endpoints


def test_attachment_download_redirects_to_the_bytes(ws: Workspace) -> None:
    download = "/rest/api/content/1004/child/attachment/att1007/download"
    reply = call(ws, BOB, download)
    assert reply.status == 302 and reply.body is None
    location = reply.headers["Location"]
    path, _, token = location.partition("&token=")
    assert path == ("/wiki/download/attachments/1004/notes.txt?version=1"
                    f"&modificationDate={epoch_ms(_at(7))}&cacheVersion=1&api=v2")
    data = call(ws, None, location)  # the signed URL needs no other credential
    assert (data.status, data.body, data.content_type, data.points) == (200, b"hello", "text/plain", 1)
    assert call(ws, BOB, "/rest/api/content/1004/child/attachment/1007/download").status == 302
    assert call(ws, BOB, download, version=2).status == 404
    assert call(ws, BOB, download, status="trashed").status == 404
    assert call(ws, BOB, "/rest/api/content/1001/child/attachment/att1007/download").status == 404
    assert call(ws, BOB, "/rest/api/content/1002/child/attachment/att1014/download").status == 404
    secret = call(ws, ALICE, "/rest/api/content/1002/child/attachment/att1014/download").headers["Location"]
    assert call(ws, ALICE, secret).body == b"secret"


def test_attachment_files_need_the_redirects_token(ws: Workspace) -> None:
    location = call(ws, BOB, "/rest/api/content/1004/child/attachment/att1007/download").headers["Location"]
    direct = call(ws, ADMIN, location.partition("&token=")[0])  # the downloadLink, fetched directly
    assert direct.status == 401 and direct.headers["WWW-Authenticate"] == f'OAuth realm="{BASE}"'
    assert "/child/attachment/{attachmentId}/download" in direct.body["message"]
    assert call(ws, BOB, location.replace("notes.txt", "design.txt")).status == 401  # signed for another file
    ws.clock.advance(601)
    assert call(ws, BOB, location).status == 401  # expired


def test_generated_attachments_are_served_from_files(ws: Workspace) -> None:
    item = ws.get("att1007")
    item.data, item.file_size = None, 2048
    location = call(ws, BOB, "/rest/api/content/1004/child/attachment/att1007/download").headers["Location"]
    assert len(call(ws, BOB, location).body) == 2048


@pytest.mark.parametrize("path", ["/rest/api/content", "/rest/api/content/1001", "/rest/api/space",
                                  "/rest/api/content/1004/child/comment", "/rest/api/content/1004/child/attachment"])
def test_removed_content_reads_are_gone_through_the_gateway(ws: Workspace, path: str) -> None:
    reply = call(ws, ADMIN, path, gateway=True)
    assert reply.status == 410
    assert reply.body["message"] == f"{EXCEPTIONS}.GoneException: This deprecated endpoint has been removed."
    assert reply.body["statusCode"] == 410 and reply.body["data"]["successful"] is False


DEPRECATED_V1_READS = {"getContent", "getContentById", "getSpaces", "getContentComments", "getAttachments"}


def test_every_v1_route_is_a_spec_operation_or_a_named_extra() -> None:
    extras = DEPRECATED_V1_READS | {"downloadAttachmentBytes"}
    served = {r.operation_id for r in ROUTES if r.api == "v1" and r.handler.__module__.startswith(api_v1.__name__ + ".")}
    for operation_id in served - extras:
        validate_response("v1", operation_id, None, status=404)  # raises LookupError if not in the spec
    assert extras <= served


def deprecated_read(ws: Workspace, user: str | None, path: str, **params: Any) -> dict[str, Any]:
    """A 200 of a v1 read the spec no longer lists: with the deprecation warning, and every
    content/space in it conforming to the spec's `Content` / `Space` schema."""
    reply = call(ws, user, path, **params)
    assert reply.status == 200, reply.body
    assert reply.headers["Warning"].startswith('299 - "Deprecated API')
    items = reply.body.get("results", [reply.body])
    for item in items:
        schema = "Space" if "key" in item else "Content"
        assert check_schema("v1", schema, item).violations == [], item
    return reply.body


def every_id(ws: Workspace, user: str | None, path: str, **params: Any) -> list[str]:
    body = deprecated_read(ws, user, path, **params)
    ids = [r["id"] for r in body["results"]]
    while "next" in body["_links"]:
        body = deprecated_read(ws, user, body["_links"]["next"])
        ids += [r["id"] for r in body["results"]]
    return ids


def test_v1_content_listing_with_basic_auth_shows_what_the_user_may_view(ws: Workspace) -> None:
    assert set(every_id(ws, ALICE, "/rest/api/content", spaceKey="TEAM", limit=2)) == {"1001", "1002", "1003",
                                                                                        "1004", "1011"}
    assert set(every_id(ws, BOB, "/rest/api/content", spaceKey="TEAM")) == {"1001", "1004", "1011"}
    assert every_id(ws, BOB, "/rest/api/content", spaceKey="PRIV") == []
    assert every_id(ws, ALICE, "/rest/api/content", spaceKey="TEAM", type="blogpost") == ["1005"]
    assert every_id(ws, ADMIN, "/rest/api/content", spaceKey="TEAM", status="trashed") == ["1009"]
    assert every_id(ws, ALICE, "/rest/api/content", title="Public notes") == ["1004"]
    assert call(ws, ALICE, "/rest/api/content", type="comment").status == 400


def test_v1_content_by_id_and_spaces(ws: Workspace) -> None:
    page = deprecated_read(ws, BOB, "/rest/api/content/1004", expand="body.storage,version,space")
    assert page["body"]["storage"]["value"] == "<p>Notes for everyone</p>"
    assert page["space"]["key"] == "TEAM" and page["version"]["number"] == 1
    assert call(ws, BOB, "/rest/api/content/1002").status == 404  # restricted to Alice and engineering
    assert [s["key"] for s in deprecated_read(ws, ALICE, "/rest/api/space")["results"]] == ["ARCH", "PRIV", "TEAM"]
    assert [s["key"] for s in deprecated_read(ws, BOB, "/rest/api/space")["results"]] == ["ARCH", "TEAM"]
    assert [s["key"] for s in deprecated_read(ws, BOB, "/rest/api/space", spaceKey="TEAM")["results"]] == ["TEAM"]


def test_v1_child_comments_and_attachments(ws: Workspace) -> None:
    comments = deprecated_read(ws, BOB, "/rest/api/content/1004/child/comment", expand="body.view,body.storage",
                               depth="all")
    assert [c["id"] for c in comments["results"]] == ["1006"]
    body = comments["results"][0]["body"]
    assert body["view"]["value"] == "<p>Nice notes</p>" and body["storage"]["representation"] == "storage"
    assert comments["results"][0]["extensions"]["location"] == "footer"
    assert deprecated_read(ws, BOB, "/rest/api/content/1004/child/comment", location="inline")["results"] == []
    attachments = deprecated_read(ws, BOB, "/rest/api/content/1004/child/attachment")
    assert [(a["id"], a["title"]) for a in attachments["results"]] == [("att1007", "notes.txt")]
    assert attachments["results"][0]["extensions"]["mediaType"] == "text/plain"
    assert attachments["results"][0]["metadata"]["mediaType"] == "text/plain"  # unasked, as Cloud sends it
    download = attachments["results"][0]["_links"]["download"]
    assert download.startswith("/download/attachments/1004/notes.txt?version=1&modificationDate=")
    assert call(ws, BOB, "/rest/api/content/1002/child/attachment").status == 404  # cannot see the page


def test_v1_body_expansions_render_every_representation(ws: Workspace) -> None:
    reps = ["storage", "view", "export_view", "styled_view", "editor", "atlas_doc_format"]
    page = deprecated_read(ws, ALICE, "/rest/api/content/1002", expand=",".join(f"body.{r}" for r in reps))
    body = page["body"]
    assert set(reps) <= set(body) and not set(reps) & set(body["_expandable"])
    assert body["view"]["value"] == "<p>Design of the <b>sync</b> &amp; its parts</p>"
    assert body["styled_view"]["value"].startswith("<html><head><style>")
    assert json.loads(body["atlas_doc_format"]["value"]) == {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Design of the "},
                                          {"type": "text", "text": "sync", "marks": [{"type": "strong"}]},
                                          {"type": "text", "text": " & its parts"}]}]}


# --------------------------------------------------------------------------------------------
# Through the emulator's WSGI app (basic auth on the site host)


def test_v1_over_http(ws: Workspace) -> None:
    from confluence_pipeline.emulator.app import Emulator

    client = Emulator(ws, email="alice@acme.test", api_token="tok").test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(b"alice@acme.test:tok").decode()}
    seen, url = [], "/wiki/rest/api/search?cql=type%3Dpage&limit=4"
    while url:
        response = client.get(url, headers=auth)
        assert response.status_code == 200 and response.content_type == "application/json"
        seen += [r["content"]["id"] for r in response.json["results"]]
        url = response.json["_links"].get("next") and "/wiki" + response.json["_links"]["next"]
    assert sorted(seen) == sorted(VISIBLE_PAGES)
    denied = client.get("/wiki/rest/api/audit", headers=auth)
    assert denied.status_code == 403 and denied.data == b""
    redirect = client.get("/wiki/rest/api/content/1004/child/attachment/att1007/download", headers=auth)
    assert redirect.status_code == 302
    assert client.get(redirect.headers["Location"], headers=auth).data == b"hello"
    spaces = client.get("/wiki/rest/api/space", headers=auth)  # removed only on the OAuth gateway
    assert spaces.status_code == 200 and "Deprecated API" in spaces.headers["Warning"]


def test_stats_count_every_request_served_or_refused(ws: Workspace) -> None:
    from confluence_pipeline.emulator.app import UNROUTED, Emulator

    emulator = Emulator(ws, email="alice@acme.test", api_token="tok")
    client = emulator.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(b"alice@acme.test:tok").decode()}
    wrong = {"Authorization": "Basic " + base64.b64encode(b"alice@acme.test:nope").decode()}
    assert client.get("/wiki/rest/api/content?spaceKey=TEAM", headers=auth).status_code == 200
    assert client.get("/wiki/rest/api/content/9999", headers=auth).status_code == 404  # by the handler
    assert client.get("/wiki/rest/api/no/such/thing", headers=auth).status_code == 404  # by routing
    assert client.get("/elsewhere", headers=auth).status_code == 404
    assert client.get("/wiki/rest/api/content", headers=wrong).status_code == 401
    assert client.get("/wiki/rest/api/audit", headers=auth).status_code == 403
    gateway = f"/ex/confluence/{ws.site.cloud_id}/wiki/rest/api/space"
    assert client.get(gateway, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    stats = client.get("/__emulator__/stats").json
    assert stats["received_requests"] == 7
    assert stats["received"] == {"getContent": {"200": 1, "401": 1}, "getContentById": {"404": 1},
                                 UNROUTED: {"404": 2}, "getAuditRecords": {"403": 1}, "getSpaces": {"401": 1}}
    # `total_requests` stays what points are charged on: the listing and the audit's empty 403 reply
    assert stats["total_requests"] == 2


def test_deprecated_reads_answer_410_through_the_gateway_and_200_on_the_site(ws: Workspace) -> None:
    from urllib.parse import urlencode

    from confluence_pipeline.emulator.app import Emulator

    emulator = Emulator(ws, email="alice@acme.test", api_token="tok", auto_consent=True)
    client = emulator.test_client()
    query = urlencode({"audience": "api.atlassian.com", "client_id": "emulator-client", "state": "s",
                       "scope": "read:confluence-content.all", "response_type": "code", "prompt": "consent",
                       "redirect_uri": emulator.credentials["redirect_uri"]})
    code = parse_qsl(urlsplit(client.get(f"/authorize?{query}").headers["Location"]).query)
    token = client.post("/oauth/token", json={"grant_type": "authorization_code", "client_id": "emulator-client",
                                              "client_secret": "emulator-secret", "code": dict(code)["code"],
                                              "redirect_uri": emulator.credentials["redirect_uri"]}).json
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    basic = {"Authorization": "Basic " + base64.b64encode(b"alice@acme.test:tok").decode()}
    for path in ("/wiki/rest/api/content?spaceKey=TEAM&expand=body.storage,version", "/wiki/rest/api/space",
                 "/wiki/rest/api/content/1004/child/comment", "/wiki/rest/api/content/1004/child/attachment"):
        gone = client.get(f"/ex/confluence/{ws.site.cloud_id}{path}", headers=bearer)
        assert gone.status_code == 410, path
        assert gone.json["message"].endswith("GoneException: This deprecated endpoint has been removed.")
        served = client.get(path, headers=basic)
        assert served.status_code == 200 and served.json["results"], path


def test_a_comment_trashed_restored_and_purged_through_the_control_api(ws: Workspace) -> None:
    """What the sync tells a trashed comment from a purged one by: CQL counts current comments only,
    the site-wide list shows current ones, the page's list shows the trash when asked, the comment
    by id answers in any status, and 404 once purged."""
    from confluence_pipeline.emulator.app import Emulator

    client = Emulator(ws, email="alice@acme.test", api_token="tok").test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(b"alice@acme.test:tok").decode()}

    def get(path: str) -> Any:
        return client.get(path, headers=auth)

    def state() -> tuple[int, list[str], list[str], list[str]]:
        count = get("/wiki/rest/api/search?cql=type%20%3D%20comment&limit=1").json["totalSize"]
        site = [c["id"] for c in get("/wiki/api/v2/footer-comments").json["results"]]
        on_page = "/wiki/api/v2/pages/1004/footer-comments?status="
        page = [c["id"] for c in get(on_page + "current").json["results"]]
        trash = [c["id"] for c in get(on_page + "trashed").json["results"]]
        return count, site, page, trash

    assert state() == (1, ["1006"], ["1006"], [])
    assert client.post("/__emulator__/content/1006/trash", json={}).status_code == 200
    assert state() == (0, [], [], ["1006"])
    assert get("/wiki/api/v2/footer-comments/1006").json["status"] == "trashed"
    assert client.post("/__emulator__/content/1006/restore", json={}).status_code == 200
    assert state() == (1, ["1006"], ["1006"], [])
    client.post("/__emulator__/content/1006/trash", json={})
    assert client.post("/__emulator__/content/1006/purge", json={}).json == {"purged": ["1006"]}
    assert state() == (0, [], [], [])
    assert get("/wiki/api/v2/footer-comments/1006").status_code == 404
