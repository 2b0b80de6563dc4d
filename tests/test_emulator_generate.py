"""The deterministic workspace generator: determinism, proportions, and every feature the
emulator promises (trees, permissions, restrictions, statuses, comments, attachments, bodies,
planted facts)."""

from __future__ import annotations

import dataclasses
import io
import re
import struct
import zipfile
import zlib
from collections import Counter
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree

import pytest

from confluence_pipeline.emulator.bodies import AC_NAMESPACE, RI_NAMESPACE
from confluence_pipeline.emulator.files import MEDIA_TYPES, attachment_bytes, png_dimensions
from confluence_pipeline.emulator.generate import generate_workspace
from confluence_pipeline.emulator.model import Content
from confluence_pipeline.emulator.workspace import Workspace

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
SEED = 7
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
AC = "{%s}" % AC_NAMESPACE


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return generate_workspace(SEED, 300, now=NOW)


@pytest.fixture(scope="module")
def smallest() -> Workspace:
    return generate_workspace(1, 50, now=NOW)


@pytest.fixture(scope="module")
def large() -> Workspace:
    return generate_workspace(SEED, 2000, now=NOW)


def of_type(ws: Workspace, type_: str) -> list[Content]:
    return list(ws.iter_type(type_))


def parse_body(body: str) -> ElementTree.Element:
    wrapped = '<root xmlns:ac="%s" xmlns:ri="%s">%s</root>' % (AC_NAMESPACE, RI_NAMESPACE, body)
    return ElementTree.fromstring(wrapped)


def dump(ws: Workspace) -> tuple:
    """Every entity of the workspace as plain data."""
    as_data = dataclasses.asdict
    return (
        dataclasses.asdict(ws.site),
        [as_data(u) for u in ws.users.values()],
        [as_data(g) for g in ws.groups.values()],
        sorted((g, sorted(m)) for g, m in ws.group_members.items()),
        [as_data(s) for s in ws.spaces.values()],
        [as_data(label) for label in ws.labels.values()],
        [as_data(c) for c in sorted(ws.content.values(), key=lambda c: c.numeric_id)],
        [as_data(a) for a in ws.audit],
        ws.planted_facts,
    )


def file_text(item: Content, seed: int) -> str:
    """The text an indexer would extract from a generated txt, csv, docx or pdf attachment."""
    data = attachment_bytes(item, seed)
    if item.media_type in ("text/plain", "text/csv"):
        return data.decode()
    if item.media_type == MEDIA_TYPES["docx"]:
        document = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode()
        return " ".join(ElementTree.fromstring(document).itertext())
    if item.media_type == "application/pdf":
        strings = re.findall(rb"\(((?:[^()\\]|\\.)*)\) Tj", data)
        return "\n".join(re.sub(rb"\\(.)", rb"\1", s).decode("latin-1") for s in strings)
    return ""


# --------------------------------------------------------------------------------------------
# Determinism and proportions


def test_same_arguments_give_the_same_workspace_and_another_seed_another() -> None:
    first = generate_workspace(3, 120, now=NOW)
    again = generate_workspace(3, 120, now=NOW)
    other = generate_workspace(4, 120, now=NOW)
    assert dump(first) == dump(again)
    assert dump(first) != dump(other)
    assert first.site.cloud_id == again.site.cloud_id != other.site.cloud_id
    assert UUID.match(first.site.cloud_id)
    assert generate_workspace(3, 120, now=NOW, cloud_id="c-1").site.cloud_id == "c-1"


