"""Users, groups and the audit log."""

from __future__ import annotations

from datetime import timedelta

from .. import words
from ..bodies import uuid_from
from ..model import AuditRecord, Group, User
from .base import GeneratorBase
from .vocabulary import (APP_USERS, AUDIT_ADDRESSES, DAY_MS, EPOCH, FIRST_NAMES, LAST_NAMES, NON_LATIN_NAMES,
                         TEAM_GROUP_PREFIXES, TEAM_GROUP_SUFFIXES, TIME_ZONES)


class People(GeneratorBase):
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
                add((last.created_at - EPOCH) // timedelta(milliseconds=1), last.author_id,
                    "%s updated" % kind, "Pages", (item.title, kind), where)
            if item.status == "trashed":
                add(self.recent(node.ms, 1.0), rng.choice(node.plan.pool), "%s moved to trash" % kind,
                    "Pages", (item.title, kind), where)
        for _ in range(max(2, self.scale // 500)):  # pages purged long ago: only the log remembers them
            plan = rng.choice(self.plans)
            title = "%s %s" % (rng.choice(words.THINGS).capitalize(), rng.choice(words.DOC_KINDS))
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
            created = self.start_ms + rng.randint(0, DAY_MS)
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
