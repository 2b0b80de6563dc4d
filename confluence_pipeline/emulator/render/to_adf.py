"""Storage format to an Atlassian Document Format document (atlas_doc_format)."""

from __future__ import annotations

import json
from typing import Any

from lxml import etree

from ...text.xhtml import parse_storage
from .elements import (PANEL_TYPES, SPACES, Context, Names, attr_of, child_of, children_of, link_body,
                       link_target, macro_params, tag_of)

_MARKS = {"strong": "strong", "b": "strong", "em": "em", "i": "em", "u": "underline", "s": "strike",
          "del": "strike", "code": "code", "sub": "subsup", "sup": "subsup"}
_ADF_BLOCKS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre", "blockquote", "hr",
                         "div", "ac:structured-macro", "ac:task-list", "ac:layout", "ac:image"})





def render_adf(storage: str, *, content_id: str, site_base: str, names: Names) -> str:
    """The storage body as an ADF document, serialized the way the APIs return it (a JSON string)."""
    root = parse_storage(storage, [])
    ctx = Context(content_id, site_base, names, absolute=True)
    content = [] if root is None else _blocks(root, ctx)
    return json.dumps({"type": "doc", "content": content, "version": 1}, separators=(",", ":"), ensure_ascii=False)


def _blocks(el: etree._Element, ctx: Context) -> list[dict[str, Any]]:
    """The block nodes of `el`'s content; loose inline content is gathered into paragraphs."""
    out: list[dict[str, Any]] = []
    loose: list[dict[str, Any]] = []

    def flush() -> None:
        if any(n.get("type") != "text" or n.get("text", "").strip() for n in loose):
            out.append({"type": "paragraph", "content": _trim(loose)})
        loose.clear()

    loose.extend(_text(el.text, []))
    for child in _children_and_tails(el):
        if isinstance(child, str):
            loose.extend(_text(child, []))
            continue
        tag = tag_of(child)
        if tag in _ADF_BLOCKS or (tag == "ac:structured-macro" and _is_block_macro(child)):
            block = _block(child, ctx)
            if block is not None:
                flush()
                out.extend(block if isinstance(block, list) else [block])
                continue
        loose.extend(_inline(child, ctx, []))
    flush()
    return out


def _children_and_tails(el: etree._Element) -> list[etree._Element | str]:
    items: list[etree._Element | str] = []
    for child in el:
        if isinstance(child.tag, str):
            items.append(child)
        if child.tail:
            items.append(child.tail)
    return items


def _is_block_macro(el: etree._Element) -> bool:
    return (attr_of(el, "ac:name") or "") != "status"