def test_the_clock_starts_at_now(ws: Workspace) -> None:
    assert abs(ws.clock.now() - NOW) < timedelta(seconds=5)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 50"):
        generate_workspace(1, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_workspace(1, 50, now=datetime(2026, 1, 1))


@pytest.mark.parametrize("scale", [50, 300])
def test_counts_follow_the_scale(scale: int, ws: Workspace, smallest: Workspace) -> None:
    site = ws if scale == 300 else smallest
    counts = Counter(c.type for c in site.content.values())
    assert counts["page"] == scale
    assert scale / 5 * 0.9 <= counts["blogpost"] <= max(10, scale / 5 * 1.1)
    assert 0.7 * scale <= counts["comment"] <= 1.5 * scale
    assert counts["folder"] >= 2
    assert counts["attachment"] >= (scale + counts["blogpost"]) / 3 * 0.8
    assert len(site.users) == max(12, scale // 20)
    assert len(site.groups) == max(4, len(site.users) // 5)
    assert len(site.planted_facts) >= 60


def test_ids_come_from_one_counter_in_creation_order(ws: Workspace) -> None:
    items = sorted(ws.content.values(), key=lambda c: c.numeric_id)
    numbers = [c.numeric_id for c in items] + [int(s.id) for s in ws.spaces.values()]
    assert len(numbers) == len(set(numbers))
    assert all(c.created_at <= d.created_at for c, d in zip(items, items[1:]))
    assert all(re.fullmatch(r"att\d+", c.id) for c in of_type(ws, "attachment"))
    assert all(re.fullmatch(r"\d+", c.id) for c in ws.content.values() if c.type != "attachment")
    types_in_a_row = [c.type for c in items[:200]]
    assert len({(a, b) for a, b in zip(types_in_a_row, types_in_a_row[1:]) if a != b}) >= 4  # interleaved


# --------------------------------------------------------------------------------------------
# Trees


def test_every_space_has_a_homepage_and_deep_trees_with_folders(ws: Workspace) -> None:
    for space in ws.spaces.values():
        home = ws.get(space.homepage_id, "page")
        assert home is not None and home.parent_id is None and home.status == "current"
        pages = [c for c in of_type(ws, "page") if c.space_id == space.id]
        titles = [p.title for p in pages]
        assert len(titles) == len(set(titles)), space.key
        if len(pages) >= 12:
            assert max(len(ws.ancestors(p)) for p in pages) >= 8, space.key
    folders = of_type(ws, "folder")
    assert any(ws.get(f.parent_id, "page") for f in folders)  # a folder under a page
    assert any(c.parent_type == "folder" for c in of_type(ws, "page"))  # a page under a folder
    for item in of_type(ws, "page") + folders:
        assert isinstance(item.position, int)
        if item.parent_id:
            assert ws.get(item.parent_id).type == item.parent_type
    roots = [c for c in of_type(ws, "page") if c.parent_id is None]
    assert len(roots) > len(ws.spaces)  # some pages sit at the space root beside the homepage


# --------------------------------------------------------------------------------------------
# People, spaces and permissions


def test_users_and_groups(ws: Workspace, large: Workspace) -> None:
    users = list(ws.users.values())
    admin = ws.user_by_email("admin@example.com")
    assert admin.is_admin and admin.display_name == "Site Admin" and admin.time_zone == "America/Los_Angeles"
    assert sum(u.account_type == "app" for u in users) in (1, 2)
    assert any(not u.email_visible for u in users) and any(u.email_visible for u in users)
    assert len({u.time_zone for u in users}) >= 5
    assert any(re.fullmatch(r"712020:[0-9a-f-]{36}", u.account_id) for u in users)
    many = list(large.users.values())
    assert any(re.fullmatch(r"[0-9a-f]{24}", u.account_id) and u.account_type == "atlassian" for u in many)
    assert any(u.account_status == "inactive" for u in many)
    assert any(not u.display_name.isascii() for u in many)
    names = {g.name: g.id for g in ws.groups.values()}
    assert admin.account_id in ws.group_members[names["confluence-administrators"]]
    everyone = ws.group_members[names["confluence-users"]]
    assert len(everyone) > len(users) / 2
    assert any(not ws.groups_of(u.account_id) for u in users)
    assert all(UUID.match(g) for g in ws.groups)


def test_spaces_cover_every_kind_of_access(ws: Workspace, large: Workspace) -> None:
    spaces = list(ws.spaces.values())
    personal = [s for s in spaces if s.type == "personal"]
    assert personal and any(s.status == "archived" for s in spaces)
    for space in personal:
        owner = ws.users[space.space_owner_id]
        assert space.key == "~" + owner.account_id.replace(":", "").replace("-", "")
        assert owner.personal_space_id == space.id
    assert any(p.principal_type == "access-class" and p.principal_id == "ANONYMOUS_USERS" and p.key == "read"
               and p.target_type == "space" for s in spaces for p in s.permissions)
    assert any(len(s.permissions) >= 30 and {"ALL_LICENSED_USERS", "ALL_PRODUCT_ADMINS"} <=
               {p.principal_id for p in s.permissions} for s in spaces)
    assert any(ws.get(s.homepage_id) for s in spaces)
    assert any(s.label_ids for s in spaces)
    groupless = next(u for u in ws.users.values()
                     if not ws.groups_of(u.account_id) and u.account_type == "atlassian" and not u.is_admin)
    readers = [s for s in spaces if s.type == "global" and ws.can_read_space(groupless.account_id, s)]
    assert readers  # licensed users read the open spaces
    group_only = [s for s in spaces if s.type == "global" and not any(
        p.principal_id in ("ALL_LICENSED_USERS", "ANONYMOUS_USERS") and p.key == "read"
        for p in s.permissions)]
    assert group_only
    for space in group_only:
        group = next(p.principal_id for p in space.permissions if p.principal_type == "group")
        readers_of = {u for u in ws.users if ws.can_read_space(u, space)}
        admins = {u.account_id for u in ws.users.values() if u.is_admin}
        assert readers_of - admins <= ws.group_members[group]
    assert ws.can_read_space(None, next(s for s in spaces if any(p.principal_id == "ANONYMOUS_USERS"
                                                                     for p in s.permissions)))
    assert any(s.type == "knowledge_base" for s in large.spaces.values())


def test_restrictions_in_every_shape(ws: Workspace) -> None:
    pages = of_type(ws, "page")
    restricted = [p for p in pages if p.restrictions]
    assert 0.03 <= len(restricted) / len(pages) <= 0.15
    read = [c for c in ws.content.values() if "read" in c.restrictions]
    assert any(r.restrictions["read"].group_ids and not r.restrictions["read"].user_ids for r in read)
    assert any(r.restrictions["read"].user_ids and not r.restrictions["read"].group_ids for r in read)
    assert any("update" in c.restrictions and "read" not in c.restrictions for c in ws.content.values())
    assert {"page", "folder", "blogpost"} <= {c.type for c in ws.content.values() if c.restrictions}
    # a restricted parent with an unrestricted child, and restrictions again further down
    nested = False
    for page in pages:
        chain = ws.ancestors(page) + [page]
        marks = ["read" in c.restrictions for c in chain]
        if any(marks[i] and not marks[i + 1] for i in range(len(marks) - 1)):
            if sum(marks) >= 2 and any(not m for m in marks[marks.index(True):]):
                nested = True
    assert nested
    # inheritance bites: someone reads the space but not a page below a restricted one
    assert any(ws.can_read_space(u, ws.spaces[p.space_id]) and not ws.can_view(u, p)
               for p in pages if not p.restrictions and any("read" in a.restrictions for a in ws.ancestors(p))
               for u in ws.users)


# --------------------------------------------------------------------------------------------
# Statuses, versions and time


def test_statuses_and_versions(ws: Workspace) -> None:
    statuses = Counter((c.type, c.status) for c in ws.content.values())
    for type_ in ("page", "blogpost", "attachment", "comment"):
        assert statuses[(type_, "trashed")] >= 1, type_
        assert statuses[(type_, "current")] > statuses[(type_, "trashed")]
    assert statuses[("page", "archived")] >= 1
    assert all(c.status_before_trash in ("current", "archived")
               for c in ws.content.values() if c.status == "trashed")
    for item in ws.content.values():
        assert [v.number for v in item.versions] == list(range(1, len(item.versions) + 1))
    multi = [p for p in of_type(ws, "page") if len(p.versions) > 1]
    assert len(multi) > 0.3 * ws.scale
    later = [v for p in multi for v in p.versions[1:]]
    assert any(v.minor_edit for v in later) and any(v.message for v in later)
    assert len({v.author_id for p in multi for v in p.versions}) > 3
    assert any(v.title for p in multi for v in p.versions[:-1])
    assert any(v.body for p in multi for v in p.versions[:-1])


def test_timestamps_are_ordered_and_spread(ws: Workspace) -> None:
    for item in ws.content.values():
        times = [item.created_at] + [v.created_at for v in item.versions]
        assert times[0] == times[1]
        assert all(a < b for a, b in zip(times[1:], times[2:])), item.id
        assert times[-1] <= NOW and item.created_at.microsecond % 1000 == 0
        if item.container_id:
            assert item.created_at > ws.get(item.container_id).created_at
        if item.parent_comment_id:
            assert item.created_at > ws.get(item.parent_comment_id).created_at
        if item.parent_id:
            assert item.created_at > ws.get(item.parent_id).created_at
    created = [c.created_at for c in ws.content.values()] + [s.created_at for s in ws.spaces.values()]
    assert NOW - min(created) >= timedelta(days=3 * 365)
    modified = [c.modified_at for c in ws.content.values()]
    assert sum(NOW - m < timedelta(days=30) for m in modified) > 0.1 * len(modified)
    assert any(NOW - m < timedelta(days=1) for m in modified)
    dates = [a.creation_date for a in ws.audit]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)
    assert dates[-1] - dates[0] >= timedelta(days=2 * 365)


# --------------------------------------------------------------------------------------------
# Comments


def test_comments_threads_and_inline_states(ws: Workspace) -> None:
    comments = of_type(ws, "comment")
    assert {c.container_type for c in comments} == {"page", "blogpost"}
    replies = [c for c in comments if c.parent_comment_id]
    assert replies
    for reply in replies:
        parent = ws.get(reply.parent_comment_id, "comment")
        assert parent.container_id == reply.container_id and parent.comment_kind == "footer"
    inline = [c for c in comments if c.comment_kind == "inline"]
    assert {c.resolution_status for c in inline} == {"open", "reopened", "resolved", "dangling"}
    for comment in inline:
        assert UUID.match(comment.inline_marker_ref) and comment.inline_original_selection
        resolved = comment.resolution_status in ("resolved", "reopened")
        assert (comment.resolution_last_modifier_id is not None) == resolved
        assert (comment.resolution_last_modified_at is not None) == resolved
        if resolved:
            assert comment.created_at < comment.resolution_last_modified_at <= NOW
        body = ws.get(comment.container_id).body
        if comment.resolution_status == "dangling":
            assert comment.inline_marker_ref not in body
            continue
        markers = [m for m in parse_body(body).iter(AC + "inline-comment-marker")
                   if m.get(AC + "ref") == comment.inline_marker_ref]
        assert len(markers) == 1 and "".join(markers[0].itertext()) == comment.inline_original_selection
    # markers nest, as on real pages
    assert any(marker.find(AC + "inline-comment-marker") is not None
               for c in of_type(ws, "page") if "inline-comment-marker" in c.body
               for marker in parse_body(c.body).iter(AC + "inline-comment-marker"))


# --------------------------------------------------------------------------------------------
# Attachments


def check_png(data: bytes, width: int, height: int) -> None:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, []
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0] == zlib.crc32(kind + body)
        chunks.append((kind, body))
        at += 12 + length
    assert at == len(data) and chunks[-1][0] == b"IEND" and chunks[0][0] == b"IHDR"
    assert struct.unpack(">II", chunks[0][1][:8]) == (width, height)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (width + 1)


def check_pdf(data: bytes) -> None:
    assert data.startswith(b"%PDF-1.") and data.endswith(b"%%EOF\n")
    xref_at = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data).group(1))
    assert data[xref_at:xref_at + 5] == b"xref\n"
    count = int(data[xref_at:].split(b"\n")[1].split()[1])
    entries = data[xref_at:].split(b"\n")[3:2 + count]
    for number, entry in enumerate(entries, start=1):
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj" % number)


