"""Inline storage-format content as Markdown and plain text side by side."""

from __future__ import annotations

from typing import Callable

from lxml import etree

from .blocks import Names, Pair, decode_escapes, escape_md, tidy, wrap
from .xhtml import (BLOCK_TAGS, EMOTICONS, MAX_DEPTH, SKIPPED_TAGS, SPACES, attr_of, child_of, elements_of,
                    flat_text, tag_of)


class InlineRenderer:
    """Inline content (marks, links, images, mentions, inline macros) as a Pair; `Renderer` adds
    the blocks it falls back to."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.cell_depth = 0  # > 0 while rendering a table cell

    def text(self, raw: str) -> Pair:
        flat = SPACES.sub(" ", raw)
        return Pair(escape_md(flat), flat)

    def children_inline(self, el: etree._Element, depth: int) -> Pair:
        out = self.text(el.text) if el.text else Pair()
        for child in el:
            if isinstance(child.tag, str):
                out += self.inline(child, depth + 1)
            if child.tail:
                out += self.text(child.tail)
        return out

    def inline(self, el: etree._Element, depth: int) -> Pair:
        if depth > MAX_DEPTH:
            flat = flat_text(el)
            return Pair(escape_md(flat), flat)
        tag = tag_of(el)
        if tag in SKIPPED_TAGS:
            return Pair()
        handler = _INLINE.get(tag)
        if handler is not None:
            return handler(self, el, depth)
        if tag in BLOCK_TAGS or self.is_block(el):  # a block where only inline content fits
            inner = self.block(el, depth)
            return Pair(" ".join(b.markdown for b in inner), " ".join(b.text for b in inner))
        return self.children_inline(el, depth)

    def _strong(self, el: etree._Element, depth: int) -> Pair:
        return wrap(self.children_inline(el, depth), "**")

    def _em(self, el: etree._Element, depth: int) -> Pair:
        return wrap(self.children_inline(el, depth), "*")

    def _strike(self, el: etree._Element, depth: int) -> Pair:
        return wrap(self.children_inline(el, depth), "~~")

    def _code(self, el: etree._Element, depth: int) -> Pair:
        code = SPACES.sub(" ", "".join(el.itertext()))
        if not code.strip():
            return Pair(code)
        ticks = "``" if "`" in code else "`"
        return Pair(f"{ticks}{code.strip()}{ticks}", code.strip())

    def _br(self, el: etree._Element, depth: int) -> Pair:
        return Pair("\\\n", "\n")

    def _anchor(self, el: etree._Element, depth: int) -> Pair:
        inner = self.children_inline(el, depth)
        href = (el.get("href") or "").strip()
        label = inner.md.strip()
        if not href or href.startswith("#") or href.lower().startswith("javascript:"):
            return inner
        target = href.replace(" ", "%20").replace(")", "%29").replace("(", "%28")
        if not label:
            return Pair(f"<{target}>", href)
        return Pair(f"[{label}]({target})", inner.text)

    def _image(self, el: etree._Element, depth: int) -> Pair:
        alt = el.get("alt") or ""
        src = el.get("src") or ""
        if not src:
            return Pair(escape_md(alt), alt)
        return Pair(f"![{escape_md(alt)}]({src.replace(' ', '%20')})", alt)

    def _time(self, el: etree._Element, depth: int) -> Pair:
        value = el.get("datetime") or ""
        inner = self.children_inline(el, depth)
        return inner if inner.text.strip() else Pair(value)

    def _macro_inline(self, el: etree._Element, depth: int) -> Pair:
        if self.is_block(el):
            inner = self.macro(el, depth)
            return Pair(" ".join(b.markdown for b in inner), " ".join(b.text for b in inner))
        name = (attr_of(el, "ac:name") or "").lower()
        params = self.parameters(el)
        if name == "status":
            title = params.get("title") or params.get("colour") or ""
            return Pair(f"\\[{escape_md(title)}\\]", f"[{title}]") if title else Pair()
        return self.described_macro(name, params)

    def _link(self, el: etree._Element, depth: int) -> Pair:
        """ac:link to a page, blog post, attachment, user, space or anchor: its body or the title."""
        body = child_of(el, "ac:link-body")
        label = tidy(self.children_inline(body, depth)) if body is not None else Pair()
        if not label.text:
            plain = child_of(el, "ac:plain-text-link-body")
            if plain is not None:
                label = self.text("".join(plain.itertext())).strip()
        target = next((c for c in elements_of(el) if tag_of(c).startswith("ri:")), None)
        if target is not None and tag_of(target) == "ri:user":
            name = label.text or self.user_name(target)
            return Pair(f"@{escape_md(name)}", f"@{name}")
        if label.text:
            return label
        title = self.target_title(target) if target is not None else ""
        title = title or attr_of(el, "ac:anchor") or ""
        return Pair(escape_md(title), title)

    def user_name(self, user: etree._Element) -> str:
        # ri:userkey holds an accountId on Cloud (REAL.md §8), like ri:account-id
        account = attr_of(user, "ri:account-id") or attr_of(user, "ri:userkey") or ""
        return self.names.users.get(account) or "unknown user"

    def target_title(self, target: etree._Element) -> str:
        tag = tag_of(target)
        if tag in ("ri:page", "ri:blog-post"):
            return attr_of(target, "ri:content-title") or ""
        if tag == "ri:attachment":
            return attr_of(target, "ri:filename") or ""
        if tag == "ri:content-entity":
            return self.names.content.get(attr_of(target, "ri:content-id") or "", "")
        if tag == "ri:space":
            return attr_of(target, "ri:space-key") or ""
        if tag == "ri:url":
            return attr_of(target, "ri:value") or ""
        if tag == "ri:user":
            return self.user_name(target)
        return ""

    def _ac_image(self, el: etree._Element, depth: int) -> Pair:
        """An image: the attachment's file name (or the URL), with its alt text where there is one."""
        alt = attr_of(el, "ac:alt") or ""
        target = next((c for c in elements_of(el) if tag_of(c).startswith("ri:")), None)
        if target is None:
            return Pair(escape_md(alt), alt)
        if tag_of(target) == "ri:url":
            url = attr_of(target, "ri:value") or ""
            return Pair(f"![{escape_md(alt)}]({url.replace(' ', '%20')})", alt)
        name = self.target_title(target)
        return Pair(f"![{escape_md(alt or name)}]({name.replace(' ', '%20')})", name)

    def _emoticon(self, el: etree._Element, depth: int) -> Pair:
        fallback = decode_escapes(attr_of(el, "ac:emoji-fallback") or "")
        name = attr_of(el, "ac:name") or ""
        emoji = fallback or EMOTICONS.get(name) or attr_of(el, "ac:emoji-shortname") or (f"({name})" if name else "")
        return Pair(emoji)

    def _user(self, el: etree._Element, depth: int) -> Pair:
        name = self.user_name(el)
        return Pair(f"@{escape_md(name)}", f"@{name}")

    def _resource(self, el: etree._Element, depth: int) -> Pair:
        title = self.target_title(el)
        return Pair(escape_md(title), title)


_R = InlineRenderer
_INLINE: dict[str, Callable[[InlineRenderer, etree._Element, int], Pair]] = {
    "strong": _R._strong, "b": _R._strong, "em": _R._em, "i": _R._em,
    "s": _R._strike, "del": _R._strike, "strike": _R._strike,
    "code": _R._code, "kbd": _R._code, "tt": _R._code, "br": _R._br,
    "a": _R._anchor, "img": _R._image, "time": _R._time,
    "ac:structured-macro": _R._macro_inline, "ac:link": _R._link, "ac:image": _R._ac_image,
    "ac:emoticon": _R._emoticon, "ri:user": _R._user, "ri:page": _R._resource,
    "ri:blog-post": _R._resource, "ri:attachment": _R._resource,
}
