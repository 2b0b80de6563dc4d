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

from .elements import HTML_REPRESENTATIONS, RENDERED, Names
from .to_adf import render_adf
from .to_html import render_html

__all__ = ["HTML_REPRESENTATIONS", "RENDERED", "render", "render_adf", "render_html"]


def render(storage: str, representation: str, *, content_id: str, site_base: str, names: Names) -> str:
    """`storage` in `representation` (one of RENDERED, or storage itself)."""
    if representation == "atlas_doc_format":
        return render_adf(storage, content_id=content_id, site_base=site_base, names=names)
    if representation in HTML_REPRESENTATIONS:
        return render_html(storage, representation, content_id=content_id, site_base=site_base, names=names)
    return storage
