"""Workspace entities as Confluence Cloud v1 JSON (/wiki/rest/api), as real responses carry them.

Shapes follow the recordings in tests/recordings/real/ (REAL.md) where they exist and the
v1 OpenAPI document elsewhere:
- `_links.self` is absolute (`https://site/wiki/rest/api/...`); envelopes carry `_links.base`
  and `context: "/wiki"`; `_expandable` names what was not expanded, with a path or "".
- Space ids are JSON numbers. A group's `_links.self` points at /rest/experimental/group/{name}.
- A search result's `content` has only id, type, status, title, childTypes, macroRenderedOutput,
  restrictions ({}), _expandable and _links (nango-v1-search-cql-cursor.test.json), plus what
  `expand=content.*` asks for.
- An expanded `restrictions.<op>.restrictions.user|group` inside content is `{results, start: 0,
  limit: 200, size}` (airbyte record): principals beyond the first 200 are not listed there.
- Users never carry `timeZone` (no API reveals it, CONFCLOUD-69670) and carry `email: ""` when
  the user hides it; the caller always sees their own. `accountStatus` is sent, as recorded on
  `version.by` (text2confl-v1-content-create-response.json).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from .http import iso
from .model import Content, Group, Restriction, Space, User, Version
from .workspace import Workspace
from .render import RENDERED
from .serialize_v2 import (attachment_webui, comment_title, content_webui, download_link, render_body, storage_text,
                           tiny_link)

CONTEXT = "/wiki"
OPERATIONS = ("read", "update")  # the restriction operations content carries
EXPANDED_PRINCIPALS_LIMIT = 200
EXCERPT_CHARS = 300
BODY_REPRESENTATIONS = ("editor", "view", "export_view", "styled_view", "storage", "editor2",
                        "anonymous_export_view", "atlas_doc_format", "wiki", "dynamic", "raw")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Expand = dict[str, "Expand"]


def parse_expand(values: list[str]) -> Expand:
    """`["ancestors.restrictions.read", "version"]`
    -> `{"ancestors": {"restrictions": {"read": {}}}, "version": {}}`."""
    tree: Expand = {}
    for value in values:
        node = tree
        for step in value.split("."):
            if step:
                node = node.setdefault(step, {})
    return tree


def friendly_date(ts: datetime) -> str:
    """v1 `friendlyWhen`/`friendlyLastModified` in the en-US form real sites show: "Mar 19, 2026"."""
    ts = ts.astimezone(timezone.utc)
    return f"{_MONTHS[ts.month - 1]} {ts.day:02d}, {ts.year}"


def whole_seconds(ts: datetime) -> str:
    """v1 search `lastModified` is always whole seconds (REAL.md §2)."""
    return iso(ts.replace(microsecond=0))


def restrictions_hash(item: Content) -> str:
    """Changes exactly when the item's read or update restriction changes."""
    data = {op: {"user": sorted(rule.user_ids), "group": sorted(rule.group_ids)}
            for op, rule in sorted(item.restrictions.items()) if not rule.is_empty}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def excerpt(item: Content, mode: str) -> str:
    """The search excerpt: the start of the item's text, HTML-escaped unless `*_unescaped`."""
    if mode == "none":
        return ""
    text = item.attachment_comment if item.type == "attachment" else storage_text(item.body)
    text = text[:EXCERPT_CHARS]
    if mode.endswith("_unescaped"):
        return text
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


