"""Storage format to Cloud's rendered HTML (view, export_view, styled_view, editor)."""

from __future__ import annotations

from typing import Callable
from urllib.parse import quote

from lxml import etree

from ...text.xhtml import parse_storage
from .elements import (Context, Names, attr_of, attrs_html, child_of, children_of, esc, link_body,
                       link_target, macro_params, tag_of)

STYLED_VIEW_HEAD = ("<html><head><style>body{font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,"
                    "sans-serif;font-size:14px;color:#172b4d}</style></head><body>")
_INFO_CLASS = {"info": "information", "note": "note", "warning": "warning", "tip": "tip", "success": "tip",
               "error": "warning"}
_VOID = frozenset({"br", "hr", "img", "col"})




def render_html(storage: str, representation: str, *, content_id: str, site_base: str, names: Names) -> str:
    root = parse_storage(storage, [])
    ctx = Context(content_id, site_base, names, absolute=representation in ("export_view", "anonymous_export_view"))
    inner = "" if root is None else _inner_html(root, ctx)
    if representation == "styled_view":
        return f"{STYLED_VIEW_HEAD}{inner}</body></html>"
    return inner


def _inner_html(el: etree._Element, ctx: Context) -> str:
    parts = [esc(el.text)]
    for child in el:
        if isinstance(child.tag, str):
            parts.append(_html(child, ctx))
        parts.append(esc(child.tail))
    return "".join(parts)


def _html(el: etree._Element, ctx: Context) -> str:
    tag = tag_of(el)
    handler = _CONFLUENCE_ELEMENTS.get(tag)
    if handler is not None:
        return handler(el, ctx)
    if tag.startswith(("ac:", "ri:", "at:")):
        return _inner_html(el, ctx)
    attrs = {k: v for k, v in el.attrib.items() if not k.startswith("{")}
    if tag in _VOID:
        return f"<{tag}{attrs_html(attrs)} />"
    return f"<{tag}{attrs_html(attrs)}>{_inner_html(el, ctx)}</{tag}>"


def _children_html(el: etree._Element, ctx: Context) -> str:
    return "".join(_html(c, ctx) for c in children_of(el))


def _emoticon_html(el: etree._Element, ctx: Context) -> str:
    name = attr_of(el, "ac:name") or "smile"
    return f'<img class="emoticon emoticon-{esc(name)}" alt="({esc(name)})" border="0">'


def _task_html(el: etree._Element, ctx: Context) -> str:
    status_el, id_el, body = child_of(el, "ac:task-status"), child_of(el, "ac:task-id"), child_of(el, "ac:task-body")
    status = "".join(status_el.itertext()) if status_el is not None else ""
    task_id = "".join(id_el.itertext()).strip() if id_el is not None else ""
    cls = ' class="checked"' if status.strip() == "complete" else ""
    return f'<li data-inline-task-id="{esc(task_id)}"{cls}>{_inner_html(body, ctx) if body is not None else ""}</li>'


def _layout_section_html(el: etree._Element, ctx: Context) -> str:
    kind = attr_of(el, "ac:type") or "single"
    return f'<div class="columnLayout {esc(kind)}" data-layout="{esc(kind)}">{_children_html(el, ctx)}</div>'


def _adf_extension_html(el: etree._Element, ctx: Context) -> str:
    fallback = child_of(el, "ac:adf-fallback")
    return _inner_html(fallback, ctx) if fallback is not None else ""


