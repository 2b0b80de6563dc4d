"""The generator's state and shared helpers (times, versions)."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

from .. import bodies
from ..bodies import Pools
from ..model import Clock, Group, Site, User, Version
from ..workspace import Workspace
from .plan import Node, SpacePlan
from .vocabulary import DAY_MS, EPOCH, SPAN_DAYS, VERSION_MESSAGES


def derived_uuid(text: str) -> str:
    h = hashlib.sha256(text.encode()).hexdigest()
    return "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])


def unique_name(name: str, taken: set[str], numbered: str) -> str:
    """`name`, or the first of `numbered % (name, 2)`, `... 3` not yet in `taken`; then taken."""
    candidate, n = name, 2
    while candidate in taken:
        candidate = numbered % (name, n)
        n += 1
    taken.add(candidate)
    return candidate


class GeneratorBase:
    """The generator's state and the time helpers every part of it uses."""

    def __init__(self, seed: int, scale: int, admin_email: str, site_url: str, cloud_id: str | None,
                 now: datetime) -> None:
        self.seed = seed
        self.scale = scale
        self.rng = random.Random(seed)
        self.now_ms = (now - EPOCH) // timedelta(milliseconds=1)
        self.start_ms = self.now_ms - SPAN_DAYS * DAY_MS
        host = urlparse(site_url).hostname or "emulated.atlassian.net"
        site = Site(cloud_id or derived_uuid("cloud/%d" % seed), host.split(".")[0], site_url.rstrip("/"))
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
        self.plans: list[SpacePlan] = []
        self.pages: list[Node] = []  # pages and folders
        self.blogposts: list[Node] = []
        self.comment_nodes: list[Node] = []
        self.attachment_nodes: list[Node] = []
        self.restricted: list[Node] = []
        self.fact_targets: list[tuple[int, Node]] = []

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
