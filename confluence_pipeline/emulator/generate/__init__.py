"""The deterministic workspace generator: a realistic Confluence site from a seed and a size.

    ws = generate_workspace(seed=42, scale=2000)

`scale` is the number of pages; everything else follows in proportion: about scale/20 users,
users/5 groups, scale/400 global spaces plus personal, archived and knowledge-base ones,
scale/25 folders, scale/5 blog posts, one comment and a third of an attachment per page. The
same arguments always give the same workspace: one `random.Random(seed)` drives everything,
and timestamps are anchored at `now` (default: the current UTC minute).

The site is built in two passes. The first plans every space and content item with its
creation time; the second walks them in creation order and takes ids from the workspace's one
counter (`ws.new_id()`), so ids grow with creation time and interleave across types, as on a
real site. Bodies are storage-format XHTML made in `bodies.py`; attachment bytes are made on
demand by `files.attachment_bytes` and never stored.

Besides the fields of `Workspace`, the result has one more attribute:

    ws.planted_facts: list[tuple[str, str]]
        (query text, content id) pairs, at least 60. Each query names a made-up thing whose
        sentence (e.g. "The Quorion-412 kiln inspection interval is 37 days.") occurs in the
        text of exactly one current page, blog post or attachment (a third are attachments: in
        the txt/csv/pdf/docx file's text). A relevance test searches for the query and expects
        that content id.

What the data exercises: page trees at least 10 levels deep in every space with 12 pages or
more, with folders inside; restrictions on pages, folders and blog posts (read and edit, user
and group, nested on alternating levels, restricted parents with unrestricted children);
spaces readable by everyone, by one group only, or anonymously; personal and archived spaces;
users in no group and users with hidden emails; archived, trashed and multi-version content;
inline comments in every resolution state (a dangling comment's marker is gone from the body,
which is what makes it dangling); timestamps over 3.3 years with a share in the last day.
"""

from .generator import generate_workspace
from .vocabulary import MIN_SCALE

__all__ = ["MIN_SCALE", "generate_workspace"]
