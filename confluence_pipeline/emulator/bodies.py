"""Storage-format (XHTML) bodies for generated pages, blog posts and comments, and the text
they are made of.

A body is assembled from fragments chosen from pools built once per workspace (paragraphs,
tables, lists, code samples) plus a few per-page parts (links, mentions, images, inline-comment
markers, planted facts). The markup follows what Confluence Cloud writes (REAL.md §8): macros
carry `ac:schema-version="1"` and an `ac:macro-id` UUID, links and images to pages and
attachments carry `ri:version-at-save`, and mentions come in both the `ri:account-id` and the
real `ri:userkey` (holding an accountId) forms. Every body is well-formed XML once wrapped in a
root element that declares the `ac` and `ri` namespaces: no named HTML entities, void elements
self-closed.

The words they are made of, and the planted facts, are in `words.py`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .words import (CODE_SAMPLES, EMOTICONS, HEADINGS, METRICS, NON_LATIN_PARAGRAPHS, PANEL_MACROS,
                    STATUS_COLOURS, STATUS_TITLES, TEAMS, THINGS, UNKNOWN_MACROS, VERBS, VERBS_PAST,
                    make_paragraph_texts, make_sentences)

AC_NAMESPACE = "http://atlassian.com/content"
RI_NAMESPACE = "http://atlassian.com/resource/identifier"
_MID = "\x00"  # stands for a fresh macro id in precomputed fragments


def escape(text: str) -> str:
    """Escape text for an XML element or a double-quoted attribute."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    return text


def uuid_from(rng: random.Random) -> str:
    """A version-4-shaped UUID drawn from `rng` (uuid4 would not be reproducible)."""
    h = "%032x" % rng.getrandbits(128)
    return "%s-%s-4%s-%s%s-%s" % (h[:8], h[8:12], h[13:16], "89ab"[int(h[16], 16) & 3], h[17:20], h[20:])


# --------------------------------------------------------------------------------------------
# Pools


def _status_macro(rng: random.Random) -> str:
    return ('<ac:structured-macro ac:name="status" ac:schema-version="1" ac:macro-id="%s">'
            '<ac:parameter ac:name="colour">%s</ac:parameter><ac:parameter ac:name="title">%s'
            '</ac:parameter></ac:structured-macro>'
            % (_MID, rng.choice(STATUS_COLOURS), rng.choice(STATUS_TITLES)))


_LEVELS = ("Low", "Medium", "High")


def _table_row(shape: str, rng: random.Random, sentences: list[str], n: int) -> list[str]:
    """The cells (markup) of row `n` of a table of one shape."""
    thing = escape(rng.choice(THINGS).capitalize())
    team = escape(rng.choice(TEAMS))
    date = "2024-%02d-%02d" % (rng.randint(1, 12), rng.randint(1, 28))
    if shape == "tasks":
        task = "%s the %s" % (rng.choice(VERBS).capitalize(), escape(rng.choice(THINGS)))
        return ["%s team" % team.capitalize(), task, date, _status_macro(rng)]
    if shape == "services":
        return [thing, rng.choice(("eu-west-1", "us-east-1", "ap-southeast-2")),
                rng.choice(("99.9%", "99.95%", "99.5%")), team]
    if shape == "metrics":
        target = rng.randint(50, 900)
        return [escape(rng.choice(METRICS)), "%d ms" % target, "%d ms" % (target + rng.randint(-40, 120)),
                rng.choice(("up", "down", "flat"))]
    if shape == "risks":
        return ["The %s fails" % escape(rng.choice(THINGS)), rng.choice(_LEVELS), rng.choice(_LEVELS),
                escape(rng.choice(sentences))]
    if shape == "steps":
        return [str(n), "<code>make %s</code>" % rng.choice(VERBS), "%s is healthy" % thing]
    return ["1.%d.%d" % (n, rng.randint(0, 9)), date, escape(rng.choice(sentences))]


_TABLE_SHAPES = {
    "tasks": ("Owner", "Task", "Due", "Status"),
    "services": ("Service", "Region", "SLA", "On-call team"),
    "metrics": ("Metric", "Target", "Actual", "Trend"),
    "risks": ("Risk", "Likelihood", "Impact", "Mitigation"),
    "steps": ("Step", "Command", "Expected result"),
    "versions": ("Version", "Date", "Changes"),
}


def _table(rng: random.Random, sentences: list[str]) -> str:
    shape = rng.choice(sorted(_TABLE_SHAPES))
    head = "".join("<th><p><strong>%s</strong></p></th>" % h for h in _TABLE_SHAPES[shape])
    rows = []
    for n in range(1, rng.randint(2, 6) + 1):
        cells = _table_row(shape, rng, sentences, n)
        rows.append("<tr>%s</tr>" % "".join("<td><p>%s</p></td>" % cell for cell in cells))
    return ('<table data-layout="default" ac:local-id="%s"><tbody><tr>%s</tr>%s</tbody></table>'
            % (_MID, head, "".join(rows)))


