"""The deterministic workspace generator: a realistic Confluence site from a seed and a size.

    ws = generate_workspace(seed=42, scale=2000)

`scale` is the number of pages; everything else follows in proportion: about scale/20 users,
users/5 groups, scale/400 global spaces plus personal, archived and knowledge-base ones,
scale/25 folders, scale/5 blog posts, one comment and a third of an attachment per page. The
same arguments always give the same workspace: one `random.Random(seed)` drives everything,
and timestamps are anchored at `now` (default: the current UTC minute).

The site is built in two passes. The first plans every space and content item with its
creation time; the second walks them in creation order and takes ids from the workspace's one
counter (`ws.new_id()`), so ids grow with creation time and interleave across types, as on a
real site. Bodies are storage-format XHTML made in `bodies.py`; attachment bytes are made on
demand by `files.attachment_bytes` and never stored.

Besides the fields of `Workspace`, the result has one more attribute:

    ws.planted_facts: list[tuple[str, str]]
        (query text, content id) pairs, at least 60. Each query names a made-up thing whose
        sentence (e.g. "The Quorion-412 kiln inspection interval is 37 days.") occurs in the
        text of exactly one current page, blog post or attachment (a third are attachments: in
        the txt/csv/pdf/docx file's text). A relevance test searches for the query and expects
        that content id.

What the data exercises: page trees at least 10 levels deep in every space with 12 pages or
more, with folders inside; restrictions on pages, folders and blog posts (read and edit, user
and group, nested on alternating levels, restricted parents with unrestricted children);
spaces readable by everyone, by one group only, or anonymously; personal and archived spaces;
users in no group and users with hidden emails; archived, trashed and multi-version content;
inline comments in every resolution state (a dangling comment's marker is gone from the body,
which is what makes it dangling); timestamps over 3.3 years with a share in the last day.
"""

from __future__ import annotations

import gc
import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

from . import bodies
from .bodies import BodyRefs, Pools, uuid_from
from .files import ATTACHMENT_FACTS, MEDIA_TYPES, MIN_SIZES, fact_file_id, png_dimensions
from .model import (AuditRecord, Clock, Content, Group, Label, Property, Restriction, Site, Space,
                    SpacePermission, User, Version, Workspace)

MIN_SCALE = 50
SPAN_DAYS = 1200  # the oldest space is this old: a little over three years
_DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_BIG_BODY_BYTES = 1_200_000
_CHAIN = 10  # nodes below the homepage in each space's deep chain (one of them a folder)
_CHAIN_FOLDER = 4

FIRST_NAMES = ["Alice", "Bob", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas",
               "Kemal", "Lena", "Marco", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Samuel", "Tara",
               "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Anders", "Bianca", "Chidi", "Dana",
               "Emil", "Fatima", "Gustav", "Hana", "Ivan", "Julia", "Kofi", "Laila", "Mateo", "Nora"]
LAST_NAMES = ["Anderson", "Becker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen",
              "Ito", "Jensen", "Kowalski", "Lopez", "Müller", "Nakamura", "Okafor", "Petrov", "Quinn",
              "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Wagner", "Xu", "Young", "Zimmermann",
              "Novak", "Silva", "Berg", "Moreau", "O'Brien", "Kim", "Haddad", "Larsen", "Mendes"]
NON_LATIN_NAMES = [  # (display name, email local part, time zone)
    ("田中 花子", "hanako.tanaka", "Asia/Tokyo"), ("佐藤 健", "ken.sato", "Asia/Tokyo"),
    ("Иван Петров", "ivan.petrov", "Europe/Moscow"), ("Ольга Смирнова", "olga.smirnova", "Europe/Moscow"),
    ("ليلى حداد", "layla.haddad", "Asia/Dubai"), ("عمر الفاروق", "omar.alfarouq", "Africa/Cairo"),
    ("Γιώργος Παπαδόπουλος", "giorgos.papadopoulos", "Europe/Athens"),
    ("Ελένη Νικολάου", "eleni.nikolaou", "Europe/Athens"), ("王芳", "fang.wang", "Asia/Shanghai"),
    ("김민준", "minjun.kim", "Asia/Seoul"), ("राहुल शर्मा", "rahul.sharma", "Asia/Kolkata"),
]
TIME_ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "Europe/London",
              "America/Chicago", "America/Sao_Paulo", "Asia/Kolkata", "Europe/Paris", "Asia/Singapore",
              "Pacific/Auckland", "Africa/Johannesburg", "America/Denver", "Asia/Kathmandu",
              "Australia/Adelaide", "America/St_Johns", "Europe/Madrid", "UTC", "America/Los_Angeles"]
APP_USERS = [("Jira Cloud", "jira"), ("Automation for Confluence", "automation")]
SPACE_NAMES = ["Engineering", "Product Management", "Human Resources", "Customer Support", "Marketing",
               "Finance", "Legal", "Design", "Data Platform", "Security", "IT Help Desk", "Sales",
               "Operations", "Research", "Mobile", "Infrastructure", "Quality Assurance", "Partnerships"]
TEAM_GROUP_PREFIXES = ["engineering", "platform", "payments", "data", "mobile", "security", "support",
                       "design", "finance", "legal", "growth", "infra", "qa", "sales", "marketing",
                       "research", "hr", "ops", "it", "product", "web", "search", "identity", "billing"]
TEAM_GROUP_SUFFIXES = ["team", "leads", "emea", "amer", "apac", "guild", "oncall", "contractors",
                       "managers", "reviewers", "berlin", "tokyo", "nyc", "sydney", "alumni"]
LABEL_NAMES = ["architecture", "onboarding", "runbook", "meeting-notes", "howto", "decision", "retro",
               "planning", "security", "release", "incident", "draft", "faq", "roadmap", "api",
               "kb-how-to-article", "kb-troubleshooting-article", "customer", "legal-review", "budget",
               "hiring", "design", "performance", "postmortem", "q1", "q2", "q3", "q4", "документация",
               "設計", "compliance", "okr", "training", "vendor", "migration", "deprecated"]
VERSION_MESSAGES = ["", "", "", "", "Fixed typo", "Updated the owners", "Added rollout steps",
                    "Reorganised sections", "Review comments", "Refreshed numbers", "Moved from old space"]
ATTACHMENT_COMMENTS = ["", "", "", "", "Final version", "Uploaded from the mobile app", "Signed copy",
                       "Exported from the dashboard", "Draft for review"]
AUDIT_ADDRESSES = ["203.0.113.%d", "198.51.100.%d", "192.0.2.%d", "10.20.1.%d"]

