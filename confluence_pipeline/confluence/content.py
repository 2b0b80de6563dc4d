"""The client's reads of content through the v2 API: spaces, pages and blog posts (with their
versions, labels and properties), the page tree, comments, attachments (and their bytes) and labels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

from .downloads import DEFAULT_MAX_DOWNLOAD, redirect_target, save
from .errors import ApiError
from .models import (Ancestor, Attachment, BlogPost, ContentProperty, Descendant, DirectChild, Folder,
                     FooterComment, InlineComment, Label, Page, Space, SpacePermission, Version)
from .operations import DOWNLOAD_HOP, ID_NAME, MAX_IDS, MAX_SPACE_IDS, OPERATIONS, V2_LIMIT, operation_for
from .reads import M, Reads, query_params


class ContentReads(Reads):
    """Spaces, pages, blog posts, folders, comments, attachments and labels."""

    # -- spaces ------------------------------------------------------------------------------
    def spaces(self, *, ids: Iterable[str] | None = None, keys: Iterable[str] | None = None,
               type: str | None = None, status: str | None = None, labels: Iterable[str] | None = None,
               sort: str | None = None, description_format: str | None = None,
               include_icon: bool | None = None) -> Iterator[Space]:
        params = {"type": type, "status": status, "labels": labels and list(labels), "sort": sort,
                  "description-format": description_format, "include-icon": include_icon}
        if ids is not None:
            if keys is not None:
                params["keys"] = list(keys)
            return self._by_ids("getSpaces", Space, params, key="ids", values=ids, size=MAX_IDS)
        return self._by_ids("getSpaces", Space, params, key="keys", values=keys, size=MAX_IDS)

    def space(self, space_id: str, *, description_format: str | None = None,
              include: Iterable[str] = ()) -> Space:
        """One space; `include` names include-* flags (labels, properties, permissions, ...)."""
        params = {"description-format": description_format, **{f"include-{i}": True for i in include}}
        return self._get("getSpaceById", Space, params, id=space_id)

    def space_permissions(self, space_id: str) -> Iterator[SpacePermission]:
        return self._v2_list("getSpacePermissionsAssignments", SpacePermission, id=space_id)

    # -- pages and blog posts --------------------------------------------------------------------
    def pages(self, *, ids: Iterable[str] | None = None, space_ids: Iterable[str] | None = None,
              status: Iterable[str] | None = None, body_format: str | None = None, sort: str | None = None,
              title: str | None = None) -> Iterator[Page]:
        """Pages site-wide; `ids` (any number, 250 per call) or `space_ids` (100 per call) filter."""
        return self._content_list("getPages", Page, ids, space_ids, status, body_format, sort, title)

    def blogposts(self, *, ids: Iterable[str] | None = None, space_ids: Iterable[str] | None = None,
                  status: Iterable[str] | None = None, body_format: str | None = None,
                  sort: str | None = None, title: str | None = None) -> Iterator[BlogPost]:
        return self._content_list("getBlogPosts", BlogPost, ids, space_ids, status, body_format, sort, title)

    def _content_list(self, name: str, model: type[M], ids: Iterable[str] | None,
                      space_ids: Iterable[str] | None, status: Iterable[str] | None, body_format: str | None,
                      sort: str | None, title: str | None) -> Iterator[M]:
        params = {"status": status and list(status), "body-format": body_format, "sort": sort, "title": title}
        if ids is not None:
            if space_ids is not None:
                params["space-id"] = list(space_ids)
            return self._by_ids(name, model, params, key="id", values=ids, size=MAX_IDS)
        return self._by_ids(name, model, params, key="space-id", values=space_ids, size=MAX_SPACE_IDS)

    def pages_in_space(self, space_id: str, *, depth: str | None = None, status: Iterable[str] | None = None,
                       body_format: str | None = None, sort: str | None = None,
                       title: str | None = None) -> Iterator[Page]:
        params = {"depth": depth, "status": status and list(status), "body-format": body_format, "sort": sort,
                  "title": title}
        return self._v2_list("getPagesInSpace", Page, params, id=space_id)

    def blogposts_in_space(self, space_id: str, *, status: Iterable[str] | None = None,
                           body_format: str | None = None, sort: str | None = None,
                           title: str | None = None) -> Iterator[BlogPost]:
        params = {"status": status and list(status), "body-format": body_format, "sort": sort, "title": title}
        return self._v2_list("getBlogPostsInSpace", BlogPost, params, id=space_id)

    def page(self, page_id: str, *, body_format: str | None = None, status: str | None = None,
             version: int | None = None, include: Iterable[str] = ()) -> Page:
        """One page; `include` names include-* flags (labels, properties, versions, ...)."""
        params = {"body-format": body_format, "status": status, "version": version,
                  **{f"include-{i}": True for i in include}}
        return self._get("getPageById", Page, params, id=page_id)

    def blogpost(self, blogpost_id: str, *, body_format: str | None = None, status: str | None = None,
                 version: int | None = None, include: Iterable[str] = ()) -> BlogPost:
        params = {"body-format": body_format, "status": status, "version": version,
                  **{f"include-{i}": True for i in include}}
        return self._get("getBlogPostById", BlogPost, params, id=blogpost_id)

    def versions(self, kind: str, content_id: str, *, body_format: str | None = None,
                 sort: str | None = None) -> Iterator[Version]:
        """Versions of a page or blog post (`kind`)."""
        params = {"body-format": body_format, "sort": sort}
        return self._v2_list(operation_for("versions", kind), Version, params, id=content_id)

    def labels_of(self, kind: str, content_id: str, *, prefix: str | None = None) -> Iterator[Label]:
        """Labels of a page, blog post or space (`kind`)."""
        return self._v2_list(operation_for("labels", kind), Label, {"prefix": prefix}, id=content_id)

    def properties_of(self, kind: str, content_id: str, *,
                      key: str | None = None) -> Iterator[ContentProperty]:
        """Content properties of a page or blog post (`kind`)."""
        name = operation_for("properties", kind)
        return self._v2_list(name, ContentProperty, {"key": key}, **{ID_NAME[name]: content_id})

    # -- the page tree ---------------------------------------------------------------------------
    def ancestors(self, kind: str, content_id: str) -> list[Ancestor]:
        """Ancestors of a page or folder, top first (the endpoint has no cursor: it is asked again
        from the highest ancestor found while a full page comes back)."""
        chain: list[Ancestor] = []
        while True:
            name = operation_for("ancestors", kind)
            body, _ = self._transport.request(name, "GET", OPERATIONS[name].site_path(id=content_id),
                                              params={"limit": V2_LIMIT})
            batch = [Ancestor.model_validate(item) for item in body.get("results") or []]
            chain = batch + chain
            if len(batch) < V2_LIMIT:
                return chain
            kind, content_id = batch[0].type or kind, batch[0].id

    def descendants(self, kind: str, content_id: str, *, depth: int | None = None) -> Iterator[Descendant]:
        """Items below a page or folder (pages, folders, ...), `depth` levels deep (API default 2, max 10)."""
        return self._v2_list(operation_for("descendants", kind), Descendant, {"depth": depth}, id=content_id)

    def direct_children(self, kind: str, content_id: str, *,
                        sort: str | None = None) -> Iterator[DirectChild]:
        return self._v2_list(operation_for("children", kind), DirectChild, {"sort": sort}, id=content_id)

    def folder(self, folder_id: str, *, include: Iterable[str] = ()) -> Folder:
        return self._get("getFolderById", Folder, {f"include-{i}": True for i in include}, id=folder_id)

    # -- comments -------------------------------------------------------------------------------
    def footer_comments(self, *, body_format: str | None = None,
                        sort: str | None = None) -> Iterator[FooterComment]:
        """Every footer comment of the site, replies included (with `parentCommentId`)."""
        return self._v2_list("getFooterComments", FooterComment, {"body-format": body_format, "sort": sort})

    def inline_comments(self, *, body_format: str | None = None,
                        sort: str | None = None) -> Iterator[InlineComment]:
        return self._v2_list("getInlineComments", InlineComment, {"body-format": body_format, "sort": sort})

    def footer_comments_of(self, kind: str, content_id: str, *, body_format: str | None = None,
                           status: Iterable[str] | None = None,
                           sort: str | None = None) -> Iterator[FooterComment]:
        """Root footer comments of a page or blog post (replies come from `comment_replies`)."""
        params = {"body-format": body_format, "status": status and list(status), "sort": sort}
        return self._v2_list(operation_for("footer", kind), FooterComment, params, id=content_id)

    def inline_comments_of(self, kind: str, content_id: str, *, body_format: str | None = None,
                           status: Iterable[str] | None = None, sort: str | None = None,
                           resolution_status: Iterable[str] | None = None) -> Iterator[InlineComment]:
        params = {"body-format": body_format, "status": status and list(status), "sort": sort,
                  "resolution-status": resolution_status and list(resolution_status)}
        return self._v2_list(operation_for("inline", kind), InlineComment, params, id=content_id)

    def comment_replies(self, comment_kind: str, comment_id: str, *, body_format: str | None = None,
                        sort: str | None = None) -> Iterator[FooterComment | InlineComment]:
        """Replies to a footer or inline comment (`comment_kind`)."""
        model = FooterComment if comment_kind == "footer" else InlineComment
        return self._v2_list(operation_for("replies", comment_kind), model,
                             {"body-format": body_format, "sort": sort}, id=comment_id)

    def comment(self, comment_kind: str, comment_id: str) -> FooterComment | InlineComment:
        """One footer or inline comment (`comment_kind`), whatever its status."""
        if comment_kind == "footer":
            return self._get("getFooterCommentById", FooterComment, **{"comment-id": comment_id})
        return self._get("getInlineCommentById", InlineComment, **{"comment-id": comment_id})

    # -- attachments ---------------------------------------------------------------------------
    def attachments(self, *, status: Iterable[str] | None = None, media_type: str | None = None,
                    filename: str | None = None, sort: str | None = None) -> Iterator[Attachment]:
        params = {"status": status and list(status), "mediaType": media_type, "filename": filename,
                  "sort": sort}
        return self._v2_list("getAttachments", Attachment, params)

    def attachments_of(self, kind: str, content_id: str, *, status: Iterable[str] | None = None,
                       media_type: str | None = None, filename: str | None = None,
                       sort: str | None = None) -> Iterator[Attachment]:
        params = {"status": status and list(status), "mediaType": media_type, "filename": filename,
                  "sort": sort}
        return self._v2_list(operation_for("attachments", kind), Attachment, params, id=content_id)

    def attachment(self, attachment_id: str) -> Attachment:
        return self._get("getAttachmentById", Attachment, id=attachment_id)

    def download_attachment(self, container_id: str, attachment_id: str, dest: str | os.PathLike[str], *,
                            version: int | None = None, status: str | None = None,
                            max_bytes: int = DEFAULT_MAX_DOWNLOAD) -> int:
        """Save an attachment's bytes to `dest` (atomically); returns the size. `status`: the
        attachment's (the operation looks for a current one unless told, so archived files need it).

        Uses v1's download operation, which answers 302 to the file; the hop is followed with the
        same auth when it stays on the site (relative, or absolute on the site or gateway host),
        and without it elsewhere (a pre-signed media URL must not receive our token).
        Raises `TooLarge` (keeping nothing) past `max_bytes`.
        """
        name = "downloadAttatchment"
        path = OPERATIONS[name].site_path(id=container_id, attachmentId=attachment_id)
        _, response = self._transport.request(name, "GET", path,
                                              params=query_params({"version": version, "status": status}),
                                              allow_redirects=False, consume=lambda r: None)
        if not response.is_redirect:
            raise ApiError(f"Confluence answered the download of attachment {attachment_id} with "
                           f"{response.status_code} instead of a redirect to the file: please report it",
                           status=response.status_code, url=response.url)
        target, same_site = redirect_target(response.headers["Location"], self.site_url,
                                            self._transport.root_url)
        destination = Path(dest)
        size, _ = self._transport.request(DOWNLOAD_HOP, "GET", target, stream=True, authenticate=same_site,
                                          consume=lambda r: save(r, destination, max_bytes, attachment_id,
                                                                 self._transport.stopped))
        return size

    # -- labels --------------------------------------------------------------------------------
    def labels(self, *, label_ids: Iterable[str] | None = None, prefixes: Iterable[str] | None = None,
               sort: str | None = None) -> Iterator[Label]:
        params = {"label-id": label_ids and list(label_ids), "prefix": prefixes and list(prefixes),
                  "sort": sort}
        return self._v2_list("getLabels", Label, params)