def _macro_html(el: etree._Element, ctx: Context) -> str:
    name = attr_of(el, "ac:name") or ""
    params = macro_params(el)
    macro_id = attr_of(el, "ac:macro-id") or ""
    data = {"data-macro-name": name, "data-macro-id": macro_id} if macro_id else {"data-macro-name": name}
    rich = child_of(el, "ac:rich-text-body")
    plain = child_of(el, "ac:plain-text-body")
    if name in ("code", "noformat"):
        text = "".join(plain.itertext()) if plain is not None else ""
        brush = params.get("language", "java")
        return (f'<div class="code panel pdl conf-macro output-block"{attrs_html(data)}>'
                f'<div class="codeContent panelContent pdl"><pre class="syntaxhighlighter-pre" '
                f'data-syntaxhighlighter-params="brush: {esc(brush)}; gutter: false" data-theme="Confluence">'
                f"{esc(text)}</pre></div></div>")
    if name in _INFO_CLASS or name == "panel":
        kind = _INFO_CLASS.get(name, "information")
        title = params.get("title")
        head = f'<p class="title">{esc(title)}</p>' if title else ""
        body = _inner_html(rich, ctx) if rich is not None else ""
        return (f'<div class="confluence-information-macro confluence-information-macro-{kind} conf-macro '
                f'output-block"{attrs_html(data)}>{head}<div class="confluence-information-macro-body">{body}</div></div>')
    if name == "status":
        colour = params.get("colour", "Grey").lower()
        return (f'<span class="status-macro aui-lozenge aui-lozenge-{esc(colour)} conf-macro output-inline"'
                f'{attrs_html(data)}>{esc(params.get("title", "").upper())}</span>')
    body = _inner_html(rich, ctx) if rich is not None else esc("".join(plain.itertext())) if plain is not None else ""
    return f'<div class="conf-macro output-block"{attrs_html(data)}>{body}</div>'


def _link_html(el: etree._Element, ctx: Context) -> str:
    href, text, extra = link_target(el, ctx)
    body = link_body(el)
    inner = (_inner_html(body, ctx) if tag_of(body) == "ac:link-body" else esc("".join(body.itertext()))) \
        if body is not None else esc(text)
    return f"<a{attrs_html({'href': href, **extra})}>{inner}</a>"


def _image_html(el: etree._Element, ctx: Context) -> str:
    attachment, url = child_of(el, "ri:attachment"), child_of(el, "ri:url")
    if attachment is not None:
        src = f"{ctx.prefix}/download/attachments/{ctx.content_id}/{quote(attr_of(attachment, 'ri:filename') or '')}"
    else:
        src = attr_of(url, "ri:value") or "" if url is not None else ""
    attrs = {"class": "confluence-embedded-image", "src": src}
    for name in ("height", "width", "alt"):
        value = attr_of(el, f"ac:{name}")
        if value:
            attrs[name] = value
    return f'<span class="confluence-embedded-file-wrapper"><img{attrs_html(attrs)} /></span>'


# Confluence's own elements, by tag; any other ac:, ri: or at: element renders as its content.
_CONFLUENCE_ELEMENTS: dict[str, Callable[[etree._Element, Context], str]] = {
    "ac:structured-macro": _macro_html,
    "ac:macro": _macro_html,
    "ac:link": _link_html,
    "ac:image": _image_html,
    "ac:emoticon": _emoticon_html,
    "ac:task": _task_html,
    "ac:task-list": lambda el, ctx: f'<ul class="inline-task-list">{_children_html(el, ctx)}</ul>',
    "ac:layout": lambda el, ctx: f'<div class="contentLayout2">{_children_html(el, ctx)}</div>',
    "ac:layout-section": _layout_section_html,
    "ac:layout-cell": lambda el, ctx: ('<div class="cell normal" data-type="normal"><div class="innerCell">'
                                       f"{_inner_html(el, ctx)}</div></div>"),
    "ac:inline-comment-marker": lambda el, ctx: (f'<span class="inline-comment-marker" '
                                                 f'data-ref="{esc(attr_of(el, "ac:ref"))}">{_inner_html(el, ctx)}</span>'),
    "ac:adf-extension": _adf_extension_html,
    **dict.fromkeys(("ac:placeholder", "ac:parameter", "ac:task-id", "ac:task-status"), lambda el, ctx: ""),
}