def _list(rng: random.Random, sentences: list[str]) -> str:
    tag = rng.choice(("ul", "ol"))
    items = "".join("<li><p>%s</p></li>" % escape(s) for s in rng.sample(sentences, rng.randint(2, 6)))
    if rng.random() < 0.3:  # a nested list, as editors write them
        inner = "".join("<li><p>%s</p></li>" % escape(s) for s in rng.sample(sentences, 2))
        items += "<li><p>%s</p><ul>%s</ul></li>" % (escape(rng.choice(THINGS).capitalize()), inner)
    return "<%s>%s</%s>" % (tag, items, tag)


def _split_ids(fragment: str) -> tuple[str, ...]:
    return tuple(fragment.split(_MID))


@dataclass
class Pools:
    """Fragments a workspace's bodies are built from; made once per workspace from its rng."""

    sentences: list[str]
    paragraphs: list[str]  # "<p>...</p>"
    tables: list[tuple[str, ...]]  # split at the places that take a fresh macro id
    lists: list[str]
    comment_texts: list[str]
    selections: list[str]  # phrases an inline comment can highlight


def build_pools(rng: random.Random) -> Pools:
    sentences = make_sentences(rng, 900)
    paragraphs = ["<p>%s</p>" % escape(t) for t in make_paragraph_texts(rng, sentences, 400)]
    tables = [_split_ids(_table(rng, sentences)) for _ in range(60)]
    lists = [_list(rng, sentences) for _ in range(80)]
    comments = [
        "Thanks, this is really helpful.", "Can we add the rollback steps here?",
        "Is this still accurate after the migration?", "LGTM 👍", "I updated the table above.",
        "Who owns this now?", "Could you link the dashboard?", "Done, see the new section.",
        "We should move this to the team space.", "Nice work on this page!",
        "This contradicts the runbook, which one is right?", "Added to the agenda for Monday.",
        "Approved.", "Please review by Friday.", "Good catch, fixed.",
    ] + sentences[:60]
    selections = ["%s %s" % (rng.choice(("the", "our", "this")), rng.choice(THINGS)) for _ in range(80)]
    return Pools(sentences, paragraphs, tables, lists, [escape(c) for c in comments], selections)


def fill_ids(parts: tuple[str, ...], rng: random.Random) -> str:
    if len(parts) == 1:
        return parts[0]
    out = [parts[0]]
    for part in parts[1:]:
        out.append(uuid_from(rng))
        out.append(part)
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Fragments


def code_macro(rng: random.Random) -> str:
    language, code = rng.choice(CODE_SAMPLES)
    return ('<ac:structured-macro ac:name="code" ac:schema-version="1" ac:macro-id="%s">'
            '<ac:parameter ac:name="language">%s</ac:parameter>'
            '<ac:parameter ac:name="linenumbers">%s</ac:parameter>'
            '<ac:plain-text-body><![CDATA[%s]]></ac:plain-text-body></ac:structured-macro>'
            % (uuid_from(rng), language, rng.choice(("true", "false")), code))


def panel_macro(rng: random.Random, pools: Pools, name: str | None = None) -> str:
    return ('<ac:structured-macro ac:name="%s" ac:schema-version="1" ac:macro-id="%s">'
            '<ac:rich-text-body>%s</ac:rich-text-body></ac:structured-macro>'
            % (name or rng.choice(PANEL_MACROS), uuid_from(rng), rng.choice(pools.paragraphs)))


def unknown_macro(rng: random.Random) -> str:
    name = rng.choice(UNKNOWN_MACROS)
    return ('<ac:structured-macro ac:name="%s" ac:schema-version="1" ac:macro-id="%s">'
            '<ac:parameter ac:name="diagramName">%s</ac:parameter>'
            '<ac:parameter ac:name="revision">%d</ac:parameter></ac:structured-macro>'
            % (name, uuid_from(rng), rng.choice(THINGS).replace(" ", "-"), rng.randint(1, 40)))


def toc_macro(rng: random.Random) -> str:
    return ('<ac:structured-macro ac:name="toc" ac:schema-version="1" ac:macro-id="%s">'
            '<ac:parameter ac:name="maxLevel">3</ac:parameter></ac:structured-macro>' % uuid_from(rng))


