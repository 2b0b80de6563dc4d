"""The Confluence Cloud v2 operations the connector reads, plus page and footer-comment creation.

Handlers parse and validate parameters the way Confluence does, read the `Workspace`, and hand
entities to `serialize_v2`. The app around them authenticates, checks scopes, limits rates and
adds `Link: <base>; rel="base"` to any v2 response that sets no Link itself.

One module per resource family (spaces, pages, tree, comments, attachments, users, writes), over
`viewer` (who may see what) and `listing` (sort orders, cursor pages, parameters).

Where the spec leaves behaviour open, the emulator decides as follows:
- `GET /pages/{id}` answers 404 for a trashed or draft page unless `status` names its status
  (the default is current and archived); `GET /blogposts/{id}` likewise (default current).
  Comments, attachments and folders by id have no `status` parameter and answer in any status.
- `/footer-comments` and `/inline-comments` have no `status` parameter and list current comments.
- Default orders: id ascending, except versions (newest first) and direct children (position).
- Descendants come level by level (top-to-bottom, as the spec says), each parent's children in
  position order; trashed pages and what lies below them are left out.
- Ancestors list every ancestor, even one the caller cannot open (only id and type are shown);
  pages and folders the caller cannot see are left out of children and descendants.
- `favorited-by`/`not-favorited-by` on `/spaces` read the `my:favourite` space label (the
  workspace keeps no per-user stars). `subtype=live` matches nothing: the workspace has no live docs.
"""

# importing the modules registers their routes (routes.ROUTES)
from . import attachments, comments, pages, spaces, tree, users, writes  # noqa: F401