# Operation sets per principal, as in the real include-permissions recording (REAL.md §7).
OWNER_OPERATIONS = [("read", "space"), ("create", "page"), ("create", "blogpost"), ("create", "comment"),
                    ("create", "attachment"), ("update", "page"), ("update", "blogpost"),
                    ("delete", "page"), ("delete", "blogpost"), ("delete", "comment"), ("archive", "page"),
                    ("archive_space", "space"), ("export", "space"), ("export_content", "space"),
                    ("restrict_content", "space"), ("manage_templates", "space"),
                    ("manage_public_links", "space"), ("manage_guest_users", "space"),
                    ("manage_nonlicensed_users", "space"), ("administer", "space")]
MEMBER_OPERATIONS = [("read", "space"), ("create", "page"), ("create", "blogpost"), ("create", "comment"),
                     ("create", "attachment"), ("update", "page"), ("update", "blogpost"),
                     ("delete", "comment"), ("archive", "page"), ("export_content", "space")]
ADMIN_OPERATIONS = [("read", "space"), ("administer", "space"), ("create", "page"), ("create", "blogpost"),
                    ("create", "comment"), ("create", "attachment"), ("delete", "page"),
                    ("delete", "blogpost"), ("delete", "comment"), ("delete", "attachment"),
                    ("delete", "space"), ("archive", "page"), ("archive_space", "space"),
                    ("export", "space"), ("export_content", "space"), ("manage_content", "space"),
                    ("manage_users", "space"), ("manage_templates", "space"),
                    ("manage_public_links", "space"), ("manage_guest_users", "space")]
READER_OPERATIONS = [("read", "space"), ("create", "comment")]


@dataclass(slots=True, eq=False)
class _SpacePlan:
    space: Space
    ms: int
    access: str  # open | group | anonymous | personal
    pool: list[str]  # account ids of the people who write in it
    n_pages: int
    group_id: str | None = None  # the one group of a group-only space
    readers: list[str] = field(default_factory=list)  # extra users with read only
    label_keys: list[tuple[str, str]] = field(default_factory=list)
    pages: list["_Node"] = field(default_factory=list)
    homepage: "_Node | None" = None


@dataclass(slots=True, eq=False)
class _Node:
    """A content item before it has an id, with the plan-time links it needs."""

    item: Content
    ms: int
    plan: _SpacePlan
    parent: "_Node | None" = None
    container: "_Node | None" = None
    reply_to: "_Node | None" = None
    body_kind: str = "normal"  # normal | empty | big (pages and blog posts)
    everything: bool = False  # a showcase body with every construct
    keep_old_body: bool = False
    # the collections below start as a shared empty tuple (most items have none) and become a
    # list when something is added: 300,000 nodes with five empty lists each cost 80 MB
    labels: tuple | list[tuple[str, str]] = ()  # (prefix, name)
    properties: tuple | list[tuple[str, object]] = ()
    attachments: tuple | list["_Node"] = ()
    inline_refs: tuple | list[str] = ()  # marker refs that stay in the body
    markers: str = ""
    facts: tuple | list[str] = ()
    carries_fact: bool = False  # an attachment whose file holds a planted fact


def generate_workspace(seed: int = 42, scale: int = 2000, *, admin_email: str = "admin@example.com",
                       site_url: str = "https://emulated.atlassian.net", cloud_id: str | None = None,
                       now: datetime | None = None) -> Workspace:
    """A deterministic emulated site with `scale` pages; see the module docstring."""
    if scale < MIN_SCALE:
        raise ValueError("scale must be at least %d pages (got %d): smaller sites cannot hold the "
                         "deep trees and every feature the emulator promises" % (MIN_SCALE, scale))
    if now is None:
        now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware, e.g. datetime(2026, 5, 1, tzinfo=timezone.utc)")
    # Half a million long-lived objects make the cyclic GC rescan the heap again and again (a
    # quarter of the run time at scale 100,000); nothing built here is garbage, so pause it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Generator(seed, scale, admin_email, site_url, cloud_id, now.astimezone(timezone.utc)).run()
    finally:
        if collecting:
            gc.enable()


def _derived_uuid(text: str) -> str:
    h = hashlib.sha256(text.encode()).hexdigest()
    return "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])