def mention(account_id: str, userkey_form: bool) -> str:
    attr = "ri:userkey" if userkey_form else "ri:account-id"
    return '<ac:link><ri:user %s="%s" /></ac:link>' % (attr, account_id)


def page_link(title: str, space_key: str | None) -> str:
    key = ' ri:space-key="%s"' % escape(space_key) if space_key else ""
    return ('<ac:link><ri:page ri:content-title="%s"%s ri:version-at-save="1" />'
            '<ac:link-body>%s</ac:link-body></ac:link>' % (escape(title), key, escape(title)))


def attachment_link(filename: str) -> str:
    return '<ac:link><ri:attachment ri:filename="%s" ri:version-at-save="1" /></ac:link>' % escape(filename)


def image(filename: str, width: int, height: int) -> str:
    return ('<ac:image ac:layout="center" ac:original-width="%d" ac:original-height="%d">'
            '<ri:attachment ri:filename="%s" ri:version-at-save="1" /></ac:image>'
            % (width, height, escape(filename)))


def emoticon(rng: random.Random) -> str:
    name, shortname, emoji_id, fallback = rng.choice(EMOTICONS)
    return ('<ac:emoticon ac:name="%s" ac:emoji-shortname="%s" ac:emoji-id="%s" ac:emoji-fallback="%s" />'
            % (name, shortname, emoji_id, fallback))


def task_list(rng: random.Random, pools: Pools, mentions: list[str], date: str) -> str:
    tasks = []
    for task_id in range(1, rng.randint(2, 5) + 1):
        body = escape(rng.choice(pools.sentences))
        if mentions and rng.random() < 0.5:
            body = "%s %s" % (mention(rng.choice(mentions), rng.random() < 0.5), body)
        if rng.random() < 0.4:
            body += ' <time datetime="%s" />' % date
        tasks.append("<ac:task><ac:task-id>%d</ac:task-id><ac:task-status>%s</ac:task-status>"
                     "<ac:task-body>%s</ac:task-body></ac:task>"
                     % (task_id, rng.choice(("incomplete", "complete")), body))
    return "<ac:task-list>%s</ac:task-list>" % "".join(tasks)


def decision_list(rng: random.Random) -> str:
    return ('<ac:adf-extension><ac:adf-node type="decision-list">'
            '<ac:adf-attribute key="local-id">%s</ac:adf-attribute>'
            '<ac:adf-node type="decision-item"><ac:adf-attribute key="local-id">%s</ac:adf-attribute>'
            '<ac:adf-attribute key="state">DECIDED</ac:adf-attribute>'
            '<ac:adf-content>We %s the %s.</ac:adf-content></ac:adf-node></ac:adf-node></ac:adf-extension>'
            % (uuid_from(rng), uuid_from(rng), rng.choice(VERBS_PAST), rng.choice(THINGS)))


def inline_markers(pools: Pools, rng: random.Random, refs: list[str]) -> tuple[str, list[str]]:
    """Paragraphs that highlight text for the inline comments `refs`; sometimes two markers nest
    (as on real pages). Returns the markup and each ref's selected text, in order."""
    paragraphs = []
    selections: list[str] = []
    i = 0
    while i < len(refs):
        before = rng.choice(pools.sentences)
        after = rng.choice(pools.sentences)
        inner = rng.choice(pools.selections)
        if i + 1 < len(refs) and (rng.random() < 0.35 or len(refs) >= 3 and i == 0):
            lead = rng.choice(("Note that", "Remember", "Check"))
            outer = "%s %s" % (lead, inner)
            paragraphs.append(
                '<p>%s <ac:inline-comment-marker ac:ref="%s">%s <ac:inline-comment-marker ac:ref="%s">%s'
                '</ac:inline-comment-marker></ac:inline-comment-marker> %s</p>'
                % (escape(before), refs[i], lead, refs[i + 1], escape(inner), escape(after)))
            selections += [outer, inner]
            i += 2
        else:
            paragraphs.append('<p>%s <ac:inline-comment-marker ac:ref="%s">%s'
                              '</ac:inline-comment-marker> %s</p>'
                              % (escape(before), refs[i], escape(inner), escape(after)))
            selections.append(inner)
            i += 1
    return "".join(paragraphs), selections


# --------------------------------------------------------------------------------------------
# Bodies


@dataclass(slots=True)
class BodyRefs:
    """What one body refers to, decided by the generator."""

    date: str  # YYYY-MM-DD for <time>
    links: list[tuple[str, str | None]] = field(default_factory=list)  # (title, space key or None)
    mentions: list[str] = field(default_factory=list)  # account ids
    images: list[tuple[str, int, int]] = field(default_factory=list)  # (filename, width, height)
    files: list[str] = field(default_factory=list)  # attachment filenames to link
    markers: str = ""  # inline-comment marker paragraphs
    facts: list[str] = field(default_factory=list)  # planted sentences