class V1Json:
    """The v1 serializers for one request: `base` is the site's `/wiki` URL for absolute links,
    `viewer_id` the caller (None: anonymous). Users are memoized, since a page of results names
    the same people over and over; `principals` counts the restriction principals emitted (for
    API points)."""

    def __init__(self, ws: Workspace, base: str, viewer_id: str | None) -> None:
        self.ws = ws
        self.base = base
        self.viewer_id = viewer_id
        self.principals = 0
        self._users: dict[str, dict[str, Any]] = {}

    # -- users and groups ------------------------------------------------------------------
    def user(self, account_id: str) -> dict[str, Any]:
        cached = self._users.get(account_id)
        if cached is None:
            user = self.ws.users.get(account_id)
            cached = self._user(user) if user is not None else self._unknown_user(account_id)
            self._users[account_id] = cached
        return cached

    def _user(self, user: User) -> dict[str, Any]:
        visible = user.email_visible or user.account_id == self.viewer_id
        return {
            "type": "known",
            "accountId": user.account_id,
            "accountType": user.account_type,
            "email": user.email if visible else "",
            "publicName": user.public_name,
            "profilePicture": {"path": f"/wiki/aa-avatar/{user.account_id}", "width": 48, "height": 48,
                               "isDefault": False},
            "displayName": user.display_name,
            "isExternalCollaborator": user.is_external_collaborator,
            "isGuest": user.is_external_collaborator,
            "accountStatus": user.account_status,
            "_expandable": {"operations": "", "personalSpace": ""},
            "_links": {"self": f"{self.base}/rest/api/user?accountId={user.account_id}"},
        }

    def _unknown_user(self, account_id: str) -> dict[str, Any]:
        """An account id the site no longer knows (a deleted user still named by content)."""
        return {
            "type": "unknown",
            "accountId": account_id,
            "accountType": "",
            "email": "",
            "publicName": "Unknown user",
            "profilePicture": {"path": "/wiki/aa-avatar/default.png", "width": 48, "height": 48,
                               "isDefault": True},
            "displayName": "Unknown user",
            "isExternalCollaborator": False,
            "isGuest": False,
            "_expandable": {"operations": "", "personalSpace": ""},
            "_links": {"self": f"{self.base}/rest/api/user?accountId={account_id}"},
        }

    def anonymous_user(self) -> dict[str, Any]:
        return {
            "type": "anonymous",
            "profilePicture": {"path": "/wiki/s/-1/_/images/icons/profilepics/anonymous.svg", "width": 48,
                               "height": 48, "isDefault": True},
            "displayName": "Anonymous",
            "isExternalCollaborator": False,
            "isGuest": False,
            "_expandable": {"operations": "", "personalSpace": ""},
            "_links": {"self": f"{self.base}/rest/api/user/anonymous"},
        }

    def group(self, group: Group) -> dict[str, Any]:
        return {"type": "group", "name": group.name, "id": group.id, "usageType": group.usage_type,
                "managedBy": group.managed_by,
                "_links": {"self": f"{self.base}/rest/experimental/group/{quote(group.name, safe='')}"}}

    # -- spaces ----------------------------------------------------------------------------
    def space(self, space: Space) -> dict[str, Any]:
        key = space.key
        expandable = {"settings": f"/rest/api/space/{key}/settings", "metadata": "", "operations": "",
                      "lookAndFeel": f"/rest/api/settings/lookandfeel?spaceKey={key}", "identifiers": "",
                      "permissions": "", "icon": "", "description": "",
                      "theme": f"/rest/api/space/{key}/theme", "history": ""}
        if space.homepage_id:
            expandable["homepage"] = f"/rest/api/content/{space.homepage_id}"
        return {"id": int(space.id), "key": key, "alias": key, "name": space.name, "type": space.type,
                "status": space.status, "_expandable": expandable,
                "_links": {"webui": f"/spaces/{key}", "self": f"{self.base}/rest/api/space/{key}"}}

    # -- content ---------------------------------------------------------------------------
    def content(self, item: Content, expand: Expand, *, search: bool = False) -> dict[str, Any]:
        """A v1 `Content`. `search=True` gives the slimmer object inside a /search result."""
        out: dict[str, Any] = {"id": item.id, "type": item.type, "status": item.status,
                               "title": self._title(item)}
        if search:
            out.update(childTypes={}, macroRenderedOutput={}, restrictions={})
            expandable = self._search_expandable(item)
        else:
            out["macroRenderedOutput"] = {}
            extensions = self._extensions(item)
            if extensions:
                out["extensions"] = extensions
            expandable = self._expandable(item)
        for name, sub in expand.items():
            value = self._expansion(item, name, sub)
            if value is not None:
                out[name] = value
                expandable.pop(name, None)
        out["_expandable"] = expandable
        out["_links"] = self._content_links(item, search=search)
        return out

    def _title(self, item: Content) -> str:
        return comment_title(self.ws, item) if item.type == "comment" else item.title

    def _space_path(self, item: Content) -> str:
        space = self.ws.spaces.get(item.space_id)
        return f"/rest/api/space/{space.key}" if space else ""

    def _expandable(self, item: Content) -> dict[str, str]:
        path = f"/rest/api/content/{item.id}"
        in_space = item.type in ("page", "blogpost", "folder")
        return {"childTypes": "",
                "container": self._space_path(item) if in_space else f"/rest/api/content/{item.container_id}",
                "metadata": "", "operations": "", "children": f"{path}/child",
                "restrictions": f"{path}/restriction/byOperation", "history": f"{path}/history",
                "ancestors": "", "body": "", "version": "", "descendants": f"{path}/descendant",
                "space": self._space_path(item), "schedulePublishDate": "", "schedulePublishInfo": ""}

    def _search_expandable(self, item: Content) -> dict[str, str]:
        return {"container": "", "metadata": "", "extensions": "", "operations": "", "children": "",
                "history": f"/rest/api/content/{item.id}/history", "ancestors": "", "body": "", "version": "",
                "descendants": "", "space": self._space_path(item)}

    def _extensions(self, item: Content) -> dict[str, Any]:
        if item.type in ("page", "folder"):
            return {"position": item.position}
        if item.type == "attachment":
            return {"mediaType": item.media_type, "fileSize": item.file_size,
                    "comment": item.attachment_comment, "fileId": item.file_id}
        if item.type == "comment":
            return {"location": item.comment_kind or "footer"}
        return {}

    def _webui(self, item: Content) -> str:
        if item.type == "attachment":
            return attachment_webui(item)
        if item.type == "comment":
            container = self.ws.container_of(item)
            return f"{content_webui(self.ws, container) if container else ''}?focusedCommentId={item.id}"
        return content_webui(self.ws, item)

    def _content_links(self, item: Content, *, search: bool) -> dict[str, str]:
        links = {"webui": self._webui(item), "self": f"{self.base}/rest/api/content/{item.id}",
                 "tinyui": tiny_link(item.numeric_id)}
        if not search and item.type in ("page", "blogpost"):
            links["editui"] = f"/pages/resumedraft.action?draftId={item.id}"
        if item.type == "attachment":
            links["download"] = download_link(item, item.version)
        return links

    def _expansion(self, item: Content, name: str, sub: Expand) -> Any:
        """The value of one expansion, or None for those the emulator does not expand (they
        stay in `_expandable`)."""
        if name == "space":
            space = self.ws.spaces.get(item.space_id)
            return self.space(space) if space else None
        if name == "version":
            return self.version(item, item.version)
        if name == "history":
            return self._history(item, sub)
        if name == "ancestors":
            above = self.ws.ancestors(item) if item.type in ("page", "folder") else []
            return [self.content(a, sub) for a in above]
        if name == "restrictions":
            return self._restrictions(item, sub)
        if name == "container":
            if item.type in ("page", "blogpost", "folder"):
                space = self.ws.spaces.get(item.space_id)
                return self.space(space) if space else None
            container = self.ws.container_of(item)
            return self.content(container, {}) if container else None
        if name == "body":
            return self._body(item, sub)
        if name == "extensions":
            return self._extensions(item)
        if name == "metadata":
            return self._metadata(item, sub)
        return None

    def _metadata(self, item: Content, sub: Expand) -> dict[str, Any] | None:
        """`expand=metadata.labels`: the item's labels as a LabelArray (how a sync reads labels
        of many items in one CQL call)."""
        out: dict[str, Any] = {}
        if item.type == "attachment":  # as text2confl-v1-attachment-upload-response.json shows it
            out.update(comment=item.attachment_comment or "", mediaType=item.media_type)
        if "labels" in sub:
            labels = [self.ws.labels[i] for i in item.label_ids if i in self.ws.labels]
            results = [{"prefix": label.prefix, "name": label.name, "id": label.id, "label": label.name}
                       for label in labels]
            out["labels"] = {"results": results, "start": 0, "limit": 200, "size": len(results),
                             "_links": {"self": f"{self.base}/rest/api/content/{item.id}/label"}}
        if not out:
            return None
        out["_expandable"] = {"currentuser": "", "comments": "", "simple": "", "properties": "", "frontend": "",
                              "likes": ""}
        return out

    def version(self, item: Content, version: Version) -> dict[str, Any]:
        return {
            "by": self.user(version.author_id),
            "when": iso(version.created_at),
            "friendlyWhen": friendly_date(version.created_at),
            "message": version.message,
            "number": version.number,
            "minorEdit": version.minor_edit,
            "confRev": f"confluence$content${item.numeric_id}.{version.number}",
            "contentTypeModified": False,
            "_expandable": {"collaborators": "", "content": f"/rest/api/content/{item.id}"},
            "_links": {"self": f"{self.base}/rest/api/content/{item.id}/version/{version.number}"},
        }

    def _history(self, item: Content, sub: Expand) -> dict[str, Any]:
        out: dict[str, Any] = {"latest": True, "createdBy": self.user(item.author_id),
                               "createdDate": iso(item.created_at)}
        expandable = {"lastUpdated": "", "previousVersion": "", "contributors": "", "nextVersion": "",
                      "ownedBy": "", "lastOwnedBy": ""}
        if "lastUpdated" in sub:
            out["lastUpdated"] = self.version(item, item.version)
            del expandable["lastUpdated"]
        if "ownedBy" in sub and item.owner_id:
            out["ownedBy"] = self.user(item.owner_id)
            del expandable["ownedBy"]
        out["_expandable"] = expandable
        out["_links"] = {"self": f"{self.base}/rest/api/content/{item.id}/history"}
        return out

    def _body(self, item: Content, sub: Expand) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for rep in BODY_REPRESENTATIONS:
            if rep in sub and (rep == "storage" or rep in RENDERED):
                value = render_body(item.body, rep, content_id=item.id, ws=self.ws)
                out[rep] = {"value": value, "representation": rep, "embeddedContent": [],
                            "_expandable": {"content": f"/rest/api/content/{item.id}"}}
        out["_expandable"] = {rep: "" for rep in BODY_REPRESENTATIONS if rep not in out}
        return out

    # -- restrictions ----------------------------------------------------------------------
    def _restrictions(self, item: Content, sub: Expand) -> dict[str, Any]:
        """`content.restrictions` as expanded through `restrictions.<op>.restrictions.user|group`."""
        out: dict[str, Any] = {}
        unexpanded: dict[str, str] = {}
        for op in OPERATIONS:
            if op in sub:
                kinds = sub[op].get("restrictions", {})
                out[op] = self.restriction(item, op, users="user" in kinds, groups="group" in kinds,
                                           start=0, limit=EXPANDED_PRINCIPALS_LIMIT,
                                           with_content="content" in sub[op])
            else:
                unexpanded[op] = ""
        if unexpanded:
            out["_expandable"] = unexpanded
        out["_links"] = {"self": f"{self.base}/rest/api/content/{item.id}/restriction/byOperation"}
        return out

    def restriction(self, item: Content, op: str, *, users: bool, groups: bool, start: int, limit: int,
                    with_content: bool = False) -> dict[str, Any]:
        """A `ContentRestriction`; `start`/`limit` page the users and the groups separately."""
        rule = item.restrictions.get(op) or Restriction()
        lists: dict[str, Any] = {}
        unexpanded: dict[str, str] = {}
        known_groups = [self.ws.groups[g] for g in rule.group_ids if g in self.ws.groups]
        for kind, expanded, principals, to_json in (("user", users, rule.user_ids, self.user),
                                                    ("group", groups, known_groups, self.group)):
            if not expanded:
                unexpanded[kind] = ""
                continue
            page = principals[start:start + limit]
            lists[kind] = {"results": [to_json(p) for p in page], "start": start, "limit": limit,
                           "size": len(page)}
            self.principals += len(page)
        if unexpanded:
            lists["_expandable"] = unexpanded
        out: dict[str, Any] = {"operation": op, "restrictions": lists}
        if with_content:
            out["content"] = self.content(item, {})
            out["_expandable"] = {}
        else:
            out["_expandable"] = {"content": f"/rest/api/content/{item.id}"}
        out["_links"] = {"self": f"{self.base}/rest/api/content/{item.id}/restriction/byOperation/{op}"}
        return out

    # -- search results --------------------------------------------------------------------
    def search_result(self, item: Content, content_expand: Expand, excerpt_mode: str) -> dict[str, Any]:
        """One item of `GET /wiki/rest/api/search`."""
        space = self.ws.spaces.get(item.space_id)
        out: dict[str, Any] = {
            "content": self.content(item, content_expand, search=True),
            "title": self._title(item),
            "excerpt": excerpt(item, excerpt_mode),
            "url": self._webui(item),
            "resultGlobalContainer": {"title": space.name if space else "",
                                      "displayUrl": f"/spaces/{space.key}" if space else ""},
        }
        container = self.ws.container_of(item) if item.type in ("comment", "attachment") else None
        if container is not None:
            out["resultParentContainer"] = {"title": container.title,
                                            "displayUrl": content_webui(self.ws, container)}
        out.update(breadcrumbs=[], entityType="content", iconCssClass=f"aui-icon content-type-{item.type}",
                   lastModified=whole_seconds(item.modified_at),
                   friendlyLastModified=friendly_date(item.modified_at), score=0)
        return out
