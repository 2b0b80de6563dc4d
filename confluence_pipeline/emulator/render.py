"""Body representations rendered from the storage format, as Confluence renders them on demand.

The workspace keeps storage XHTML only; every other representation the specs list is derived
here: `view`, `export_view`, `styled_view` and `editor` as HTML, `atlas_doc_format` as an ADF
document (JSON text). The HTML follows Cloud's rendered markup for the common elements (macro
`div`s with `data-macro-name`, `confluence-information-macro` panels, `code panel` blocks, user
and page links, inline tasks, layouts); the ADF conversion maps paragraphs, headings, lists,
tables, marks, links, code blocks, panels, status lozenges, mentions, emoji, tasks, layouts and
images, and every other macro to an `extension` / `bodiedExtension` node as Confluence's own
conversion does. The differences from Cloud that remain are listed in deviations.py.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, Callable
from urllib.parse import quote

from lxml import etree

from ..text.storage import parse_storage

HTML_REPRESENTATIONS = ("view", "export_view", "styled_view", "editor", "anonymous_export_view")
RENDERED = (*HTML_REPRESENTATIONS, "atlas_doc_format")
STYLED_VIEW_HEAD = ("<html><head><style>body{font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,"
                    "sans-serif;font-size:14px;color:#172b4d}</style></head><body>")
PANEL_TYPES = {"info": "info", "note": "note", "warning": "warning", "tip": "success", "success": "success",
               "error": "error", "panel": "info"}
_INFO_CLASS = {"info": "information", "note": "note", "warning": "warning", "tip": "tip", "success": "tip",
               "error": "warning"}
_VOID = frozenset({"br", "hr", "img", "col"})
_MARKS = {"strong": "strong", "b": "strong", "em": "em", "i": "em", "u": "underline", "s": "strike",
          "del": "strike", "code": "code", "sub": "subsup", "sup": "subsup"}
_ADF_BLOCKS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre", "blockquote", "hr",
                         "div", "ac:structured-macro", "ac:task-list", "ac:layout", "ac:image"})

_SPACES = re.compile(r"\s+")

Names = Callable[[str], str]  # account id -> display name


def _tag(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    for uri, prefix in (("http://atlassian.com/content", "ac:"), ("http://atlassian.com/resource/identifier", "ri:"),
                        ("http://atlassian.com/template", "at:")):
        if tag.startswith("{" + uri + "}"):
            return prefix + tag[len(uri) + 2:]
    return tag.rsplit("}", 1)[-1].lower()


def _attr(el: etree._Element, name: str) -> str | None:
    prefix, _, local = name.partition(":")
    uri = {"ac": "http://atlassian.com/content", "ri": "http://atlassian.com/resource/identifier"}.get(prefix)
    if local and uri:
        return el.get(f"{{{uri}}}{local}", el.get(name))
    return el.get(name)


def _children(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _child(el: etree._Element, tag: str) -> etree._Element | None:
    return next((c for c in _children(el) if _tag(c) == tag), None)


def _params(macro: etree._Element) -> dict[str, str]:
    return {_attr(p, "ac:name") or "": "".join(p.itertext()) for p in _children(macro)
            if _tag(p) == "ac:parameter"}


def _esc(text: str | None) -> str:
    return html.escape(text or "", quote=False)


def _attrs(pairs: dict[str, str]) -> str:
    return "".join(f' {k}="{html.escape(v, quote=True)}"' for k, v in pairs.items())


class _Context:
    def __init__(self, content_id: str, site_base: str, names: Names, absolute: bool) -> None:
        self.content_id = content_id
        self.site_base = site_base  # https://site/wiki
        self.names = names
        self.prefix = site_base if absolute else site_base[site_base.find("/wiki"):] if "/wiki" in site_base else ""


# --------------------------------------------------------------------------------------------
# HTML


def render_html(storage: str, representation: str, *, content_id: str, site_base: str, names: Names) -> str:
    root = parse_storage(storage, [])
    ctx = _Context(content_id, site_base, names, absolute=representation in ("export_view", "anonymous_export_view"))
    inner = "" if root is None else _inner_html(root, ctx)
    if representation == "styled_view":
        return f"{STYLED_VIEW_HEAD}{inner}</body></html>"
    return inner


def _inner_html(el: etree._Element, ctx: _Context) -> str:
    parts = [_esc(el.text)]
    for child in el:
        if isinstance(child.tag, str):
            parts.append(_html(child, ctx))
        parts.append(_esc(child.tail))
    return "".join(parts)


def _html(el: etree._Element, ctx: _Context) -> str:
    tag = _tag(el)
    if tag == "ac:structured-macro" or tag == "ac:macro":
        return _macro_html(el, ctx)
    if tag == "ac:link":
        return _link_html(el, ctx)
    if tag == "ac:image":
        return _image_html(el, ctx)
    if tag == "ac:emoticon":
        name = _attr(el, "ac:name") or "smile"
        return f'<img class="emoticon emoticon-{_esc(name)}" alt="({_esc(name)})" border="0">'
    if tag == "ac:task-list":
        return f'<ul class="inline-task-list">{"".join(_html(c, ctx) for c in _children(el))}</ul>'
    if tag == "ac:task":
        status_el, id_el, body = _child(el, "ac:task-status"), _child(el, "ac:task-id"), _child(el, "ac:task-body")
        status = "".join(status_el.itertext()) if status_el is not None else ""
        task_id = "".join(id_el.itertext()).strip() if id_el is not None else ""
        cls = ' class="checked"' if status.strip() == "complete" else ""
        return f'<li data-inline-task-id="{_esc(task_id)}"{cls}>{_inner_html(body, ctx) if body is not None else ""}</li>'
    if tag == "ac:layout":
        return f'<div class="contentLayout2">{"".join(_html(c, ctx) for c in _children(el))}</div>'
    if tag == "ac:layout-section":
        kind = _attr(el, "ac:type") or "single"
        return f'<div class="columnLayout {_esc(kind)}" data-layout="{_esc(kind)}">{"".join(_html(c, ctx) for c in _children(el))}</div>'
    if tag == "ac:layout-cell":
        return f'<div class="cell normal" data-type="normal"><div class="innerCell">{_inner_html(el, ctx)}</div></div>'
    if tag == "ac:inline-comment-marker":
        return f'<span class="inline-comment-marker" data-ref="{_esc(_attr(el, "ac:ref"))}">{_inner_html(el, ctx)}</span>'
    if tag == "ac:adf-extension":
        fallback = _child(el, "ac:adf-fallback")
        return _inner_html(fallback, ctx) if fallback is not None else ""
    if tag in ("ac:placeholder", "ac:parameter", "ac:task-id", "ac:task-status"):
        return ""
    if tag.startswith(("ac:", "ri:", "at:")):
        return _inner_html(el, ctx)
    attrs = {k: v for k, v in el.attrib.items() if not k.startswith("{")}
    if tag in _VOID:
        return f"<{tag}{_attrs(attrs)} />"
    return f"<{tag}{_attrs(attrs)}>{_inner_html(el, ctx)}</{tag}>"


def _macro_html(el: etree._Element, ctx: _Context) -> str:
    name = _attr(el, "ac:name") or ""
    params = _params(el)
    macro_id = _attr(el, "ac:macro-id") or ""
    data = {"data-macro-name": name, "data-macro-id": macro_id} if macro_id else {"data-macro-name": name}
    rich = _child(el, "ac:rich-text-body")
    plain = _child(el, "ac:plain-text-body")
    if name in ("code", "noformat"):
        text = "".join(plain.itertext()) if plain is not None else ""
        brush = params.get("language", "java")
        return (f'<div class="code panel pdl conf-macro output-block"{_attrs(data)}>'
                f'<div class="codeContent panelContent pdl"><pre class="syntaxhighlighter-pre" '
                f'data-syntaxhighlighter-params="brush: {_esc(brush)}; gutter: false" data-theme="Confluence">'
                f"{_esc(text)}</pre></div></div>")
    if name in _INFO_CLASS or name == "panel":
        kind = _INFO_CLASS.get(name, "information")
        title = params.get("title")
        head = f'<p class="title">{_esc(title)}</p>' if title else ""
        body = _inner_html(rich, ctx) if rich is not None else ""
        return (f'<div class="confluence-information-macro confluence-information-macro-{kind} conf-macro '
                f'output-block"{_attrs(data)}>{head}<div class="confluence-information-macro-body">{body}</div></div>')
    if name == "status":
        colour = params.get("colour", "Grey").lower()
        return (f'<span class="status-macro aui-lozenge aui-lozenge-{_esc(colour)} conf-macro output-inline"'
                f'{_attrs(data)}>{_esc(params.get("title", "").upper())}</span>')
    body = _inner_html(rich, ctx) if rich is not None else _esc("".join(plain.itertext())) if plain is not None else ""
    return f'<div class="conf-macro output-block"{_attrs(data)}>{body}</div>'


def _link_target(el: etree._Element, ctx: _Context) -> tuple[str, str, dict[str, str]]:
    """(href, default text, extra attributes) of an `ac:link`."""
    for child in _children(el):
        tag = _tag(child)
        if tag == "ri:page":
            title = _attr(child, "ri:content-title") or ""
            space = _attr(child, "ri:space-key")
            path = f"/display/{quote(space)}/{quote(title)}" if space else f"/display/{quote(title)}"
            return f"{ctx.prefix}{path}", title, {}
        if tag == "ri:user":
            account = _attr(child, "ri:account-id") or _attr(child, "ri:userkey") or ""
            return (f"{ctx.prefix}/people/{quote(account)}", "@" + ctx.names(account),
                    {"class": "confluence-userlink user-mention", "data-account-id": account})
        if tag == "ri:attachment":
            filename = _attr(child, "ri:filename") or ""
            return f"{ctx.prefix}/download/attachments/{ctx.content_id}/{quote(filename)}", filename, {}
        if tag == "ri:url":
            value = _attr(child, "ri:value") or ""
            return value, value, {}
    anchor = _attr(el, "ac:anchor")
    return (f"#{anchor}", anchor, {}) if anchor else ("", "", {})


def _link_body(el: etree._Element) -> etree._Element | None:
    body = _child(el, "ac:link-body")
    return body if body is not None else _child(el, "ac:plain-text-link-body")


def _link_html(el: etree._Element, ctx: _Context) -> str:
    href, text, extra = _link_target(el, ctx)
    body = _link_body(el)
    inner = (_inner_html(body, ctx) if _tag(body) == "ac:link-body" else _esc("".join(body.itertext()))) \
        if body is not None else _esc(text)
    return f"<a{_attrs({'href': href, **extra})}>{inner}</a>"


def _image_html(el: etree._Element, ctx: _Context) -> str:
    attachment, url = _child(el, "ri:attachment"), _child(el, "ri:url")
    if attachment is not None:
        src = f"{ctx.prefix}/download/attachments/{ctx.content_id}/{quote(_attr(attachment, 'ri:filename') or '')}"
    else:
        src = _attr(url, "ri:value") or "" if url is not None else ""
    attrs = {"class": "confluence-embedded-image", "src": src}
    for name in ("height", "width", "alt"):
        value = _attr(el, f"ac:{name}")
        if value:
            attrs[name] = value
    return f'<span class="confluence-embedded-file-wrapper"><img{_attrs(attrs)} /></span>'


# --------------------------------------------------------------------------------------------
# ADF


def render_adf(storage: str, *, content_id: str, site_base: str, names: Names) -> str:
    """The storage body as an ADF document, serialized the way the APIs return it (a JSON string)."""
    root = parse_storage(storage, [])
    ctx = _Context(content_id, site_base, names, absolute=True)
    content = [] if root is None else _blocks(root, ctx)
    return json.dumps({"type": "doc", "content": content, "version": 1}, separators=(",", ":"), ensure_ascii=False)


def _blocks(el: etree._Element, ctx: _Context) -> list[dict[str, Any]]:
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
        tag = _tag(child)
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
    return (_attr(el, "ac:name") or "") != "status"


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
    text = _SPACES.sub(" ", text)
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = [dict(m) for m in marks]
    return [node]


def _raw_text(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}] if text else []


def _inline(el: etree._Element, ctx: _Context, marks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tag = _tag(el)
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
        href, text, extra = _link_target(el, ctx)
        if "data-account-id" in extra:
            account = extra["data-account-id"]
            return [{"type": "mention", "attrs": {"id": account, "text": text, "accessLevel": ""}}]
        body = _link_body(el)
        label = "".join(body.itertext()) if body is not None else text
        return _text(label or href, [*marks, {"type": "link", "attrs": {"href": href}}])
    if tag == "ac:emoticon":
        name = _attr(el, "ac:name") or "smile"
        return [{"type": "emoji", "attrs": {"shortName": f":{name}:", "text": _attr(el, "ac:emoji-fallback") or ""}}]
    if tag == "ac:structured-macro" and (_attr(el, "ac:name") or "") == "status":
        params = _params(el)
        return [{"type": "status", "attrs": {"text": params.get("title", ""),
                                             "color": params.get("colour", "neutral").lower(), "localId": ""}}]
    if tag in ("ac:placeholder", "ac:parameter", "ac:task-id", "ac:task-status"):
        return []
    out.extend(_text(el.text, marks))
    for child in _children_and_tails(el):
        out.extend(_text(child, marks) if isinstance(child, str) else _inline(child, ctx, marks))
    return out


def _inline_content(el: etree._Element, ctx: _Context) -> list[dict[str, Any]]:
    nodes = _text(el.text, [])
    for child in _children_and_tails(el):
        nodes.extend(_text(child, []) if isinstance(child, str) else _inline(child, ctx, []))
    return _trim(nodes)


def _with_content(node: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, Any]:
    if content:
        node["content"] = content
    return node


def _block(el: etree._Element, ctx: _Context) -> dict[str, Any] | list[dict[str, Any]] | None:
    tag = _tag(el)
    if tag == "p":
        return _with_content({"type": "paragraph"}, _inline_content(el, ctx))
    if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
        return _with_content({"type": "heading", "attrs": {"level": int(tag[1])}}, _inline_content(el, ctx))
    if tag in ("ul", "ol"):
        items = [{"type": "listItem", "content": _blocks(li, ctx) or [{"type": "paragraph"}]}
                 for li in _children(el) if _tag(li) == "li"]
        node: dict[str, Any] = {"type": "bulletList" if tag == "ul" else "orderedList"}
        if tag == "ol":
            node["attrs"] = {"order": 1}
        return _with_content(node, items)
    if tag == "table":
        rows = [r for r in el.iter() if isinstance(r.tag, str) and _tag(r) == "tr"]
        return {"type": "table", "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
                "content": [{"type": "tableRow", "content": [
                    {"type": "tableHeader" if _tag(c) == "th" else "tableCell", "attrs": {},
                     "content": _blocks(c, ctx) or [{"type": "paragraph"}]}
                    for c in _children(r) if _tag(c) in ("td", "th")]} for r in rows]}
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
        return {"type": "taskList", "attrs": {"localId": ""}, "content": [_task_adf(t, ctx) for t in _children(el)
                                                                          if _tag(t) == "ac:task"]}
    if tag == "ac:layout":
        return [{"type": "layoutSection", "content": [
            {"type": "layoutColumn", "attrs": {"width": round(100 / max(1, len(_children(section))), 2)},
             "content": _blocks(cell, ctx) or [{"type": "paragraph"}]} for cell in _children(section)]}
            for section in _children(el)]
    if tag == "ac:image":
        attachment = _child(el, "ri:attachment")
        filename = _attr(attachment, "ri:filename") if attachment is not None else None
        media: dict[str, Any] = {"type": "file", "collection": f"contentId-{ctx.content_id}",
                                 "id": filename or ""} if filename else {"type": "external",
                                                                          "url": _image_src(el)}
        return {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [{"type": "media", "attrs": media}]}
    return None


def _image_src(el: etree._Element) -> str:
    url = _child(el, "ri:url")
    return (_attr(url, "ri:value") or "") if url is not None else ""


def _task_adf(task: etree._Element, ctx: _Context) -> dict[str, Any]:
    status_el, id_el, body = _child(task, "ac:task-status"), _child(task, "ac:task-id"), _child(task, "ac:task-body")
    state = "DONE" if status_el is not None and "".join(status_el.itertext()).strip() == "complete" else "TODO"
    local_id = "".join(id_el.itertext()).strip() if id_el is not None else ""
    return _with_content({"type": "taskItem", "attrs": {"localId": local_id, "state": state}},
                         _inline_content(body, ctx) if body is not None else [])


def _macro_adf(el: etree._Element, ctx: _Context) -> dict[str, Any]:
    name = _attr(el, "ac:name") or ""
    params = _params(el)
    rich = _child(el, "ac:rich-text-body")
    plain = _child(el, "ac:plain-text-body")
    if name in ("code", "noformat"):
        attrs = {"language": params["language"]} if "language" in params else {}
        return _with_content({"type": "codeBlock", "attrs": attrs},
                             _raw_text("".join(plain.itertext()) if plain is not None else ""))
    if name in PANEL_TYPES and rich is not None:
        return {"type": "panel", "attrs": {"panelType": PANEL_TYPES[name]},
                "content": _blocks(rich, ctx) or [{"type": "paragraph"}]}
    macro_params = {k: {"value": v} for k, v in params.items() if k}
    attrs: dict[str, Any] = {"extensionType": "com.atlassian.confluence.macro.core", "extensionKey": name,
                             "parameters": {"macroParams": macro_params,
                                            "macroMetadata": {"macroId": {"value": _attr(el, "ac:macro-id") or ""},
                                                              "schemaVersion": {"value": "1"},
                                                              "title": name}},
                             "layout": "default", "localId": _attr(el, "ac:local-id") or ""}
    if rich is not None:
        return {"type": "bodiedExtension", "attrs": attrs, "content": _blocks(rich, ctx) or [{"type": "paragraph"}]}
    if plain is not None:
        attrs["text"] = "".join(plain.itertext())
    return {"type": "extension", "attrs": attrs}


def render(storage: str, representation: str, *, content_id: str, site_base: str, names: Names) -> str:
    """`storage` in `representation` (one of RENDERED, or storage itself)."""
    if representation == "atlas_doc_format":
        return render_adf(storage, content_id=content_id, site_base=site_base, names=names)
    if representation in HTML_REPRESENTATIONS:
        return render_html(storage, representation, content_id=content_id, site_base=site_base, names=names)
    return storage
