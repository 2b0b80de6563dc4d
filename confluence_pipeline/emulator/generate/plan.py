"""The plan-time shapes: a space's plan and a content node before it has an id."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import Content, Space


@dataclass(slots=True, eq=False)
class SpacePlan:
    space: Space
    ms: int
    access: str  # open | group | anonymous | personal
    pool: list[str]  # account ids of the people who write in it
    n_pages: int
    group_id: str | None = None  # the one group of a group-only space
    readers: list[str] = field(default_factory=list)  # extra users with read only
    label_keys: list[tuple[str, str]] = field(default_factory=list)
    pages: list["Node"] = field(default_factory=list)
    homepage: "Node | None" = None


@dataclass(slots=True, eq=False)
class Node:
    """A content item before it has an id, with the plan-time links it needs."""

    item: Content
    ms: int
    plan: SpacePlan
    parent: "Node | None" = None
    container: "Node | None" = None
    reply_to: "Node | None" = None
    body_kind: str = "normal"  # normal | empty | big (pages and blog posts)
    everything: bool = False  # a showcase body with every construct
    keep_old_body: bool = False
    # the collections below start as a shared empty tuple (most items have none) and become a
    # list when something is added: 300,000 nodes with five empty lists each cost 80 MB
    labels: tuple | list[tuple[str, str]] = ()  # (prefix, name)
    properties: tuple | list[tuple[str, object]] = ()
    attachments: tuple | list["Node"] = ()
    inline_refs: tuple | list[str] = ()  # marker refs that stay in the body
    markers: str = ""
    facts: tuple | list[str] = ()
    carries_fact: bool = False  # an attachment whose file holds a planted fact