def content_body(pools: Pools, rng: random.Random, refs: BodyRefs, *, everything: bool = False,
                 non_latin: bool = False) -> str:
    """A page or blog post body. `everything` puts in every construct the generator knows."""
    r = rng.random
    parts = [rng.choice(pools.paragraphs)]
    if everything or r() < 0.15:
        parts.append(toc_macro(rng))
    parts.append("<h2>%s</h2>" % rng.choice(HEADINGS))
    parts.append(rng.choice(pools.paragraphs))
    if everything or r() < 0.3:
        parts.append(panel_macro(rng, pools))
    if refs.markers:
        parts.append(refs.markers)
    if everything or r() < 0.4:
        parts.append(fill_ids(rng.choice(pools.tables), rng))
    parts.append("<h3>%s</h3>" % rng.choice(HEADINGS))
    if everything or r() < 0.5:
        parts.append(rng.choice(pools.lists))
    for fact in refs.facts:
        parts.append("<p>%s</p>" % escape(fact))
    if everything or r() < 0.3:
        parts.append(code_macro(rng))
    if everything or r() < 0.2:
        parts.append(task_list(rng, pools, refs.mentions, refs.date))
    if refs.links:
        parts.append("<p>Related: %s</p>" % ", ".join(page_link(t, k) for t, k in refs.links))
    if refs.mentions:
        # both forms Confluence writes: ri:account-id and ri:userkey (which holds an accountId too)
        people = " ".join(mention(a, i % 2 == 1) for i, a in enumerate(refs.mentions))
        parts.append("<p>Contacts: %s</p>" % people)
    for filename, width, height in refs.images:
        parts.append(image(filename, width, height))
    if refs.files:
        parts.append("<p>Files: %s</p>" % " ".join(attachment_link(f) for f in refs.files))
    if everything or r() < 0.2:
        parts.append('<p>Last reviewed on <time datetime="%s" />.</p>' % refs.date)
    if everything or r() < 0.1:
        parts.append("<p>%s Thanks everyone!</p>" % emoticon(rng))
    if everything or r() < 0.04:
        parts.append(unknown_macro(rng))
    if everything or r() < 0.04:
        parts.append(decision_list(rng))
    if everything or non_latin:
        parts.append("<p>%s</p>" % escape(rng.choice(NON_LATIN_PARAGRAPHS)))
    if everything:
        parts.append(panel_macro(rng, pools, "warning"))
        parts.append(panel_macro(rng, pools, "note"))
        parts.append(panel_macro(rng, pools, "info"))
        parts.append("<p>%s</p>" % " ".join(escape(p) for p in NON_LATIN_PARAGRAPHS))
    if not everything and r() < 0.12:  # a two-column layout, as newer editors write
        return ('<ac:layout><ac:layout-section ac:type="two_equal"><ac:layout-cell>%s</ac:layout-cell>'
                '<ac:layout-cell>%s</ac:layout-cell></ac:layout-section></ac:layout>'
                % ("".join(parts[:3]), "".join(parts[3:])))
    return "".join(parts)


def big_body(pools: Pools, rng: random.Random, min_bytes: int) -> str:
    """A page over `min_bytes` (UTF-8): an export-style table with thousands of rows."""
    head = ("<h1>Inventory export</h1>%s<table><tbody>"
            "<tr><th>#</th><th>Item</th><th>Owner</th><th>Notes</th></tr>" % rng.choice(pools.paragraphs))
    rows = []
    size = len(head) + 40
    n = 0
    things = [escape(t) for t in THINGS]
    teams = [escape(t) for t in TEAMS]
    sentences = [escape(s) for s in pools.sentences[:200]]
    while size < min_bytes:
        n += 1
        row = "<tr><td>%d</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
            n, things[n % len(things)], teams[(n * 7) % len(teams)], sentences[(n * 13) % len(sentences)])
        rows.append(row)
        size += len(row)
    return "%s%s</tbody></table>" % (head, "".join(rows))


def comment_body(pools: Pools, rng: random.Random, mention_id: str | None) -> str:
    text = rng.choice(pools.comment_texts)
    if mention_id is not None:
        return "<p>%s %s</p>" % (mention(mention_id, rng.random() < 0.5), text)
    return "<p>%s</p>" % text


def old_body(pools: Pools, rng: random.Random) -> str:
    """The body an earlier version had: shorter, plainer."""
    paragraphs = pools.paragraphs
    return "%s<h2>%s</h2>%s" % (rng.choice(paragraphs), rng.choice(HEADINGS), rng.choice(paragraphs))


