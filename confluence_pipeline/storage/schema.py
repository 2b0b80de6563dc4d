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
    # the file's text as `Extracted.to_json()`, read from the download while the next files arrive;
    # for "<downloaded_version>/<EXTRACTION_VERSION>" (documents extracts again on any other key)
    ("extracted_text", "VARCHAR"), ("extracted_key", "VARCHAR"),
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


# -- directory, permissions, audit and the access model (confluence_pipeline.sync.directory and
# -- the steps it names, confluence_pipeline.access) ------------------------------------------------

USERS = Table("users", (
    ("account_id", "VARCHAR"), ("display_name", "VARCHAR"), ("public_name", "VARCHAR"),
    ("email", "VARCHAR"),  # NULL when the user hides it
    ("account_type", "VARCHAR"),  # atlassian (licensed) | app | customer | unknown
    ("account_status", "VARCHAR"), ("active", "BOOLEAN"), ("is_external_collaborator", "BOOLEAN"),
    ("personal_space_id", "VARCHAR"),
    ("is_sync_account", "BOOLEAN"),  # the account the pipeline syncs as
    ("synced_at", "TIMESTAMPTZ"), ("deleted_at", "TIMESTAMPTZ"),
), key=("account_id",), versioned=False)

GROUPS = Table("groups", (
    ("id", "VARCHAR"), ("name", "VARCHAR"), ("type", "VARCHAR"), ("usage_type", "VARCHAR"),
    ("managed_by", "VARCHAR"), ("member_count", "INTEGER"),
    ("members_loaded", "BOOLEAN"),  # FALSE: the last member listing failed; the group grants nobody
    ("synced_at", "TIMESTAMPTZ"), ("deleted_at", "TIMESTAMPTZ"),
), versioned=False)

GROUP_MEMBERS = Table("group_members", (
    ("group_id", "VARCHAR"), ("account_id", "VARCHAR"), ("synced_at", "TIMESTAMPTZ"),
), key=("group_id", "account_id"), versioned=False)

SPACE_PERMISSIONS = Table("space_permissions", (
    ("space_id", "VARCHAR"), ("id", "VARCHAR"),
    ("principal_type", "VARCHAR"),  # user | group | role | access-class
    ("principal_id", "VARCHAR"),  # account id, group id, role id or access class (ALL_LICENSED_USERS, ...)
    ("operation", "VARCHAR"), ("target_type", "VARCHAR"), ("synced_at", "TIMESTAMPTZ"),
), key=("space_id", "id"), versioned=False)

CONTENT_RESTRICTIONS = Table("content_restrictions", (
    ("content_id", "VARCHAR"), ("operation", "VARCHAR"),  # read | update
    ("principal_type", "VARCHAR"), ("principal_id", "VARCHAR"),  # user | group
    ("content_type", "VARCHAR"), ("principal_name", "VARCHAR"), ("synced_at", "TIMESTAMPTZ"),
), key=("content_id", "operation", "principal_type", "principal_id"), versioned=False)

# What the directory sync could read: a space's permissions, an item's restrictions (a group's
# members: groups.members_loaded). The access model denies whatever depends on a missing read.
DIRECTORY_READS = Table("directory_reads", (
    ("kind", "VARCHAR"),  # space_permissions | restrictions
    ("id", "VARCHAR"), ("ok", "BOOLEAN"), ("detail", "VARCHAR"), ("read_at", "TIMESTAMPTZ"),
), key=("kind", "id"), versioned=False)

AUDIT_LOG = Table("audit_log", (
    ("id", "VARCHAR"),  # records have none: a hash of the record's content (and its rank among equals)
    ("created_at", "TIMESTAMPTZ"), ("author_id", "VARCHAR"), ("author_name", "VARCHAR"),
    ("summary", "VARCHAR"), ("description", "VARCHAR"), ("category", "VARCHAR"), ("remote_address", "VARCHAR"),
    ("affected_name", "VARCHAR"), ("affected_type", "VARCHAR"),
    ("associated_objects", "VARCHAR"), ("changed_values", "VARCHAR"),  # JSON arrays
    ("sys_admin", "BOOLEAN"), ("super_admin", "BOOLEAN"),
    ("window_key", "VARCHAR"), ("synced_at", "TIMESTAMPTZ"),
), versioned=False)

# One row per clause of an item: a viewer must match some principal of every clause.
CONTENT_ACCESS = Table("content_access", (
    ("content_id", "VARCHAR"), ("clause", "INTEGER"),  # 0: the space's read permission; 1..: restrictions
    ("content_type", "VARCHAR"), ("space_id", "VARCHAR"),
    ("kind", "VARCHAR"),  # space | restriction | denied (something needed to decide is missing)
    ("source_type", "VARCHAR"), ("source_id", "VARCHAR"),  # space, or the restricted page/folder/blog post
    ("users", "VARCHAR[]"), ("groups", "VARCHAR[]"),
    ("licensed", "BOOLEAN"),  # every licensed (atlassian) user
    ("anonymous", "BOOLEAN"),  # anyone, signed in or not
    ("unresolved", "VARCHAR[]"),  # principals that grant nobody here: roles, unknown classes, unloaded groups
    ("reason", "VARCHAR"), ("built_at", "TIMESTAMPTZ"),
), key=("content_id", "clause"), versioned=False)

TABLES.update({t.name: t for t in (USERS, GROUPS, GROUP_MEMBERS, SPACE_PERMISSIONS, CONTENT_RESTRICTIONS,
                                   DIRECTORY_READS, AUDIT_LOG, CONTENT_ACCESS)})


# -- text and search (confluence_pipeline.search.documents; the index's own tables, which need no
# -- primary key, are created by confluence_pipeline.search.index) ------------------------------

# One row per chunk of every indexed item: its text split at headings, with what a hit shows.
DOCUMENTS = Table("documents", (
    ("chunk_id", "VARCHAR"),  # <content id>:<chunk index>
    ("content_id", "VARCHAR"), ("chunk_index", "INTEGER"),
    ("content_type", "VARCHAR"),  # page | blogpost | comment | attachment
    ("space_id", "VARCHAR"), ("space_key", "VARCHAR"), ("title", "VARCHAR"),
    ("breadcrumbs", "VARCHAR[]"),  # space name, ancestors, and a comment's or attachment's page
    ("headings", "VARCHAR[]"),  # the headings the chunk sits under, outermost first
    ("url", "VARCHAR"), ("modified_at", "TIMESTAMPTZ"), ("version", "INTEGER"), ("window_key", "VARCHAR"),
    ("markdown", "VARCHAR"), ("text", "VARCHAR"),
    ("text_hash", "VARCHAR"),  # of everything the search index takes from the chunk
    ("indexed_at", "TIMESTAMPTZ"),
), key=("chunk_id",), versioned=False)

# One row per indexed item: what it was built from (fingerprint) and how its text came out.
DOCUMENT_ITEMS = Table("document_items", (
    ("content_id", "VARCHAR"), ("content_type", "VARCHAR"), ("fingerprint", "VARCHAR"), ("version", "INTEGER"),
    ("window_key", "VARCHAR"), ("chunks", "INTEGER"), ("chars", "BIGINT"),
    ("text_status", "VARCHAR"),  # ok | empty | skipped (an attachment whose text could not be read)
    ("reason", "VARCHAR"),  # why skipped, or what was cut or repaired
    ("indexed_at", "TIMESTAMPTZ"),
), key=("content_id",), versioned=False)

TABLES.update({t.name: t for t in (DOCUMENTS, DOCUMENT_ITEMS)})