class _Generator:
    def __init__(self, seed: int, scale: int, admin_email: str, site_url: str, cloud_id: str | None,
                 now: datetime) -> None:
        self.seed = seed
        self.scale = scale
        self.rng = random.Random(seed)
        self.now_ms = (now - _EPOCH) // timedelta(milliseconds=1)
        self.start_ms = self.now_ms - SPAN_DAYS * _DAY_MS
        host = urlparse(site_url).hostname or "emulated.atlassian.net"
        site = Site(cloud_id or _derived_uuid("cloud/%d" % seed), host.split(".")[0], site_url.rstrip("/"))
        self.ws = Workspace(site, seed, scale)
        self.ws.clock = Clock(now)
        self.admin_email = admin_email
        self.pools: Pools = bodies.build_pools(self.rng)
        self.seq = 0
        self.events: list[tuple[int, int, object]] = []
        self.users: list[User] = []
        self.licensed: list[str] = []  # atlassian users in confluence-users
        self.team_groups: list[Group] = []
        self.team_group_ids: set[str] = set()
        self.administrators_id = ""
        self.groups_of: dict[str, list[str]] = {}
        self.plans: list[_SpacePlan] = []
        self.pages: list[_Node] = []  # pages and folders
        self.blogposts: list[_Node] = []
        self.comment_nodes: list[_Node] = []
        self.attachment_nodes: list[_Node] = []
        self.restricted: list[_Node] = []
        self.fact_targets: list[tuple[int, _Node]] = []

    # -- helpers ------------------------------------------------------------------------------
    def dt(self, ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, timezone.utc)  # exact to the millisecond

    def after(self, ms: int, power: float) -> int:
        """A time in (ms, now]: power > 1 leans towards `ms`, power < 1 towards now."""
        return ms + 1 + int((self.now_ms - ms - 1) * self.rng.random() ** power)

    def recent(self, ms: int, power: float) -> int:
        """A time in (ms, now] that leans towards now (a good share in the last day)."""
        return self.now_ms - int((self.now_ms - ms - 1) * self.rng.random() ** power)

    def increasing(self, times: list[int], low: int) -> list[int]:
        """`times` sorted and made strictly increasing, all in (low, now]."""
        times.sort()
        last = low
        for i, ms in enumerate(times):
            last = times[i] = max(ms, last + 1)
        cap = self.now_ms  # steps of +1 may have run past now: pull the tail back
        for i in range(len(times) - 1, -1, -1):
            if times[i] <= cap:
                break
            times[i] = cap
            cap -= 1
        return times

    def event(self, ms: int, obj: object) -> None:
        self.seq += 1
        self.events.append((ms, self.seq, obj))

    def versions(self, author: str, created: int, pool: list[str], count: int) -> list[Version]:
        rng = self.rng
        count = min(count, self.now_ms - created + 1)
        times = self.increasing([self.recent(created, 3.0) for _ in range(count - 1)], created)
        out = [Version(1, author, self.dt(created))]
        for number, ms in enumerate(times, start=2):
            out.append(Version(number, rng.choice(pool), self.dt(ms), rng.choice(VERSION_MESSAGES),
                               rng.random() < 0.2))
        return out

    def version_count(self) -> int:
        r = self.rng.random()
        if r < 0.55:
            return 1
        if r < 0.85:
            return self.rng.randint(2, 3)
        if r < 0.97:
            return self.rng.randint(4, 10)
        return self.rng.randint(11, 40)

    # -- the whole run ------------------------------------------------------------------------
    def run(self) -> Workspace:
        self.make_users()
        self.make_groups()
        self.plan_spaces()
        for plan in self.plans:
            self.plan_tree(plan)
        self.plan_blogposts()
        self.plan_statuses()
        self.plan_restrictions()
        self.plan_attachments()
        self.plan_comments()
        self.plan_facts()
        self.plan_recent_edits()
        self.materialize()
        self.make_audit()
        self.ws.planted_facts = [(bodies.planted_facts(self.seed)[i][0], node.item.id)
                                 for i, node in sorted(self.fact_targets, key=lambda t: t[0])]
        return self.ws

    # -- people -------------------------------------------------------------------------------
    def new_account_id(self) -> str:
        r = self.rng.random()
        if r < 0.15:
            return "%024x" % self.rng.getrandbits(96)
        return "%s:%s" % ("557058" if r < 0.25 else "712020", uuid_from(self.rng))

    def make_users(self) -> None:
        rng = self.rng
        n_users = min(5000, max(12, self.scale // 20))
        admin = User("712020:" + uuid_from(rng), "Site Admin", "Site Admin", self.admin_email, True,
                     "atlassian", "active", "America/Los_Angeles", is_admin=True)
        self.users.append(admin)
        for name, slug in APP_USERS:
            self.users.append(User("%024x" % rng.getrandbits(96), name, name,
                                   "%s@connect.atlassian.com" % slug, False, "app", "active", "UTC"))
        emails = {self.admin_email.lower()}
        while len(self.users) < n_users:
            if rng.random() < 0.12:
                display, local, tz = rng.choice(NON_LATIN_NAMES)
            else:
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                display = "%s %s" % (first, last)
                local = "%s.%s" % (first.lower(), last.lower().replace("ü", "ue").replace("'", ""))
                tz = rng.choice(TIME_ZONES)
            email = "%s@example.com" % local
            n = 2
            while email in emails:
                email = "%s%d@example.com" % (local, n)
                n += 1
            emails.add(email)
            public = display if rng.random() < 0.8 else display.split()[0]
            status = "inactive" if rng.random() < 0.06 else "active"
            self.users.append(User(self.new_account_id(), display, public, email, rng.random() > 0.2,
                                   "atlassian", status, tz))
        for user in self.users:
            self.ws.users[user.account_id] = user

    def make_groups(self) -> None:
        rng = self.rng
        people = [u for u in self.users if u.account_type == "atlassian" and not u.is_admin]
        # a few people belong to no group at all: they see only what every licensed user sees
        groupless = set(u.account_id for u in rng.sample(people, max(1, len(people) // 25)))
        admin = self.users[0].account_id
        self.licensed = [admin] + [u.account_id for u in people if u.account_id not in groupless]
        n_groups = max(4, len(self.users) // 5)
        names = ["%s-%s" % (p, s) for p in TEAM_GROUP_PREFIXES for s in TEAM_GROUP_SUFFIXES]
        rng.shuffle(names)
        names += ["%s-%d" % (name, n) for n in range(2, n_groups // len(names) + 2) for name in names]
        members_pool = self.licensed[1:]
        spec = [("confluence-users", self.licensed),
                ("confluence-administrators", [admin] + rng.sample(members_pool, min(2, len(members_pool)))),
                ("atlassian-addons-admin", [u.account_id for u in self.users if u.account_type == "app"])]
        for name in names[: n_groups - len(spec)]:
            spec.append((name, rng.sample(members_pool, min(len(members_pool), rng.randint(3, 30)))))
        for name, members in spec:
            team = name not in ("confluence-users", "confluence-administrators", "atlassian-addons-admin")
            collab = team and rng.random() < 0.25
            group = Group(uuid_from(rng), name, "TEAM_COLLABORATION" if collab else "USERBASE_GROUP",
                          rng.choice(("TEAM_MEMBERS", "OPEN")) if collab else "ADMINS")
            self.ws.groups[group.id] = group
            self.ws.group_members[group.id] = set(members)
            for account_id in members:
                self.groups_of.setdefault(account_id, []).append(group.id)
            if team:
                self.team_groups.append(group)
                self.team_group_ids.add(group.id)
            elif name == "confluence-administrators":
                self.administrators_id = group.id

    # -- spaces -------------------------------------------------------------------------------
    def plan_spaces(self) -> None:
        rng = self.rng
        scale = self.scale
        n_current = max(3, scale // 400)
        n_global = n_current + max(1, n_current // 15)  # the extra ones are archived
        n_kb = 1 + scale // 50_000 if scale >= 2000 else 0
        n_personal = max(1, len(self.users) // 25)
        keys: set[str] = set()

        personal_owners = rng.sample([u for u in self.users if u.account_type == "atlassian"
                                      and u.account_id in self.licensed], n_personal)
        personal_pages = [1 + min(rng.randint(0, 4), rng.randint(0, 4)) for _ in personal_owners]
        kb_pages = [max(12, scale // 60) for _ in range(n_kb)]
        rest = scale - sum(personal_pages) - sum(kb_pages)
        weights = [rng.paretovariate(1.3) for _ in range(n_global)]
        weights[0] = max(weights) * 1.5  # the main space is the largest and holds the showcase
        total = sum(weights)
        counts = [1 + int((rest - n_global) * w / total) for w in weights]
        for i in range(rest - sum(counts)):
            counts[i % n_global] += 1

        accesses = ["open", "group", "anonymous"] + [
            rng.choices(("open", "group", "anonymous"), (0.65, 0.25, 0.1))[0] for _ in range(n_global - 3)]
        for i in range(n_global):
            base = SPACE_NAMES[i % len(SPACE_NAMES)]
            name = base if i < len(SPACE_NAMES) else "%s %d" % (base, i // len(SPACE_NAMES) + 1)
            key = self.space_key(name, keys)
            created = self.start_ms if i == 0 else self.start_ms + int(
                (SPAN_DAYS - 30) * _DAY_MS * rng.random() ** 1.5)
            self.add_space_plan(key, name, "global", "archived" if i >= n_current else "current",
                                accesses[i], created, counts[i])
        for i in range(n_kb):
            name = "Knowledge Base" if i == 0 else "Knowledge Base %d" % (i + 1)
            created = self.start_ms + int(SPAN_DAYS * _DAY_MS * (0.3 + 0.4 * rng.random()))
            self.add_space_plan(self.space_key(name, keys), name, "knowledge_base", "current", "open",
                                created, kb_pages[i])
        for owner, n_pages in zip(personal_owners, personal_pages):
            created = self.start_ms + int(SPAN_DAYS * _DAY_MS * rng.random())
            key = "~" + owner.account_id.replace(":", "").replace("-", "")
            self.add_space_plan(key, owner.display_name, "personal", "current", "personal", created,
                                n_pages, owner=owner.account_id)

    def space_key(self, name: str, taken: set[str]) -> str:
        words = [w for w in name.upper().split() if w.isalpha()]
        key = "".join(w[0] for w in words) if len(words) > 1 else words[0][:4]
        candidate, n = key, 2
        while candidate in taken:
            candidate = "%s%d" % (key, n)
            n += 1
        taken.add(candidate)
        return candidate

    def add_space_plan(self, key: str, name: str, type_: str, status: str, access: str, created: int,
                       n_pages: int, owner: str | None = None) -> None:
        rng = self.rng
        group_id = None
        readers: list[str] = []
        if access == "group":
            group = rng.choice(self.team_groups)
            group_id = group.id
            members = sorted(self.ws.group_members[group.id])
            owner = owner or rng.choice(members)
            pool = members[: max(3, min(len(members), n_pages // 8))]
        elif access == "personal":
            pool = [owner]
        else:
            owner = owner or rng.choice(self.licensed)
            pool = rng.sample(self.licensed, min(len(self.licensed), max(3, min(40, n_pages // 8))))
        if owner not in pool:
            pool = [owner] + pool
        if access in ("open", "anonymous") and rng.random() < 0.3:
            readers.append(rng.choice(self.users[1:3]).account_id)  # an app that reads the space
        description = "%s space: %s" % (name, rng.choice(self.pools.sentences))
        space = Space("", key, name, type_, status, owner, self.dt(created), description=description,
                      space_owner_id=owner)
        plan = _SpacePlan(space, created, access, pool, n_pages, group_id, readers)
        if not self.plans:  # the main space is starred and a team space, like the recorded one
            plan.label_keys = [("my", "favourite"), ("team", "teams")]
        elif rng.random() < 0.15:
            choices = [("global", "documentation"), ("my", "favourite"), ("team", "teams")]
            plan.label_keys = rng.sample(choices, 2)
        self.plans.append(plan)
        self.event(created, plan)

    def space_permissions(self, plan: _SpacePlan) -> list[SpacePermission]:
        grants: list[tuple[str, str, list[tuple[str, str]]]] = [
            ("user", plan.space.space_owner_id, OWNER_OPERATIONS)]
        if plan.access == "group":
            grants.append(("group", plan.group_id, MEMBER_OPERATIONS))
        elif plan.access == "personal":
            if self.rng.random() < 0.5:
                grants.append(("access-class", "ALL_LICENSED_USERS", READER_OPERATIONS))
        else:
            grants.append(("access-class", "ALL_LICENSED_USERS", MEMBER_OPERATIONS))
            if self.rng.random() < 0.4:
                grants.append(("group", self.rng.choice(self.team_groups).id, MEMBER_OPERATIONS))
        if plan.access == "anonymous":
            grants.append(("access-class", "ANONYMOUS_USERS", [("read", "space")]))
        for reader in plan.readers:
            grants.append(("user", reader, [("read", "space")]))
        if plan.access in ("open", "anonymous"):
            grants.append(("group", self.administrators_id, [("read", "space"), ("administer", "space")]))
        grants.append(("access-class", "ALL_PRODUCT_ADMINS", ADMIN_OPERATIONS))
        pairs = [(ptype, pid, key, target) for ptype, pid, ops in grants for key, target in ops]
        self.rng.shuffle(pairs)  # real listings interleave principals
        return [SpacePermission(self.ws.new_id(), *pair) for pair in pairs]

    # -- page trees ---------------------------------------------------------------------------
    def page_title(self, created_ms: int, taken: set[str], folder: bool = False) -> str:
        rng = self.rng
        r = rng.random()
        if folder:
            title = rng.choice(bodies.FOLDER_NAMES)
        elif r < 0.04:
            title = rng.choice(bodies.NON_LATIN_TITLES)
        elif r < 0.12:
            title = "Meeting notes %s" % self.dt(created_ms).strftime("%Y-%m-%d")
        elif r < 0.2:
            title = "ADR-%03d: %s the %s" % (rng.randint(1, 400), rng.choice(bodies.VERBS).capitalize(),
                                             rng.choice(bodies.THINGS))
        elif r < 0.6:
            title = "%s %s" % (rng.choice(bodies.THINGS).capitalize(), rng.choice(bodies.DOC_KINDS))
        elif r < 0.8:
            title = "%s: %s" % (rng.choice(bodies.THINGS).capitalize(), rng.choice(bodies.HEADINGS).lower())
        else:
            title = "%s team %s" % (rng.choice(bodies.TEAMS).capitalize(), rng.choice(bodies.DOC_KINDS))
        candidate, n = title, 2
        while candidate in taken:
            candidate = "%s %d" % (title, n)
            n += 1
        taken.add(candidate)
        return candidate

    def plan_tree(self, plan: _SpacePlan) -> None:
        rng = self.rng
        n = plan.n_pages
        chain = n >= 12
        n_folders = (n // 25 + 1) if chain else 0
        kinds = ["page"] * (n - 1) + ["folder"] * n_folders
        head = []
        if chain:
            head = ["page"] * _CHAIN
            head[_CHAIN_FOLDER] = "folder"
            for k in head:
                kinds.remove(k)
        rng.shuffle(kinds)
        kinds = head + kinds
        home_ms = plan.ms + rng.randint(1000, 5000)
        times = self.increasing([self.recent(home_ms, 1.6) for _ in kinds], home_ms)
        titles: set[str] = set()
        nodes: list[_Node] = []
        child_count: dict[int, int] = {}
        home = self.new_tree_node(plan, "page", home_ms, None, "%s Home" % plan.space.name, 0, titles)
        plan.homepage = home
        nodes.append(home)
        for kind, ms in zip(kinds, times):
            if len(nodes) <= len(head):
                parent = nodes[-1]
            else:
                r = rng.random()
                if len(nodes) == len(head) + 1 and plan is self.plans[0]:
                    r = 0.35  # the main space always has a page at its root beside the homepage
                parent = home if r < 0.3 else (None if r < 0.38 else rng.choice(nodes))
            key = id(parent)
            child_count[key] = child_count.get(key, 0) + 1
            position = child_count[key] * 64 + rng.randrange(64)
            nodes.append(self.new_tree_node(plan, kind, ms, parent, None, position, titles))
        if plan.space.type != "personal":
            home.everything = True
            home.body_kind = "normal"

    def new_tree_node(self, plan: _SpacePlan, kind: str, ms: int, parent: _Node | None, title: str | None,
                      position: int, titles: set[str]) -> _Node:
        rng = self.rng
        author = rng.choice(plan.pool)
        if kind == "page" and plan.access != "personal" and rng.random() < 0.01:
            author = self.users[2].account_id  # an automation app wrote this page
        if title is None:
            title = self.page_title(ms, titles, folder=kind == "folder")
        else:
            titles.add(title)
        count = self.version_count() if kind == "page" else rng.choice((1, 1, 1, 2))
        item = Content("", kind, "", "current", title, author, self.dt(ms),
                       self.versions(author, ms, plan.pool, count),
                       owner_id=author if rng.random() < 0.95 else rng.choice(plan.pool),
                       parent_type=parent.item.type if parent else None, position=position)
        node = _Node(item, ms, plan, parent=parent)
        if kind == "page":
            self.decorate(node, count)
        self.pages.append(node)
        plan.pages.append(node)
        self.event(ms, node)
        return node

    def decorate(self, node: _Node, version_count: int) -> None:
        """Body kind, labels, properties and old versions of a page or blog post."""
        rng = self.rng
        r = rng.random()
        if r < 0.03:
            node.body_kind = "empty"
        if version_count > 1:
            if r > 0.95:
                node.item.versions[0].title = "Draft: %s" % node.item.title
            if rng.random() < 0.04:
                node.keep_old_body = True
        if rng.random() < 0.4:
            node.labels = [("global", name) for name in rng.sample(LABEL_NAMES, rng.randint(1, 3))]
            if rng.random() < 0.08:
                node.labels.append(("my", "favourite"))
            if rng.random() < 0.03:
                node.labels.append(("team", "teams"))
        properties = []
        if rng.random() < 0.35:
            width = "full-width" if rng.random() < 0.8 else "fixed-width"
            properties.append(("content-appearance-published", width))
            if rng.random() < 0.3:
                properties.append(("content-appearance-draft", "full-width"))
        if rng.random() < 0.03:
            properties.append(("emoji-title-published", rng.choice(("1f680", "1f4dd", "2705"))))
        if properties:
            node.properties = properties

    # -- blog posts ---------------------------------------------------------------------------
    def plan_blogposts(self) -> None:
        rng = self.rng
        n_blog = max(10, self.scale // 5)
        spaces = [p for p in self.plans if p.space.type != "personal"]
        weights = [p.n_pages for p in spaces]
        personal = [p for p in self.plans if p.space.type == "personal"]
        titles: dict[int, set[str]] = {}
        for i in range(n_blog):
            plan = rng.choice(personal) if rng.random() < 0.1 else rng.choices(spaces, weights)[0]
            ms = self.recent(plan.ms + 10_000, 1.5)
            author = rng.choice(plan.pool)
            day = self.dt(ms).strftime("%B %Y")
            base = "%s %s" % (rng.choice(("Weekly update:", "News:", "Announcing", "Recap:", "Thoughts on",
                                          "Lessons from", "Release notes:")),
                              "the %s (%s)" % (rng.choice(bodies.THINGS), day))
            taken = titles.setdefault(id(plan), set())
            title, n = base, 2
            while title in taken:
                title = "%s %d" % (base, n)
                n += 1
            taken.add(title)
            count = rng.choice((1, 1, 1, 2, 3))
            item = Content("", "blogpost", "", "current", title, author, self.dt(ms),
                           self.versions(author, ms, plan.pool, count), owner_id=author)
            node = _Node(item, ms, plan, everything=i == 0)
            self.decorate(node, count)
            if node.everything:
                node.body_kind = "normal"
            self.blogposts.append(node)
            self.event(ms, node)

    # -- statuses and restrictions ------------------------------------------------------------
    def plan_statuses(self) -> None:
        rng = self.rng
        has_children = {id(n.parent) for n in self.pages if n.parent is not None}
        protected = {id(p.homepage) for p in self.plans}
        leaves = [n for n in self.pages if id(n) not in has_children and id(n) not in protected
                  and not (n.plan.n_pages >= 12 and n in n.plan.pages[1:_CHAIN + 1])]
        leaf_pages = [n for n in leaves if n.item.type == "page"]
        for node in leaves:
            r = rng.random()
            item = node.item
            if item.type == "folder":
                if r < 0.05:
                    item.status, item.status_before_trash = "trashed", "current"
            elif r < 0.02:
                item.status = "trashed"
                item.status_before_trash = "archived" if rng.random() < 0.1 else "current"
            elif r < 0.045:
                item.status = "archived"
        for node in self.blogposts[1:]:
            if rng.random() < 0.03:
                node.item.status, node.item.status_before_trash = "trashed", "current"
        # small sites still get one of each
        if not any(n.item.status == "trashed" for n in leaf_pages):
            leaf_pages[0].item.status, leaf_pages[0].item.status_before_trash = "trashed", "current"
        if not any(n.item.status == "archived" for n in leaf_pages):
            next(n for n in reversed(leaf_pages) if n.item.status == "current").item.status = "archived"
        if not any(n.item.status == "trashed" for n in self.blogposts):
            self.blogposts[-1].item.status, self.blogposts[-1].item.status_before_trash = "trashed", "current"
        plain = [n for n in self.pages if n.item.type == "page" and n.item.status == "current"
                 and n.body_kind == "normal" and id(n) not in protected and n.plan.space.type == "global"]
        if not any(n.body_kind == "empty" for n in self.pages):
            plain.pop().body_kind = "empty"
        for node in rng.sample(plain, max(1, round(self.scale / 5000))):
            node.body_kind = "big"

    def restriction(self, node: _Node, pattern: str) -> None:
        rng = self.rng
        item = node.item
        author = item.author_id
        teams = [g for g in self.groups_of.get(author, ()) if g in self.team_group_ids]
        group = rng.choice(teams) if teams else rng.choice(self.team_groups).id
        others = [u for u in rng.sample(node.plan.pool, min(2, len(node.plan.pool))) if u != author]
        if pattern == "group":
            rule = Restriction([], [group])
        elif pattern == "user":
            rule = Restriction([author] + others, [])
        else:  # users and a group
            rule = Restriction([author], [group])
        if pattern == "edit":
            item.restrictions["update"] = Restriction([author] + others, [])
        else:
            item.restrictions["read"] = rule
            item.restrictions["update"] = Restriction(list(rule.user_ids), list(rule.group_ids))
        self.restricted.append(node)

    def plan_restrictions(self) -> None:
        rng = self.rng
        patterns = ("group", "user", "both", "edit")
        for plan in self.plans:
            if plan.n_pages >= 12 and (plan is self.plans[0] or plan.n_pages >= 100):
                chain = plan.pages[1:_CHAIN + 1]
                # alternate down the chain: restricted, open, restricted, ... with a different rule each time
                for level, pattern in ((1, "both"), (3, "user"), (5, "edit"), (7, "group")):
                    self.restriction(chain[level], pattern)
        protected = {id(p.homepage) for p in self.plans}
        candidates = [n for n in self.pages if not n.item.restrictions and id(n) not in protected]
        # about 7% of pages restricted in all, the chains included
        chance = max(0.02, (0.07 * self.scale - len(self.restricted)) / len(candidates))
        for node in candidates:
            if rng.random() < (chance * 1.3 if node.item.type == "folder" else chance):
                self.restriction(node, rng.choices(patterns, (0.3, 0.3, 0.15, 0.25))[0])
        for node in self.blogposts:
            if rng.random() < 0.05:
                self.restriction(node, rng.choice(patterns))
        # small sites still get a restricted folder and blog post
        for nodes in ([n for n in candidates if n.item.type == "folder"], self.blogposts):
            if nodes and not any(n.item.restrictions for n in nodes):
                self.restriction(nodes[-1], "user")

    # -- attachments --------------------------------------------------------------------------
    def plan_attachments(self) -> None:
        rng = self.rng
        containers = [n for n in self.pages if n.item.type == "page"] + self.blogposts
        eligible = [n for n in containers if n.item.status == "current" and n.plan.space.status == "current"]
        n_random = max(10, round(len(containers) / 3) - ATTACHMENT_FACTS)
        text_kinds = ("txt", "csv", "pdf", "docx")
        for i in range(ATTACHMENT_FACTS):
            self.new_attachment(rng.choice(eligible), text_kinds[i % 4], fact_index=i)
        # an image on the showcase homepage, and a file on the showcase blog post
        self.new_attachment(self.plans[0].homepage, "png")
        self.new_attachment(self.blogposts[0], "pdf")
        kinds, kind_weights = ("png", "pdf", "docx", "csv", "txt"), (0.3, 0.2, 0.15, 0.15, 0.2)
        for _ in range(n_random - 2):
            self.new_attachment(rng.choice(containers), rng.choices(kinds, kind_weights)[0])
        last = self.attachment_nodes[-1].item
        if not any(n.item.status == "trashed" for n in self.attachment_nodes):
            last.status, last.status_before_trash = "trashed", "current"

    def attachment_name(self, kind: str, ms: int) -> str:
        rng = self.rng
        stamp = self.dt(ms)
        thing = rng.choice(bodies.THINGS)
        slug = thing.replace(" ", "-")
        pick = rng.randrange(4)
        if kind == "png":
            return ("image-%s.png" % stamp.strftime("%Y%m%d-%H%M%S"), "%s-diagram.png" % slug,
                    "Screenshot %s.png" % stamp.strftime("%Y-%m-%d at %H.%M.%S"), "logo.png")[pick]
        if kind == "pdf":
            return ("%s-%s.pdf" % (slug, rng.choice(bodies.DOC_KINDS).replace(" ", "-")),
                    "Invoice-%d-%04d.pdf" % (stamp.year, rng.randint(1, 9999)), "signed-contract.pdf",
                    "%s.pdf" % thing.capitalize())[pick]
        if kind == "docx":
            return ("%s %s.docx" % (thing.capitalize(), rng.choice(bodies.DOC_KINDS)),
                    "Meeting minutes %s.docx" % stamp.date().isoformat(), "%s.docx" % slug,
                    "Draft.docx")[pick]
        if kind == "csv":
            return ("export-%s.csv" % stamp.date().isoformat(), "%s-metrics.csv" % slug, "data.csv",
                    "%s.csv" % slug)[pick]
        return ("notes.txt", "%s-notes.txt" % slug, "README.txt",
                "server-%s.log.txt" % stamp.strftime("%Y%m%d"))[pick]

    def attachment_size(self, kind: str) -> int:
        median = {"txt": 4_000, "csv": 24_000, "pdf": 180_000, "docx": 45_000, "png": 150_000}[kind]
        size = int(median * math.exp(self.rng.gauss(0, 1.1)))
        return min(max(size, MIN_SIZES[kind]), 6_000_000)

    def new_attachment(self, container: _Node, kind: str, fact_index: int | None = None) -> None:
        rng = self.rng
        plan = container.plan
        ms = min(container.ms + rng.randint(1000, 3 * _DAY_MS), self.now_ms - rng.randint(0, 60_000))
        ms = max(ms, container.ms + 1)
        name = self.attachment_name(kind, ms)
        taken = {a.item.title for a in container.attachments}
        stem, _, ext = name.rpartition(".")
        n = 2
        while name in taken:
            name = "%s-%d.%s" % (stem, n, ext)
            n += 1
        author = rng.choice(plan.pool)
        count = 1 if fact_index is not None or rng.random() < 0.85 else rng.randint(2, 3)
        item = Content("", "attachment", "", "current", name, author, self.dt(ms),
                       self.versions(author, ms, plan.pool, count),
                       container_type=container.item.type, media_type=MEDIA_TYPES[kind],
                       file_id=uuid_from(rng) if fact_index is None else fact_file_id(self.seed, fact_index),
                       file_size=self.attachment_size(kind),
                       attachment_comment=rng.choice(ATTACHMENT_COMMENTS))
        node = _Node(item, ms, plan, container=container, carries_fact=fact_index is not None)
        if fact_index is None and rng.random() < 0.03:
            item.status, item.status_before_trash = "trashed", "current"
        if fact_index is not None:
            self.fact_targets.append((fact_index, node))
        if not container.attachments:
            container.attachments = []
        container.attachments.append(node)
        self.attachment_nodes.append(node)
        self.event(ms, node)

    # -- comments -----------------------------------------------------------------------------
    def plan_comments(self) -> None:
        rng = self.rng
        states = ["open", "reopened", "resolved", "dangling"]  # the first four cover every state
        containers = [n for n in self.pages if n.item.type == "page"] + self.blogposts
        for container in containers:
            n_footer = 0
            if rng.random() < 0.38:
                n_footer = 1
                while rng.random() < 0.45:
                    n_footer += 1
            n_inline = 0
            if container.body_kind == "normal" and rng.random() < 0.15:
                n_inline = 1
                while rng.random() < 0.3:
                    n_inline += 1
            if container.everything and states:  # the showcase page has a comment in every state
                n_inline = max(n_inline, len(states))
            if not (n_footer or n_inline):
                continue
            times = self.increasing([self.after(container.ms, 3.0) for _ in range(n_footer + n_inline)],
                                    container.ms)
            kinds = ["footer"] * n_footer + ["inline"] * n_inline
            rng.shuffle(kinds)
            footers: list[_Node] = []
            inlines: list[_Node] = []
            for kind, ms in zip(kinds, times):
                if kind == "footer":  # replies come later than what they answer: times increase
                    parent = rng.choice(footers) if footers and rng.random() < 0.45 else None
                    footers.append(self.new_comment(container, ms, "footer", parent))
                else:
                    state = states.pop(0) if states else rng.choices(
                        ("open", "resolved", "reopened", "dangling"), (0.45, 0.3, 0.1, 0.15))[0]
                    inlines.append(self.new_inline_comment(container, ms, state))
            if container.inline_refs:
                container.markers, selections = bodies.inline_markers(self.pools, rng, container.inline_refs)
                by_ref = dict(zip(container.inline_refs, selections))
                for node in inlines:
                    if node.item.inline_marker_ref in by_ref:
                        node.item.inline_original_selection = by_ref[node.item.inline_marker_ref]
        if not any(n.item.status == "trashed" for n in self.comment_nodes):
            last = self.comment_nodes[-1].item
            last.status, last.status_before_trash = "trashed", "current"

    def new_comment(self, container: _Node, ms: int, kind: str, reply_to: _Node | None) -> _Node:
        rng = self.rng
        plan = container.plan
        author = rng.choice(plan.pool)
        count = 1 if rng.random() < 0.9 else 2
        mentioned = rng.choice(plan.pool) if rng.random() < 0.15 else None
        item = Content("", "comment", "", "current", "Re: %s" % container.item.title, author, self.dt(ms),
                       self.versions(author, ms, plan.pool, count),
                       body=bodies.comment_body(self.pools, rng, mentioned),
                       comment_kind=kind, container_type=container.item.type)
        if rng.random() < 0.02:
            item.status, item.status_before_trash = "trashed", "current"
        node = _Node(item, ms, plan, container=container, reply_to=reply_to)
        self.comment_nodes.append(node)
        self.event(ms, node)
        return node

    def new_inline_comment(self, container: _Node, ms: int, state: str) -> _Node:
        rng = self.rng
        node = self.new_comment(container, ms, "inline", None)
        item = node.item
        item.resolution_status = state
        item.inline_marker_ref = uuid_from(rng)
        if state in ("resolved", "reopened"):
            item.resolution_last_modifier_id = rng.choice(container.plan.pool)
            item.resolution_last_modified_at = self.dt(self.after(ms, 1.0))
        if state == "dangling":  # the highlighted text was deleted from the page
            item.inline_original_selection = rng.choice(self.pools.selections)
        else:
            if not container.inline_refs:
                container.inline_refs = []
            container.inline_refs.append(item.inline_marker_ref)
        return node

    # -- planted facts and recent activity ----------------------------------------------------
    def plan_facts(self) -> None:
        rng = self.rng
        eligible = [n for n in self.pages + self.blogposts
                    if n.item.type != "folder" and n.item.status == "current" and n.body_kind == "normal"
                    and n.plan.space.status == "current"]
        facts = bodies.planted_facts(self.seed)
        targets = rng.sample(eligible, min(len(eligible), len(facts) - ATTACHMENT_FACTS))
        for offset, index in enumerate(range(ATTACHMENT_FACTS, len(facts))):
            node = targets[offset % len(targets)]
            node.facts = [*node.facts, facts[index][1]]
            node.keep_old_body = False
            self.fact_targets.append((index, node))
        # small sites still keep one old body and one old title
        edited = [n for n in self.pages if n.item.type == "page" and len(n.item.versions) > 1 and not n.facts]
        if not any(n.keep_old_body for n in self.pages):
            edited[0].keep_old_body = True
        if not any(n.item.versions[0].title for n in edited):
            edited[-1].item.versions[0].title = "Draft: %s" % edited[-1].item.title

    def plan_recent_edits(self) -> None:
        """Make sure the last day has edits, whatever the draw: a few pages get a new version."""
        rng = self.rng
        current = [n for n in self.pages if n.item.type == "page" and n.item.status == "current"]
        for node in rng.sample(current, max(3, self.scale // 1000)):
            versions = node.item.versions
            ms = max(self.now_ms - rng.randint(60_000, _DAY_MS - 60_000),
                     (versions[-1].created_at - _EPOCH) // timedelta(milliseconds=1) + 1)
            if ms <= self.now_ms:
                versions.append(Version(len(versions) + 1, rng.choice(node.plan.pool), self.dt(ms),
                                        rng.choice(VERSION_MESSAGES), False))

    # -- the second pass: ids, bodies, indexes ------------------------------------------------
    def materialize(self) -> None:
        ws = self.ws
        rng = self.rng
        self.events.sort(key=lambda e: (e[0], e[1]))
        labels: dict[tuple[str, str], str] = {}

        def label_id(key: tuple[str, str]) -> str:
            if key not in labels:
                label = Label(ws.new_id(), key[1], key[0])
                ws.labels[label.id] = label
                labels[key] = label.id
            return labels[key]

        for _, _, obj in self.events:
            if isinstance(obj, _SpacePlan):
                space = obj.space
                space.id = ws.new_id()
                space.permissions = self.space_permissions(obj)
                space.label_ids = [label_id(k) for k in obj.label_keys]
                ws.spaces[space.id] = space
                if space.type == "personal":
                    ws.users[space.space_owner_id].personal_space_id = space.id
                continue
            node: _Node = obj
            item = node.item
            item.id = ("att" + ws.new_id()) if item.type == "attachment" else ws.new_id()
            item.space_id = node.plan.space.id
            if node.parent is not None:
                item.parent_id = node.parent.item.id
            if node.container is not None:
                item.container_id = node.container.item.id
            if node.reply_to is not None:
                item.parent_comment_id = node.reply_to.item.id
            if node.labels:
                item.label_ids = [label_id(k) for k in node.labels]
            for key, value in node.properties:
                item.properties.append(Property(ws.new_id(), key, value,
                                                Version(1, item.author_id, item.created_at)))
            if item.type in ("page", "blogpost"):
                item.body = self.body(node, rng)
                if node.keep_old_body:
                    item.versions[0].body = bodies.old_body(self.pools, rng)
            ws.add_content(item)
            if node is node.plan.homepage:
                node.plan.space.homepage_id = item.id

    def body(self, node: _Node, rng: random.Random) -> str:
        if node.body_kind == "empty":
            return ""
        if node.body_kind == "big":
            return bodies.big_body(self.pools, rng, _BIG_BODY_BYTES)
        plan = node.plan
        refs = BodyRefs(node.item.created_at.date().isoformat(), markers=node.markers, facts=list(node.facts))
        if rng.random() < 0.35 or node.everything:
            others = rng.sample(plan.pages, min(len(plan.pages), rng.randint(1, 3)))
            refs.links = [(o.item.title, plan.space.key) for o in others
                          if o is not node and o.item.type == "page"]
            if node.everything or rng.random() < 0.2:
                other = rng.choice(self.plans).homepage
                refs.links.append((other.item.title, other.plan.space.key))
        if rng.random() < 0.25 or node.everything:
            refs.mentions = rng.sample(plan.pool, min(len(plan.pool), 2))
        for att in node.attachments:
            if att.item.status != "current" or att.carries_fact:
                continue
            if att.item.media_type == "image/png":
                refs.images.append((att.item.title, *png_dimensions(att.item.file_size)))
            elif len(refs.files) < 2:
                refs.files.append(att.item.title)
        return bodies.content_body(self.pools, rng, refs, everything=node.everything,
                                   non_latin=rng.random() < 0.08)

    # -- audit log ----------------------------------------------------------------------------
    def make_audit(self) -> None:
        rng = self.rng
        ws = self.ws
        admin = self.users[0].account_id
        records: list[AuditRecord] = []

        def add(ms: int, author: str | None, summary: str, category: str, affected: tuple[str, str],
                associated: list[tuple[str, str]] | None = None,
                changed: list[tuple[str, str, str]] | None = None) -> None:
            address = "" if author is None else rng.choice(AUDIT_ADDRESSES) % rng.randint(1, 254)
            records.append(AuditRecord(self.dt(min(ms, self.now_ms)), author, summary, category,
                                       remote_address=address, affected_object=affected,
                                       associated_objects=associated or [], changed_values=changed or [],
                                       sys_admin=author == admin))

        for plan in self.plans:
            space = plan.space
            add(plan.ms, space.author_id, "Space created", "Spaces", (space.key, "Space"))
            for perm in space.permissions:
                if perm.key == "read" and perm.principal_type != "access-class":
                    name = (ws.groups[perm.principal_id].name if perm.principal_type == "group"
                            else ws.users[perm.principal_id].display_name)
                    add(plan.ms + rng.randint(1000, 600_000), space.author_id, "Space permission added",
                        "Permissions", (space.key, "Space"),
                        [(name, "Group" if perm.principal_type == "group" else "User")],
                        [("Permission", "", "VIEWSPACE")])
            if space.status == "archived":
                add(self.after(plan.ms, 0.5), admin, "Space archived", "Spaces", (space.key, "Space"))
        space_name = {p.space.id: p.space.name for p in self.plans}
        for node in self.pages + self.blogposts:
            item = node.item
            kind = {"page": "Page", "folder": "Folder", "blogpost": "Blog post"}[item.type]
            where = [(space_name[item.space_id], "Space")]
            if rng.random() < 0.15:
                add(node.ms, item.author_id, "%s created" % kind, "Pages", (item.title, kind), where)
            if len(item.versions) > 1 and rng.random() < 0.1:
                last = item.versions[-1]
                add((last.created_at - _EPOCH) // timedelta(milliseconds=1), last.author_id,
                    "%s updated" % kind, "Pages", (item.title, kind), where)
            if item.status == "trashed":
                add(self.recent(node.ms, 1.0), rng.choice(node.plan.pool), "%s moved to trash" % kind,
                    "Pages", (item.title, kind), where)
        for _ in range(max(2, self.scale // 500)):  # pages purged long ago: only the log remembers them
            plan = rng.choice(self.plans)
            title = "%s %s" % (rng.choice(bodies.THINGS).capitalize(), rng.choice(bodies.DOC_KINDS))
            add(self.after(plan.ms, 1.0), rng.choice(plan.pool), "Page deleted", "Pages", (title, "Page"),
                [(plan.space.name, "Space")])
        for node in self.restricted:
            item = node.item
            changed = [(op.capitalize(), "", ", ".join([ws.users[u].public_name for u in rule.user_ids]
                                                       + [ws.groups[g].name for g in rule.group_ids]))
                       for op, rule in item.restrictions.items()]
            add(self.after(node.ms, 2.0), item.author_id, "Content restrictions changed", "Permissions",
                (item.title, item.type.capitalize()), [(space_name[item.space_id], "Space")], changed)
        for group in ws.groups.values():
            created = self.start_ms + rng.randint(0, _DAY_MS)
            add(created, admin, "Group created", "Users and groups", (group.name, "Group"))
            members = sorted(ws.group_members[group.id])
            for account_id in rng.sample(members, min(len(members), 25)):
                author = None if rng.random() < 0.4 else admin
                add(self.after(created, 0.8), author, "User added to group", "Users and groups",
                    (group.name, "Group"), [(ws.users[account_id].public_name, "User")])
            if rng.random() < 0.3:
                leaver = rng.choice(self.users[3:])
                if leaver.account_id not in ws.group_members[group.id]:
                    add(self.recent(self.start_ms, 1.0), admin, "User removed from group", "Users and groups",
                        (group.name, "Group"), [(leaver.public_name, "User")])
        for user in self.users:
            if user.account_status == "inactive":
                add(self.recent(self.start_ms, 1.0), admin, "User deactivated", "Users and groups",
                    (user.public_name, "User"))
        records.sort(key=lambda r: r.creation_date)
        # no two records share a timestamp: (creationDate, summary, object, author) identifies one
        one_ms = timedelta(milliseconds=1)
        for previous, record in zip(records, records[1:]):
            if record.creation_date <= previous.creation_date:
                record.creation_date = previous.creation_date + one_ms
        ws.audit = records