def _trim(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without the whitespace at the edges of a block; no empty text nodes (ADF forbids them)."""
    nodes = [dict(n) for n in nodes]
    if nodes and nodes[0].get("type") == "text":
        nodes[0]["text"] = nodes[0]["text"].lstrip()
    if nodes and nodes[-1].get("type") == "text":
        nodes[-1]["text"] = nodes[-1]["text"].rstrip()
    return [n for n in nodes if n.get("type") != "text" or n.get("text")]


def _text(text: str | None, marks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not text:
        return []
    text = SPACES.sub(" ", text)
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = [dict(m) for m in marks]
    return [node]


def _raw_text(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}] if text else []


def _inline(el: etree._Element, ctx: Context, marks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tag = tag_of(el)
    out: list[dict[str, Any]] = []
    if tag in _MARKS:
        mark: dict[str, Any] = {"type": _MARKS[tag]}
        if tag in ("sub", "sup"):
            mark["attrs"] = {"type": tag}
        inner = [*marks, mark]
        out.extend(_text(el.text, inner))
        for child in _children_and_tails(el):
            out.extend(_text(child, inner) if isinstance(child, str) else _inline(child, ctx, inner))
        return out
    if tag == "a":
        inner = [*marks, {"type": "link", "attrs": {"href": el.get("href") or ""}}]
        return _text("".join(el.itertext()), inner)
    if tag == "br":
        return [{"type": "hardBreak"}]
    if tag == "ac:link":
        href, text, extra = link_target(el, ctx)
        if "data-account-id" in extra:
            account = extra["data-account-id"]
            return [{"type": "mention", "attrs": {"id": account, "text": text, "accessLevel": ""}}]
        body = link_body(el)
        label = "".join(body.itertext()) if body is not None else text
        return _text(label or href, [*marks, {"type": "link", "attrs": {"href": href}}])
    if tag == "ac:emoticon":
        name = attr_of(el, "ac:name") or "smile"
        return [{"type": "emoji", "attrs": {"shortName": f":{name}:", "text": attr_of(el, "ac:emoji-fallback") or ""}}]
    if tag == "ac:structured-macro" and (attr_of(el, "ac:name") or "") == "status":
        params = macro_params(el)
        return [{"type": "status", "attrs": {"text": params.get("title", ""),
                                             "color": params.get("colour", "neutral").lower(), "localId": ""}}]
    if tag in ("ac:placeholder", "ac:parameter", "ac:task-id", "ac:task-status"):
        return []
    out.extend(_text(el.text, marks))
    for child in _children_and_tails(el):
        out.extend(_text(child, marks) if isinstance(child, str) else _inline(child, ctx, marks))
    return out


def _inline_content(el: etree._Element, ctx: Context) -> list[dict[str, Any]]:
    nodes = _text(el.text, [])
    for child in _children_and_tails(el):
        nodes.extend(_text(child, []) if isinstance(child, str) else _inline(child, ctx, []))
    return _trim(nodes)


def _with_content(node: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, Any]:
    if content:
        node["content"] = content
    return node


def _block(el: etree._Element, ctx: Context) -> dict[str, Any] | list[dict[str, Any]] | None:
    tag = tag_of(el)
    if tag == "p":
        return _with_content({"type": "paragraph"}, _inline_content(el, ctx))
    if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
        return _with_content({"type": "heading", "attrs": {"level": int(tag[1])}}, _inline_content(el, ctx))
    if tag in ("ul", "ol"):
        items = [{"type": "listItem", "content": _blocks(li, ctx) or [{"type": "paragraph"}]}
                 for li in children_of(el) if tag_of(li) == "li"]
        node: dict[str, Any] = {"type": "bulletList" if tag == "ul" else "orderedList"}
        if tag == "ol":
            node["attrs"] = {"order": 1}
        return _with_content(node, items)
    if tag == "table":
        rows = [r for r in el.iter() if isinstance(r.tag, str) and tag_of(r) == "tr"]
        return {"type": "table", "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
                "content": [{"type": "tableRow", "content": [
                    {"type": "tableHeader" if tag_of(c) == "th" else "tableCell", "attrs": {},
                     "content": _blocks(c, ctx) or [{"type": "paragraph"}]}
                    for c in children_of(r) if tag_of(c) in ("td", "th")]} for r in rows]}
    if tag == "pre":
        return _with_content({"type": "codeBlock", "attrs": {}}, _raw_text("".join(el.itertext())))
    if tag == "blockquote":
        return _with_content({"type": "blockquote"}, _blocks(el, ctx))
    if tag == "hr":
        return {"type": "rule"}
    if tag == "div":
        return _blocks(el, ctx)
    if tag == "ac:structured-macro":
        return _macro_adf(el, ctx)
    if tag == "ac:task-list":
        return {"type": "taskList", "attrs": {"localId": ""}, "content": [_task_adf(t, ctx) for t in children_of(el)
                                                                          if tag_of(t) == "ac:task"]}
    if tag == "ac:layout":
        return [{"type": "layoutSection", "content": [
            {"type": "layoutColumn", "attrs": {"width": round(100 / max(1, len(children_of(section))), 2)},
             "content": _blocks(cell, ctx) or [{"type": "paragraph"}]} for cell in children_of(section)]}
            for section in children_of(el)]
    if tag == "ac:image":
        attachment = child_of(el, "ri:attachment")
        filename = attr_of(attachment, "ri:filename") if attachment is not None else None
        media: dict[str, Any] = {"type": "file", "collection": f"contentId-{ctx.content_id}",
                                 "id": filename or ""} if filename else {"type": "external",
                                                                          "url": _image_src(el)}
        return {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [{"type": "media", "attrs": media}]}
    return None


def _image_src(el: etree._Element) -> str:
    url = child_of(el, "ri:url")
    return (attr_of(url, "ri:value") or "") if url is not None else ""


def _task_adf(task: etree._Element, ctx: Context) -> dict[str, Any]:
    status_el, id_el, body = child_of(task, "ac:task-status"), child_of(task, "ac:task-id"), child_of(task, "ac:task-body")
    state = "DONE" if status_el is not None and "".join(status_el.itertext()).strip() == "complete" else "TODO"
    local_id = "".join(id_el.itertext()).strip() if id_el is not None else ""
    return _with_content({"type": "taskItem", "attrs": {"localId": local_id, "state": state}},
                         _inline_content(body, ctx) if body is not None else [])


def _macro_adf(el: etree._Element, ctx: Context) -> dict[str, Any]:
    name = attr_of(el, "ac:name") or ""
    params = macro_params(el)
    rich = child_of(el, "ac:rich-text-body")
    plain = child_of(el, "ac:plain-text-body")
    if name in ("code", "noformat"):
        attrs = {"language": params["language"]} if "language" in params else {}
        return _with_content({"type": "codeBlock", "attrs": attrs},
                             _raw_text("".join(plain.itertext()) if plain is not None else ""))
    if name in PANEL_TYPES and rich is not None:
        return {"type": "panel", "attrs": {"panelType": PANEL_TYPES[name]},
                "content": _blocks(rich, ctx) or [{"type": "paragraph"}]}
    values = {k: {"value": v} for k, v in params.items() if k}
    attrs: dict[str, Any] = {"extensionType": "com.atlassian.confluence.macro.core", "extensionKey": name,
                             "parameters": {"macroParams": values,
                                            "macroMetadata": {"macroId": {"value": attr_of(el, "ac:macro-id") or ""},
                                                              "schemaVersion": {"value": "1"},
                                                              "title": name}},
                             "layout": "default", "localId": attr_of(el, "ac:local-id") or ""}
    if rich is not None:
        return {"type": "bodiedExtension", "attrs": attrs, "content": _blocks(rich, ctx) or [{"type": "paragraph"}]}
    if plain is not None:
        attrs["text"] = "".join(plain.itertext())
    return {"type": "extension", "attrs": attrs}
