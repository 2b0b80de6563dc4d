"""The v1 operations (/wiki/rest/api/...) the connector still needs: CQL search, the batched
restriction read (content search with restriction expansions), content restrictions, groups,
users, the audit log and attachment download; plus 410 Gone for the removed content reads.

Choices where Cloud publishes nothing (the tests pin each one):
- Search `limit` (default 25) is capped silently at 250, at 50 when `expand` asks for a body and
  at 25 for body.export_view/styled_view, as Cloud's unpublished "fixed system limits" do. Only
  the cursor in `_links.next` moves through results; the deprecated `start` is ignored. No
  `_links.prev` is given. A cursor resumes after the last item it returned, so results added or
  removed elsewhere between pages shift nothing; an item edited under `ORDER BY lastmodified`
  can move across the cursor, as on Cloud.
- Search sees content whose status is `current` (`cqlcontext={"contentStatuses":[...]}` may
  choose `archived` too; trashed and draft content never), whose container (for comments and
  attachments) passes the same test, in current spaces (`includeArchivedSpaces`,
  `excludeCurrentSpaces` on /search), and only what the caller may view (`Workspace.can_view`).
  `archivedResultCount` counts the matches left out because their space is archived.
- Offset listings: `limit` below 1 is a 400. Group listings (groups, picker, members, memberof)
  answer 400 above 200; restrictions cap silently at 200 (default 100), the audit log at 1000,
  user search at 1000 per page and 10,000 in all.
- The audit log answers a caller without the Confluence Administrator permission with a 403 and
  an empty body: airbyte#33737 saw that 403 carry no message its client could read.
- Attachment download answers 302 to /wiki/download/attachments/{containerId}/{filename}
  with a signed token that expires after 10 minutes; that path serves the bytes for the token
  alone and answers 401 without it, as Cloud's servlet path does for API tokens since
  CHANGE-2735 (pchuri/confluence-cli#198, atlassian-python-api#1640). On Cloud the redirect goes
  to a signed api.media.atlassian.com URL; the emulator keeps it on its own host.
- `accessType` on GET /group is validated but does not filter: the emulator keeps no per-group
  access types. `expand` on user operations is accepted and ignored.
"""

# importing the modules registers their routes (routes.ROUTES)
from . import audit, download, removed, restrictions, search, users  # noqa: F401
