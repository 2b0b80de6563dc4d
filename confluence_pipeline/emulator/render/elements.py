"""What both renderings share: reading storage-format elements, links, and the render context."""

from __future__ import annotations

import html
import re
from typing import Callable
from urllib.parse import quote

from lxml import etree

HTML_REPRESENTATIONS = ("view", "export_view", "styled_view", "editor", "anonymous_export_view")
RENDERED = (*HTML_REPRESENTATIONS, "atlas_doc_format")
PANEL_TYPES = {"info": "info", "note": "note", "warning": "warning", "tip": "success", "success": "success",
               "error": "error", "panel": "info"}
SPACES = re.compile(r"\s+")

Names = Callable[[str], str]  # account id -> display name


def tag_of(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    for uri, prefix in (("http://atlassian.com/content", "ac:"), ("http://atlassian.com/resource/identifier", "ri:"),
                        ("http://atlassian.com/template", "at:")):
        if tag.startswith("{" + uri + "}"):
            return prefix + tag[len(uri) + 2:]
    return tag.rsplit("}", 1)[-1].lower()


def attr_of(el: etree._Element, name: str) -> str | None:
    prefix, _, local = name.partition(":")
    uri = {"ac": "http://atlassian.com/content", "ri": "http://atlassian.com/resource/identifier"}.get(prefix)
    if local and uri:
        return el.get(f"{{{uri}}}{local}", el.get(name))
    return el.get(name)


def children_of(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def child_of(el: etree._Element, tag: str) -> etree._Element | None:
    return next((c for c in children_of(el) if tag_of(c) == tag), None)


def macro_params(macro: etree._Element) -> dict[str, str]:
    return {attr_of(p, "ac:name") or "": "".join(p.itertext()) for p in children_of(macro)
            if tag_of(p) == "ac:parameter"}


def esc(text: str | None) -> str:
    return html.escape(text or "", quote=False)


def attrs_html(pairs: dict[str, str]) -> str:
    return "".join(f' {k}="{html.escape(v, quote=True)}"' for k, v in pairs.items())


class Context:
    def __init__(self, content_id: str, site_base: str, names: Names, absolute: bool) -> None:
        self.content_id = content_id
        self.site_base = site_base  # https://site/wiki
        self.names = names
        self.prefix = site_base if absolute else site_base[site_base.find("/wiki"):] if "/wiki" in site_base else ""


def link_target(el: etree._Element, ctx: Context) -> tuple[str, str, dict[str, str]]:
    """(href, default text, extra attributes) of an `ac:link`."""
    for child in children_of(el):
        tag = tag_of(child)
        if tag == "ri:page":
            title = attr_of(child, "ri:content-title") or ""
            space = attr_of(child, "ri:space-key")
            path = f"/display/{quote(space)}/{quote(title)}" if space else f"/display/{quote(title)}"
            return f"{ctx.prefix}{path}", title, {}
        if tag == "ri:user":
            account = attr_of(child, "ri:account-id") or attr_of(child, "ri:userkey") or ""
            return (f"{ctx.prefix}/people/{quote(account)}", "@" + ctx.names(account),
                    {"class": "confluence-userlink user-mention", "data-account-id": account})
        if tag == "ri:attachment":
            filename = attr_of(child, "ri:filename") or ""
            return f"{ctx.prefix}/download/attachments/{ctx.content_id}/{quote(filename)}", filename, {}
        if tag == "ri:url":
            value = attr_of(child, "ri:value") or ""
            return value, value, {}
    anchor = attr_of(el, "ac:anchor")
    return (f"#{anchor}", anchor, {}) if anchor else ("", "", {})


def link_body(el: etree._Element) -> etree._Element | None:
    body = child_of(el, "ac:link-body")
    return body if body is not None else child_of(el, "ac:plain-text-link-body")
