"""Spaces, their permissions and their page trees (with folders)."""

from __future__ import annotations

from .. import words
from ..model import Content, Space, SpacePermission
from .base import GeneratorBase, unique_name
from .plan import Node, SpacePlan
from .vocabulary import (ADMIN_OPERATIONS, CHAIN, CHAIN_FOLDER, DAY_MS, LABEL_NAMES, MEMBER_OPERATIONS,
                         OWNER_OPERATIONS, READER_OPERATIONS, SPACE_NAMES, SPAN_DAYS)


class Spaces(GeneratorBase):
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
                (SPAN_DAYS - 30) * DAY_MS * rng.random() ** 1.5)
            self.add_space_plan(key, name, "global", "archived" if i >= n_current else "current",
                                accesses[i], created, counts[i])
        for i in range(n_kb):
            name = "Knowledge Base" if i == 0 else "Knowledge Base %d" % (i + 1)
            created = self.start_ms + int(SPAN_DAYS * DAY_MS * (0.3 + 0.4 * rng.random()))
            self.add_space_plan(self.space_key(name, keys), name, "knowledge_base", "current", "open",
                                created, kb_pages[i])
        for owner, n_pages in zip(personal_owners, personal_pages):
            created = self.start_ms + int(SPAN_DAYS * DAY_MS * rng.random())
            key = "~" + owner.account_id.replace(":", "").replace("-", "")
            self.add_space_plan(key, owner.display_name, "personal", "current", "personal", created,
                                n_pages, owner=owner.account_id)

    def space_key(self, name: str, taken: set[str]) -> str:
        words = [w for w in name.upper().split() if w.isalpha()]
        key = "".join(w[0] for w in words) if len(words) > 1 else words[0][:4]
        return unique_name(key, taken, "%s%d")

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
        plan = SpacePlan(space, created, access, pool, n_pages, group_id, readers)
        if not self.plans:  # the main space is starred and a team space, like the recorded one
            plan.label_keys = [("my", "favourite"), ("team", "teams")]
        elif rng.random() < 0.15:
            choices = [("global", "documentation"), ("my", "favourite"), ("team", "teams")]
            plan.label_keys = rng.sample(choices, 2)
        self.plans.append(plan)
        self.event(created, plan)

    def space_permissions(self, plan: SpacePlan) -> list[SpacePermission]:
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

    def page_title(self, created_ms: int, taken: set[str], folder: bool = False) -> str:
        rng = self.rng
        r = rng.random()
        if folder:
            title = rng.choice(words.FOLDER_NAMES)
        elif r < 0.04:
            title = rng.choice(words.NON_LATIN_TITLES)
        elif r < 0.12:
            title = "Meeting notes %s" % self.dt(created_ms).strftime("%Y-%m-%d")
        elif r < 0.2:
            title = "ADR-%03d: %s the %s" % (rng.randint(1, 400), rng.choice(words.VERBS).capitalize(),
                                             rng.choice(words.THINGS))
        elif r < 0.6:
            title = "%s %s" % (rng.choice(words.THINGS).capitalize(), rng.choice(words.DOC_KINDS))
        elif r < 0.8:
            title = "%s: %s" % (rng.choice(words.THINGS).capitalize(), rng.choice(words.HEADINGS).lower())
        else:
            title = "%s team %s" % (rng.choice(words.TEAMS).capitalize(), rng.choice(words.DOC_KINDS))
        return unique_name(title, taken, "%s %d")

    def plan_tree(self, plan: SpacePlan) -> None:
        rng = self.rng
        n = plan.n_pages
        chain = n >= 12
        n_folders = (n // 25 + 1) if chain else 0
        kinds = ["page"] * (n - 1) + ["folder"] * n_folders
        head = []
        if chain:
            head = ["page"] * CHAIN
            head[CHAIN_FOLDER] = "folder"
            for k in head:
                kinds.remove(k)
        rng.shuffle(kinds)
        kinds = head + kinds
        home_ms = plan.ms + rng.randint(1000, 5000)
        times = self.increasing([self.recent(home_ms, 1.6) for _ in kinds], home_ms)
        titles: set[str] = set()
        nodes: list[Node] = []
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

    def new_tree_node(self, plan: SpacePlan, kind: str, ms: int, parent: Node | None, title: str | None,
                      position: int, titles: set[str]) -> Node:
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
        node = Node(item, ms, plan, parent=parent)
        if kind == "page":
            self.decorate(node, count)
        self.pages.append(node)
        plan.pages.append(node)
        self.event(ms, node)
        return node

    def decorate(self, node: Node, version_count: int) -> None:
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