def test_attachments_have_real_files_of_their_size(ws: Workspace) -> None:
    attachments = of_type(ws, "attachment")
    assert {ws.get(a.container_id).type for a in attachments} == {"page", "blogpost"}
    assert set(MEDIA_TYPES.values()) == {a.media_type for a in attachments}
    sizes = sorted(a.file_size for a in attachments)
    assert sizes[0] >= 1024 and sizes[-1] <= 6_000_000 and sizes[len(sizes) // 2] < 200_000
    for item in attachments:
        assert item.data is None and UUID.match(item.file_id)
        assert item.created_at > ws.get(item.container_id).created_at
        data = attachment_bytes(item, ws.seed)
        assert len(data) == item.file_size, item.title
        if item.media_type == "image/png":
            check_png(data, *png_dimensions(item.file_size))
        elif item.media_type == "application/pdf":
            check_pdf(data)
        elif item.media_type == MEDIA_TYPES["docx"]:
            archive = zipfile.ZipFile(io.BytesIO(data))
            assert data[:2] == b"PK" and archive.testzip() is None
            ElementTree.fromstring(archive.read("word/document.xml"))
        else:
            assert len(file_text(item, ws.seed).split()) > 20
    sample = attachments[0]
    assert attachment_bytes(sample, ws.seed) == attachment_bytes(sample, ws.seed)
    assert attachment_bytes(sample, ws.seed) != attachment_bytes(sample, ws.seed + 1)
    uploaded = dataclasses.replace(sample, data=b"uploaded")
    assert attachment_bytes(uploaded, ws.seed) == b"uploaded"


@pytest.mark.parametrize("media_type", sorted(MEDIA_TYPES.values()))
def test_every_kind_fits_every_size(ws: Workspace, media_type: str) -> None:
    template = of_type(ws, "attachment")[0]
    for size in (4096, 65_535 + 4000, 70_001, 1_048_577, 3_333_333):
        item = dataclasses.replace(template, media_type=media_type, file_size=size)
        assert len(attachment_bytes(item, 1)) == size


# --------------------------------------------------------------------------------------------
# Bodies


def test_bodies_are_well_formed_and_hold_every_construct(ws: Workspace) -> None:
    bodies = [c.body for c in ws.content.values() if c.type in ("page", "blogpost", "comment")]
    for body in bodies:
        parse_body(body)
    text = "\n".join(bodies)
    expected = [
        r"<h2>", r"<table", r"<ul>|<ol>", r"<ac:task-list><ac:task><ac:task-id>\d+</ac:task-id>",
        r'<ac:structured-macro ac:name="code" ac:schema-version="1" ac:macro-id="[0-9a-f-]{36}">'
        r'<ac:parameter ac:name="language">\w+</ac:parameter>.*?<ac:plain-text-body><!\[CDATA\[',
        r'ac:name="info"', r'ac:name="note"', r'ac:name="warning"', r'ac:name="drawio"|ac:name="com.acme',
        r'<ac:link><ri:page ri:content-title="[^"]+" ri:space-key="[^"]+"',
        r'<ac:link><ri:attachment ri:filename="[^"]+"', r'<ri:user ri:account-id="[^"]+"',
        r'<ri:user ri:userkey="(712020|557058):[0-9a-f-]+|<ri:user ri:userkey="[0-9a-f]{24}"',
        r'<ac:image ac:layout="center" ac:original-width="\d+" ac:original-height="\d+">'
        r'<ri:attachment ri:filename="[^"]+\.png" ri:version-at-save="1"',
        r'<ac:emoticon ac:name="[\w-]+" ac:emoji-shortname=":\w+:" ac:emoji-id="\w+" ac:emoji-fallback="',
        r'<time datetime="\d{4}-\d{2}-\d{2}" />', r"[ぁ-ん]", r"[а-я]", r"[ء-ي]", r"[α-ω]", "\U0001F680",
    ]
    for pattern in expected:
        assert re.search(pattern, text), pattern
    pages = of_type(ws, "page")
    assert any(p.body == "" for p in pages)
    big = [p for p in pages if len(p.body.encode()) > 1_048_576]
    assert len(big) >= 1
    cited = 0
    for container in pages + of_type(ws, "blogpost"):  # images show the container's own PNGs at their size
        own = {a.title: a for a in ws.attachments_of(container.id)}
        for image in parse_body(container.body).iter(AC + "image"):
            attachment = own[image.find("{%s}attachment" % RI_NAMESPACE).get("{%s}filename" % RI_NAMESPACE)]
            assert attachment.media_type == "image/png"
            width, height = png_dimensions(attachment.file_size)
            size = (image.get(AC + "original-width"), image.get(AC + "original-height"))
            assert size == (str(width), str(height))
            cited += 1
    assert cited


def test_labels_properties_and_audit(ws: Workspace) -> None:
    prefixes = {label.prefix for label in ws.labels.values()}
    assert {"global", "my", "team"} <= prefixes
    for item in ws.content.values():
        assert all(label_id in ws.labels for label_id in item.label_ids)
    properties = [p for c in ws.content.values() for p in c.properties]
    published = [p for p in properties if p.key == "content-appearance-published"]
    assert any(p.value == "full-width" for p in published) and all(p.version.number == 1 for p in properties)
    categories = Counter(a.category for a in ws.audit)
    assert {"Permissions", "Pages", "Users and groups", "Spaces"} <= set(categories)
    summaries = {a.summary for a in ws.audit}
    assert {"Page created", "Page moved to trash", "Page deleted", "Space permission added",
            "User added to group", "Content restrictions changed", "Space created"} <= summaries
    assert any(a.author_id is None for a in ws.audit) and any(a.author_id for a in ws.audit)


# --------------------------------------------------------------------------------------------
# Planted facts


def test_each_planted_fact_lives_in_exactly_one_item(ws: Workspace) -> None:
    facts = ws.planted_facts
    assert len(facts) >= 60 and len({q for q, _ in facts}) == len(facts)
    texts: dict[str, str] = {}
    for item in ws.content.values():
        parts = [item.body] + [v.body or "" for v in item.versions]
        if item.type == "attachment":
            parts.append(file_text(item, ws.seed))
        texts[item.id] = "\n".join(parts)
    kinds = Counter()
    for query, content_id in facts:
        holders = [cid for cid, text in texts.items() if query in text]
        assert holders == [content_id], query
        item = ws.get(content_id)
        assert item.status == "current" and ws.spaces[item.space_id].status == "current"
        kinds[item.type] += 1
    assert len(facts) / 4 <= kinds["attachment"] <= len(facts) / 2
    assert kinds["page"]
