"""Blog posts, statuses and restrictions, attachments and comments."""

from __future__ import annotations

import math

from .. import bodies, words
from ..bodies import uuid_from
from ..files import ATTACHMENT_FACTS, MEDIA_TYPES, MIN_SIZES, fact_file_id
from ..model import Content, Restriction
from .base import GeneratorBase
from .plan import Node
from .vocabulary import ATTACHMENT_COMMENTS, CHAIN, DAY_MS


class Contents(GeneratorBase):
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
                              "the %s (%s)" % (rng.choice(words.THINGS), day))
            taken = titles.setdefault(id(plan), set())
            title, n = base, 2
            while title in taken:
                title = "%s %d" % (base, n)
                n += 1
            taken.add(title)
            count = rng.choice((1, 1, 1, 2, 3))
            item = Content("", "blogpost", "", "current", title, author, self.dt(ms),
                           self.versions(author, ms, plan.pool, count), owner_id=author)
            node = Node(item, ms, plan, everything=i == 0)
            self.decorate(node, count)
            if node.everything:
                node.body_kind = "normal"
            self.blogposts.append(node)
            self.event(ms, node)

    def plan_statuses(self) -> None:
        rng = self.rng
        has_children = {id(n.parent) for n in self.pages if n.parent is not None}
        protected = {id(p.homepage) for p in self.plans}
        leaves = [n for n in self.pages if id(n) not in has_children and id(n) not in protected
                  and not (n.plan.n_pages >= 12 and n in n.plan.pages[1:CHAIN + 1])]
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

    def restriction(self, node: Node, pattern: str) -> None:
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
                chain = plan.pages[1:CHAIN + 1]
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
        thing = rng.choice(words.THINGS)
        slug = thing.replace(" ", "-")
        pick = rng.randrange(4)
        if kind == "png":
            return ("image-%s.png" % stamp.strftime("%Y%m%d-%H%M%S"), "%s-diagram.png" % slug,
                    "Screenshot %s.png" % stamp.strftime("%Y-%m-%d at %H.%M.%S"), "logo.png")[pick]
        if kind == "pdf":
            return ("%s-%s.pdf" % (slug, rng.choice(words.DOC_KINDS).replace(" ", "-")),
                    "Invoice-%d-%04d.pdf" % (stamp.year, rng.randint(1, 9999)), "signed-contract.pdf",
                    "%s.pdf" % thing.capitalize())[pick]
        if kind == "docx":
            return ("%s %s.docx" % (thing.capitalize(), rng.choice(words.DOC_KINDS)),
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

    def new_attachment(self, container: Node, kind: str, fact_index: int | None = None) -> None:
        rng = self.rng
        plan = container.plan
        ms = min(container.ms + rng.randint(1000, 3 * DAY_MS), self.now_ms - rng.randint(0, 60_000))
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
        node = Node(item, ms, plan, container=container, carries_fact=fact_index is not None)
        if fact_index is None and rng.random() < 0.03:
            item.status, item.status_before_trash = "trashed", "current"
        if fact_index is not None:
            self.fact_targets.append((fact_index, node))
        if not container.attachments:
            container.attachments = []
        container.attachments.append(node)
        self.attachment_nodes.append(node)
        self.event(ms, node)

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
            footers: list[Node] = []
            inlines: list[Node] = []
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

    def new_comment(self, container: Node, ms: int, kind: str, reply_to: Node | None) -> Node:
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
        node = Node(item, ms, plan, container=container, reply_to=reply_to)
        self.comment_nodes.append(node)
        self.event(ms, node)
        return node

    def new_inline_comment(self, container: Node, ms: int, state: str) -> Node:
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
