"""The warehouse schema, in one place.

Each table is a list of (column, DuckDB type); the first columns named in `key` form the
primary key. Adding a column here is all a schema change takes: `Warehouse` adds missing
columns to an existing file with ALTER TABLE, so existing rows survive (with NULL in the new
column until the next sync fills it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...] = ("id",)
    versioned: bool = True  # upserts keep the row with the highest `version`

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]


_SYNC = (("window_key", "VARCHAR"), ("synced_at", "TIMESTAMPTZ"), ("deleted_at", "TIMESTAMPTZ"),
         ("in_scope", "BOOLEAN"))
_CONTENT = (("id", "VARCHAR"), ("space_id", "VARCHAR"), ("status", "VARCHAR"), ("title", "VARCHAR"),
            ("version", "INTEGER"), ("created_at", "TIMESTAMPTZ"), ("modified_at", "TIMESTAMPTZ"),
            ("author_id", "VARCHAR"), ("version_author_id", "VARCHAR"))
_TREE = (("parent_id", "VARCHAR"), ("parent_type", "VARCHAR"), ("position", "BIGINT"),
         ("ancestor_ids", "VARCHAR[]"), ("ancestor_titles", "VARCHAR[]"))

SPACES = Table("spaces", (
    ("id", "VARCHAR"), ("key", "VARCHAR"), ("name", "VARCHAR"), ("type", "VARCHAR"), ("status", "VARCHAR"),
    ("author_id", "VARCHAR"), ("created_at", "TIMESTAMPTZ"), ("homepage_id", "VARCHAR"),
    ("description", "VARCHAR"), ("web_url", "VARCHAR"), ("synced_at", "TIMESTAMPTZ"), ("deleted_at", "TIMESTAMPTZ"),
    ("in_scope", "BOOLEAN"),
), versioned=False)

PAGES = Table("pages", _CONTENT + _TREE + (
    ("owner_id", "VARCHAR"), ("body_storage", "VARCHAR"), ("web_url", "VARCHAR"),
) + _SYNC)

BLOGPOSTS = Table("blogposts", _CONTENT + (
    ("body_storage", "VARCHAR"), ("web_url", "VARCHAR"),
) + _SYNC)

FOLDERS = Table("folders", _CONTENT + _TREE + (("web_url", "VARCHAR"),) + _SYNC)

COMMENTS = Table("comments", _CONTENT + (
    ("kind", "VARCHAR"),  # footer | inline
    ("container_id", "VARCHAR"), ("container_type", "VARCHAR"), ("parent_comment_id", "VARCHAR"),
    ("resolution_status", "VARCHAR"), ("inline_marker_ref", "VARCHAR"), ("inline_original_selection", "VARCHAR"),
    ("body_storage", "VARCHAR"), ("web_url", "VARCHAR"),
) + _SYNC)

ATTACHMENTS = Table("attachments", _CONTENT + (
    ("container_id", "VARCHAR"), ("container_type", "VARCHAR"), ("media_type", "VARCHAR"), ("file_size", "BIGINT"),
    ("file_id", "VARCHAR"), ("comment", "VARCHAR"), ("download_link", "VARCHAR"), ("web_url", "VARCHAR"),
    ("local_path", "VARCHAR"), ("downloaded_version", "INTEGER"),  # set by the download, kept by upserts
) + _SYNC)

LABELS = Table("labels", (
    ("content_id", "VARCHAR"), ("label_id", "VARCHAR"), ("content_type", "VARCHAR"), ("name", "VARCHAR"),
    ("prefix", "VARCHAR"), ("window_key", "VARCHAR"), ("synced_at", "TIMESTAMPTZ"), ("deleted_at", "TIMESTAMPTZ"),
), key=("content_id", "label_id"), versioned=False)

SYNC_STATE = Table("sync_state", (
    ("key", "VARCHAR"), ("value", "VARCHAR"), ("updated_at", "TIMESTAMPTZ"),
), key=("key",), versioned=False)

TABLES: dict[str, Table] = {t.name: t for t in (SPACES, PAGES, BLOGPOSTS, FOLDERS, COMMENTS, ATTACHMENTS, LABELS,
                                                  SYNC_STATE)}
CONTENT_TABLES = ("pages", "blogposts", "folders", "comments", "attachments")
