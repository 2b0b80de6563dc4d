"""The generator's whole run: the plan, planted facts and recent edits, then the second pass that
gives ids, bodies and indexes."""

from __future__ import annotations

import gc
import random
from datetime import datetime, timedelta, timezone

from .. import bodies, words
from ..bodies import BodyRefs
from ..files import ATTACHMENT_FACTS, png_dimensions
from ..model import Label, Property, Version
from ..workspace import Workspace
from .content import Contents
from .people import People
from .plan import Node, SpacePlan
from .spaces import Spaces
from .vocabulary import BIG_BODY_BYTES, DAY_MS, EPOCH, MIN_SCALE, VERSION_MESSAGES


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


class _Generator(People, Spaces, Contents):
    """Plans the whole site, then materializes it in creation order."""

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
        self.ws.planted_facts = [(words.planted_facts(self.seed)[i][0], node.item.id)
                                 for i, node in sorted(self.fact_targets, key=lambda t: t[0])]
        return self.ws

    def plan_facts(self) -> None:
        rng = self.rng
        eligible = [n for n in self.pages + self.blogposts
                    if n.item.type != "folder" and n.item.status == "current" and n.body_kind == "normal"
                    and n.plan.space.status == "current"]
        facts = words.planted_facts(self.seed)
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
            ms = max(self.now_ms - rng.randint(60_000, DAY_MS - 60_000),
                     (versions[-1].created_at - EPOCH) // timedelta(milliseconds=1) + 1)
            if ms <= self.now_ms:
                versions.append(Version(len(versions) + 1, rng.choice(node.plan.pool), self.dt(ms),
                                        rng.choice(VERSION_MESSAGES), False))

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
            if isinstance(obj, SpacePlan):
                space = obj.space
                space.id = ws.new_id()
                space.permissions = self.space_permissions(obj)
                space.label_ids = [label_id(k) for k in obj.label_keys]
                ws.spaces[space.id] = space
                if space.type == "personal":
                    ws.users[space.space_owner_id].personal_space_id = space.id
                continue
            node: Node = obj
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

    def body(self, node: Node, rng: random.Random) -> str:
        if node.body_kind == "empty":
            return ""
        if node.body_kind == "big":
            return bodies.big_body(self.pools, rng, BIG_BODY_BYTES)
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
