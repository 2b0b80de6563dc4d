"""Reading storage-format XHTML and HTML safely: the parsers, the limits, the tag sets, and
helpers that read elements.

Parsing is lxml's: first as XML (what Confluence writes is well-formed once wrapped in a root
that declares the `ac` and `ri` prefixes and once HTML's named entities are written as numbers),
and when that fails, leniently with lxml's HTML parser (malformed markup still gives its text).
Neither parser expands entities or reads anything outside the string: no DTD is loaded, no
network is used, entity declarations in the input stay unexpanded, and the input is cut at
`MAX_INPUT_CHARS` and the tree walk at `MAX_DEPTH` levels."""

from __future__ import annotations

import html.entities
import re
from typing import Iterable

from lxml import etree

AC_NAMESPACE = "http://atlassian.com/content"
RI_NAMESPACE = "http://atlassian.com/resource/identifier"
AT_NAMESPACE = "http://atlassian.com/template"
MAX_INPUT_CHARS = 5_000_000  # the emulator's biggest page is 1.2 MB; Confluence caps bodies near 5 MB
MAX_DEPTH = 200  # deeper elements are read as flat text
MAX_PARAMETER_CHARS = 200

_PREFIXES = {f"{{{AC_NAMESPACE}}}": "ac:", f"{{{RI_NAMESPACE}}}": "ri:", f"{{{AT_NAMESPACE}}}": "at:"}
_ROOT_OPEN = f'<root xmlns:ac="{AC_NAMESPACE}" xmlns:ri="{RI_NAMESPACE}" xmlns:at="{AT_NAMESPACE}">'
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_ENTITY = re.compile(r"&(?:([A-Za-z][A-Za-z0-9]{0,31});|(#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};)|)")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)
_SELF_CLOSING = re.compile(r"<([A-Za-z][\w:.-]*)(\s[^<>]*?)?/>")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"})
SPACES = re.compile(r"\s+")

BLOCK_TAGS = frozenset({
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre", "blockquote", "hr", "section",
    "article", "header", "footer", "main", "nav", "aside", "figure", "figcaption", "dl", "body", "html",
    "center", "form", "fieldset", "details", "summary", "address",
    "ac:layout", "ac:layout-section", "ac:layout-cell", "ac:task-list", "ac:adf-extension", "ac:rich-text-body",
})
SKIPPED_TAGS = frozenset({
    "script", "style", "head", "title", "template", "noscript", "svg", "colgroup", "col", "iframe", "object",
    "ac:placeholder", "ac:parameter", "ac:task-id", "ac:task-status", "ac:adf-attribute", "ac:adf-fallback",
})
PANELS = {"info": "Info", "note": "Note", "warning": "Warning", "tip": "Tip", "panel": "", "success": "Success",
          "error": "Error"}
CODE_MACROS = frozenset({"code", "noformat"})
SILENT_MACROS = frozenset({"toc", "anchor", "children", "pagetree"})  # navigation, no content of their own
EMOTICONS = {  # ac:name -> emoji, for emoticons written without ac:emoji-fallback (older pages)
    "smile": "🙂", "sad": "🙁", "cheeky": "😛", "laugh": "😀", "wink": "😉", "thumbs-up": "👍",
    "thumbs-down": "👎", "information": "ℹ️", "tick": "✅", "cross": "❌", "warning": "⚠️", "plus": "➕",
    "minus": "➖", "question": "❓", "light-on": "💡", "light-off": "💡", "yellow-star": "⭐", "red-star": "⭐",
    "green-star": "⭐", "blue-star": "⭐", "heart": "❤️", "broken-heart": "💔",
}


def _entity_as_number(match: re.Match[str]) -> str:
    name, numeric = match.group(1), match.group(2)
    if numeric:
        return match.group(0)
    if name is None:
        return "&amp;"  # a bare ampersand
    if name in _XML_ENTITIES:
        return match.group(0)
    value = html.entities.html5.get(name + ";")
    if value is None:
        return f"&amp;{name};"  # unknown: kept as the text it is
    return "".join(f"&#{ord(c)};" for c in value)


def clean(storage: str, warnings: list[str]) -> str:
    if len(storage) > MAX_INPUT_CHARS:
        warnings.append(f"body cut at {MAX_INPUT_CHARS:,} of {len(storage):,} characters")
        storage = storage[:MAX_INPUT_CHARS]
    storage = storage.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    return _CONTROL.sub("", storage)


def _xml_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True, remove_pis=True, strip_cdata=True,
                           collect_ids=False)


def _html_parser() -> etree.HTMLParser:
    return etree.HTMLParser(no_network=True, remove_comments=True, remove_pis=True, default_doctype=False,
                            huge_tree=False, recover=True)


def _self_closing_as_pair(match: re.Match[str]) -> str:
    tag, attributes = match.group(1), match.group(2) or ""
    if tag.lower() in _VOID:
        return match.group(0)
    return f"<{tag}{attributes}></{tag}>"


def _cdata_as_text(match: re.Match[str]) -> str:
    return match.group(1).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse_storage(storage: str, warnings: list[str]) -> etree._Element | None:
    """The body as an element tree under one root; None for an empty body."""
    storage = clean(storage, warnings)
    if not storage.strip():
        return None
    xml = _ROOT_OPEN + _ENTITY.sub(_entity_as_number, storage) + "</root>"
    try:
        return etree.fromstring(xml.encode("utf-8"), _xml_parser())
    except etree.XMLSyntaxError as exc:
        warnings.append(f"markup is not well-formed ({exc.msg}); read leniently")
    return parse_html(_SELF_CLOSING.sub(_self_closing_as_pair, _CDATA.sub(_cdata_as_text, storage)))


def parse_html(markup: str) -> etree._Element | None:
    """An HTML document or fragment (lenient) as an element tree; its <body>, or None when empty."""
    if not markup.strip():
        return None
    root = etree.fromstring(f"<html><body>{markup}</body></html>", _html_parser())
    if root is None:
        return None
    body = root.find("body")
    return body if body is not None else root


def tag_of(el: etree._Element) -> str:
    tag = el.tag
    if tag[0] == "{":
        for uri, prefix in _PREFIXES.items():
            if tag.startswith(uri):
                return prefix + tag[len(uri):]
        return tag.rsplit("}", 1)[1]
    return tag.lower()


def attr_of(el: etree._Element, name: str) -> str | None:
    """An attribute by its prefixed name ("ac:name"), parsed as XML (namespaced) or as HTML (literal)."""
    prefix, _, local = name.partition(":")
    if local:
        uri = {"ac": AC_NAMESPACE, "ri": RI_NAMESPACE}.get(prefix)
        value = el.get(f"{{{uri}}}{local}") if uri else None
        return value if value is not None else el.get(name)
    return el.get(name)


def elements_of(el: etree._Element) -> Iterable[etree._Element]:
    return (c for c in el if isinstance(c.tag, str))


def child_of(el: etree._Element, tag: str) -> etree._Element | None:
    return next((c for c in elements_of(el) if tag_of(c) == tag), None)


def flat_text(el: etree._Element) -> str:
    return SPACES.sub(" ", " ".join(el.itertext())).strip()
