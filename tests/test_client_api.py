"""The client's typed reads against the emulator over real HTTP (API-token mode)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from confluence_pipeline.confluence.client import ConfluenceClient
from confluence_pipeline.confluence.errors import (AuthError, NotFound, PermissionDenied, SiteUnreachable,
                                                   TooLarge)
from confluence_pipeline.confluence.models import (Ancestor, Attachment, AuditRecord, BlogPost, Descendant,
                                                   DirectChild, Folder, FooterComment, Group, InlineComment,
                                                   Label, Page, SearchResult, Space, SpacePermission, User,
                                                   UserV1, Version)
from confluence_pipeline.confluence.ratelimit import RetryPolicy
from confluence_pipeline.emulator.app import Emulator

EMAIL = "admin@example.com"
API_TOKEN = "api-test-token"
MEMBER_TOKEN = "member-test-token"


@pytest.fixture(scope="module")
def emu():
    emulator = Emulator(seed=5, scale=200, api_token=API_TOKEN)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def client(emu) -> ConfluenceClient:
    return ConfluenceClient.with_api_token(emu.base_url, EMAIL, API_TOKEN)


def _aware(moment: datetime | None) -> bool:
    return moment is not None and moment.utcoffset() == timedelta(0)


def test_spaces_pages_and_blog_posts_are_typed_with_utc_times(client):
    spaces = list(client.spaces())
    assert spaces and all(isinstance(s, Space) and _aware(s.created_at) for s in spaces)
    assert client.space(spaces[0].id).key == spaces[0].key
    assert [s.id for s in client.spaces(keys=[spaces[0].key])] == [spaces[0].id]
    pages = list(client.pages(body_format="storage"))
    assert pages and all(isinstance(p, Page) and _aware(p.modified_at) for p in pages)
    assert any(p.storage for p in pages)
    page = client.page(pages[3].id, body_format="storage", include=["labels"])
    assert page.storage == pages[3].storage
    posts = list(client.blogposts())
    assert posts and all(isinstance(b, BlogPost) for b in posts)
    assert client.blogpost(posts[0].id).title == posts[0].title
    in_space = list(client.pages_in_space(pages[0].space_id))
    assert in_space and all(p.space_id == pages[0].space_id for p in in_space)
    assert all(b.space_id == posts[0].space_id for b in client.blogposts_in_space(posts[0].space_id))


def test_bulk_reads_by_id_split_into_calls_of_250(client, emu):
    pages = list(client.pages())
    unknown = [str(10**9 + n) for n in range(300 - len(pages))]
    client.reset_stats()
    found = list(client.pages(ids=[p.id for p in pages] + unknown))
    assert sorted(p.id for p in found) == sorted(p.id for p in pages)
    assert client.stats()["by_operation"]["getPages"]["calls"] == 2  # 300 ids: 250 + 50
    space_ids = sorted({p.space_id for p in pages})
    assert {p.id for p in client.pages(space_ids=space_ids)} == {p.id for p in pages}


def test_listings_follow_next_links_over_many_short_pages(emu):
    small = ConfluenceClient.with_api_token(emu.base_url, EMAIL, API_TOKEN, page_size=7)
    everything = ConfluenceClient.with_api_token(emu.base_url, EMAIL, API_TOKEN)
    assert [c.id for c in small.footer_comments()] == [c.id for c in everything.footer_comments()]
    assert small.stats()["by_operation"]["getFooterComments"]["calls"] > 10


def test_the_page_tree_versions_labels_and_properties(client, emu):
    folder = next(c for c in emu.ws.content.values() if c.type == "folder" and c.status == "current")
    deep = next(c for c in emu.ws.content.values()
                if c.type == "page" and c.status == "current" and len(emu.ws.ancestors(c)) >= 3)
    chain = client.ancestors("page", deep.id)
    assert [a.id for a in chain] == [a.id for a in emu.ws.ancestors(deep)] and isinstance(chain[0], Ancestor)
    root = chain[0]
    kids = list(client.direct_children("page", root.id))
    assert kids and all(isinstance(k, DirectChild) for k in kids)
    below = list(client.descendants("page", root.id, depth=5))
    assert all(isinstance(d, Descendant) for d in below) and {k.id for k in kids} <= {d.id for d in below}
    assert isinstance(client.folder(folder.id), Folder)
    assert all(isinstance(d, DirectChild) for d in client.direct_children("folder", folder.id))
    versioned = next(c for c in emu.ws.content.values() if c.type == "page" and len(c.versions) > 2)
    versions = list(client.versions("page", versioned.id))
    assert sorted(v.number for v in versions) == [v.number for v in versioned.versions]
    assert all(isinstance(v, Version) and _aware(v.created_at) for v in versions)
    labelled = next(c for c in emu.ws.content.values() if c.type == "page" and c.label_ids)
    assert {l.id for l in client.labels_of("page", labelled.id)} == set(labelled.label_ids)
    assert all(isinstance(l, Label) for l in client.labels())
    with_props = next(c for c in emu.ws.content.values() if c.type == "page" and c.properties)
    keys = {p.key for p in client.properties_of("page", with_props.id)}
    assert keys == {p.key for p in with_props.properties}
    with pytest.raises(ValueError, match="page, blogpost"):
        client.versions("folder", folder.id)


def test_comments_global_per_page_and_replies(client, emu):
    footer = list(client.footer_comments(body_format="storage"))
    inline = list(client.inline_comments())
    assert footer and all(isinstance(c, FooterComment) for c in footer)
    assert inline and all(isinstance(c, InlineComment) for c in inline)
    reply = next(c for c in footer if c.parent_comment_id)
    assert reply.id in {r.id for r in client.comment_replies("footer", reply.parent_comment_id)}
    parent = next(c for c in footer if c.id == reply.parent_comment_id)
    roots = list(client.footer_comments_of("page", parent.page_id)) if parent.page_id else \
        list(client.footer_comments_of("blogpost", parent.blog_post_id))
    assert parent.id in {r.id for r in roots} and reply.id not in {r.id for r in roots}


def test_attachments_and_their_download_with_a_size_cap(client, emu, tmp_path):
    attachments = list(client.attachments())
    assert attachments and all(isinstance(a, Attachment) for a in attachments)
    attachment = next(a for a in attachments if a.page_id and (a.file_size or 0) > 1000)
    assert attachment.id in {a.id for a in client.attachments_of("page", attachment.page_id)}
    assert client.attachment(attachment.id).title == attachment.title
    size = client.download_attachment(attachment.container_id, attachment.id, tmp_path / "file")
    assert size == attachment.file_size == (tmp_path / "file").stat().st_size
    with pytest.raises(TooLarge, match="download cap"):
        client.download_attachment(attachment.container_id, attachment.id, tmp_path / "big", max_bytes=100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing partial left behind
    calls = client.stats()["by_operation"]
    assert calls["downloadAttatchment"]["calls"] == 2 and calls["downloadAttachmentBytes"]["calls"] == 2


def test_users_groups_permissions_restrictions_search_and_audit(client, emu):
    pages = list(client.pages())
    authors = {p.author_id for p in pages}
    client.reset_stats()
    users = list(client.users(authors))
    assert {u.account_id for u in users} == authors and all(isinstance(u, User) for u in users)
    assert {u.account_id for u in client.users_v1(authors)} == authors
    groups = list(client.groups())
    assert groups and all(isinstance(g, Group) for g in groups)
    member_group = next(g for g in groups if emu.ws.group_members.get(g.id))
    members = list(client.group_members(member_group.id))
    assert {m.account_id for m in members} == emu.ws.group_members[member_group.id]
    assert all(isinstance(m, UserV1) for m in members)
    someone = next(iter(emu.ws.group_members[member_group.id]))
    assert member_group.id in {g.id for g in client.user_groups(someone)}
    space = next(iter(emu.ws.spaces.values()))
    assert all(isinstance(p, SpacePermission) for p in client.space_permissions(space.id))
    restricted = next(c for c in emu.ws.content.values()
                      if c.type == "page" and c.status == "current" and c.restrictions.get("read")
                      and not c.restrictions["read"].is_empty)
    bulk = {c.id: c for c in client.restrictions_bulk([p.id for p in pages])}
    assert {u.account_id for u in bulk[restricted.id].restrictions.read.users} == \
        set(restricted.restrictions["read"].user_ids)
    one = client.restriction(restricted.id, "read")
    assert {g.id for g in one.groups} == set(restricted.restrictions["read"].group_ids)
    assert {r.operation for r in client.restrictions(restricted.id)} == {"read", "update"}
    hits = list(client.search("type = page", limit=25))
    assert hits and all(isinstance(h, SearchResult) and h.content for h in hits)
    assert len(list(client.search_content("type = blogpost"))) == len(  # CQL leaves archived spaces out
        [b for b in emu.ws.content.values() if b.type == "blogpost" and b.status == "current"
         and emu.ws.spaces[b.space_id].status == "current"])
    assert any(h.user for h in client.search_users("type = user"))
    now = datetime.now(timezone.utc)
    records = list(client.audit(start=now - timedelta(days=5 * 365), end=now))
    assert records and all(isinstance(r, AuditRecord) and _aware(r.creation_date) for r in records)
    stats = client.stats()
    assert stats["by_operation"]["createBulkUserLookup"]["calls"] == 1
    assert stats["by_operation"]["getBulkUserLookup"]["calls"] == -(-len(authors) // 100)


def test_counters_match_what_the_service_counted(client, emu):
    emu.limits.reset_stats()
    list(client.pages(body_format="storage"))
    list(client.spaces())
    ours, theirs = client.stats(), emu.limits.stats()
    assert ours["calls"] == theirs["total_requests"]
    for name in ("getPages", "getSpaces"):
        assert ours["by_operation"][name] == {"calls": theirs["by_operation"][name]["requests"],
                                              "points": theirs["by_operation"][name]["points"]}


def test_objects_the_account_cannot_see_are_reported_and_skipped(emu):
    pages = [c for c in emu.ws.content.values() if c.type == "page"]
    member = next(u for u in emu.ws.users.values() if not u.is_admin and u.account_type == "atlassian"
                  and any(not emu.ws.can_view(u.account_id, c) for c in pages))
    emu.api_tokens[member.email.lower()] = MEMBER_TOKEN
    client = ConfluenceClient.with_api_token(emu.base_url, member.email, MEMBER_TOKEN)
    wanted = [c.id for c in itertools.islice((c for c in emu.ws.content.values() if c.type == "page"
                                              and c.status == "current"), 60)]
    read, skipped = [], []
    for page_id in wanted:
        try:
            read.append(client.page(page_id).id)
        except (NotFound, PermissionDenied) as err:
            skipped.append(err)
    hidden = [i for i in wanted if not emu.ws.can_view(member.account_id, emu.ws.content[i])]
    assert hidden and [e.url.rsplit("/", 1)[1] for e in skipped] == hidden
    assert read == [i for i in wanted if i not in hidden]
    assert all(e.status == 404 and "cannot see it" in str(e) and "skipped" in str(e) for e in skipped)
    with pytest.raises(PermissionDenied) as err:
        list(client.audit())
    assert err.value.status == 403 and "Confluence Administrator" in str(err.value)
    assert "the rest of the sync can go on" in str(err.value)


def test_a_wrong_api_token_names_the_settings_to_fix(emu):
    client = ConfluenceClient.with_api_token(emu.base_url, EMAIL, "not-the-token")
    with pytest.raises(AuthError) as err:
        list(client.spaces())
    message = str(err.value)
    assert err.value.status == 401 and "CONFLUENCE_EMAIL" in message and "CONFLUENCE_API_TOKEN" in message
    assert "not-the-token" not in message and "not-the-token" not in repr(client)


def test_missing_api_token_settings_are_named():
    with pytest.raises(AuthError, match="CONFLUENCE_SITE_URL, CONFLUENCE_EMAIL and CONFLUENCE_API_TOKEN"):
        ConfluenceClient.with_api_token("", EMAIL, "")


def test_the_proxy_environment_is_followed_for_listings_and_downloads(emu, monkeypatch, tmp_path):
    """HTTP_PROXY carries every call, the download's redirect hop too; NO_PROXY exempts a host.
    The emulator plays the proxy (it serves absolute-form request targets) for a site whose host
    does not resolve, so a call that skipped the proxy could not succeed."""
    site = "http://confluence.invalid"
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", emu.base_url)
    monkeypatch.setenv("http_proxy", emu.base_url)
    client = ConfluenceClient.with_api_token(site, EMAIL, API_TOKEN)
    attachment = next(a for a in client.attachments() if a.page_id and a.file_size)
    for dest in ("file", "again"):  # the second download reads the environment from the session's memory
        size = client.download_attachment(attachment.container_id, attachment.id, tmp_path / dest)
        assert size == attachment.file_size

    monkeypatch.setenv("NO_PROXY", "confluence.invalid")
    monkeypatch.setenv("no_proxy", "confluence.invalid")
    direct = ConfluenceClient.with_api_token(site, EMAIL, API_TOKEN,
                                             retry=RetryPolicy(max_outage=0.0, sleep=lambda s: None))
    with pytest.raises(SiteUnreachable, match="Could not reach confluence.invalid"):
        next(iter(direct.attachments()))
