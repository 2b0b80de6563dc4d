"""Every known way real Confluence Cloud responses differ from Atlassian's OpenAPI documents.

The recordings in tests/recordings/real/ (findings in tests/recordings/REAL.md) win over the spec. moto and
LocalStack keep such differences in one place; this is that place. The emulator's serializers
read it to know which undeclared fields they may emit and where null is allowed, and the tests'
OpenAPI validator (tests/openapi_check.py) reads it to allow exactly these differences.

An entry names where it applies: `schema` is a component schema of the spec, and `path` is a
dotted path inside it that does not go through a `$ref` except at its last object (`name[]`
steps into the items of the array `name`). The kinds:
- `extra_field`: the object at `path` minus its last step carries the undeclared key named by
  the last step; `value_schema` is the shape of its value (OpenAPI 3.0, `$ref`s into the spec).
- `enum_extension`: the enum at `path` also takes `values`.
- `nullable`: the field at `path` may be null although the spec does not say so.

`source` names the REAL.md section and the recording that shows it. Entries with
`in_recordings=False` rest on REAL.md's prose alone (the same object seen through another
endpoint); every other entry is needed by at least one file in real/ (tests/test_openapi_check.py).
Differences that need no entry because this spec already declares them: v1 search
`archivedResultCount`, v1 content `ari`/`base64EncodedAri` and v1 version `ncsStepVersion`/
`confRev` (v1 `Content` and `Version` allow extra keys), include-block `meta.cursor` and `_links.self`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

Kind = Literal["extra_field", "enum_extension", "nullable"]


@dataclass(frozen=True)
class Deviation:
    api: Literal["v1", "v2"]
    schema: str
    path: str
    kind: Kind
    source: str
    values: tuple[str, ...] = ()
    value_schema: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    in_recordings: bool = True

    def __str__(self) -> str:
        return f"{self.kind} {self.api} {self.schema}.{self.path}"

    @property
    def field_name(self) -> str:
        return self.path.rpartition(".")[2]

    @property
    def parent_path(self) -> str:
        return self.path.rpartition(".")[0]


STRING = {"type": "string"}
NAMED_ENTITY = {"$ref": "#/components/schemas/VersionedEntity"}
SPACE_OPERATION_KEYS = ("archive_space", "export_content", "manage_content", "manage_guest_users",
                        "manage_nonlicensed_users", "manage_public_links", "manage_templates",
                        "manage_users")


def _extra(api: Literal["v1", "v2"], schema: str, path: str, value_schema: Mapping[str, Any],
           source: str, *, in_recordings: bool = True) -> Deviation:
    return Deviation(api, schema, path, "extra_field", source, value_schema=value_schema,
                     in_recordings=in_recordings)


def _nullable(api: Literal["v1", "v2"], schema: str, path: str, source: str) -> Deviation:
    return Deviation(api, schema, path, "nullable", source)


DEVIATIONS: tuple[Deviation, ...] = (
    # v2 pages and blog posts
    _extra("v2", "Version", "ncsStepVersion", {"type": "string", "nullable": True, "pattern": "^[0-9]+$"},
           "REAL.md §3 version: null or a numeric string, absent on comments/attachments/properties; "
           "nango-v2-pages-list-nobody.test.json, text2confl-v2-page-update-response.json"),
    _nullable("v2", "Version", "message",
              "REAL.md §3 version: message null after a title PUT; "
              "text2confl-v2-page-title-update-body-null.json"),
    _extra("v2", "AbstractPageLinks", "edituiv2", STRING,
           "REAL.md §4 item _links: /spaces/KEY/pages/edit-v2/ID on pages and blog posts; "
           "nango-v2-pages-list-nobody.test.json, nango-v2-blogposts-list-storage.test.json"),
    _extra("v2", "PageBulk", "sourceTemplateEntityId", STRING,
           "REAL.md §3 page: only on pages made from blueprints; nango-v2-pages-list-nobody.test.json"),
    _extra("v2", "PageSingle", "sourceTemplateEntityId", STRING,
           "REAL.md §3 page (the same page fetched by id; only lists were recorded)", in_recordings=False),
    _nullable("v2", "PageBulk", "parentId",
              "REAL.md §3 page: null at the space root; nango-v2-pages-list-nobody.test.json"),
    _nullable("v2", "PageBulk", "parentType",
              "REAL.md §3 page: null at the space root; nango-v2-pages-list-nobody.test.json"),
    _nullable("v2", "PageSingle", "parentId",
              "REAL.md §3 page: null at the space root; text2confl-v2-space-homepage-get.json"),
    _nullable("v2", "PageSingle", "parentType",
              "REAL.md §3 page: null at the space root; text2confl-v2-space-homepage-get.json"),
    _nullable("v2", "PageSingle", "body",
              "REAL.md §3 body: null in the PUT /pages/{id}/title response; "
              "text2confl-v2-page-title-update-body-null.json"),
    _extra("v2", "PageSingle", "likes.meta.count", {"type": "integer"},
           "REAL.md §3 include-* blocks: count on likes only; nango-v2-page-get-include-all.test.json"),
    _extra("v2", "PageSingle", "versions.results[].page", NAMED_ENTITY,
           "REAL.md §3 include-* blocks: include-versions items name their page {id, title, body}; "
           "nango-v2-page-get-include-all.test.json"),
    # v2 comments
    _extra("v2", "FooterCommentModel", "resolutionStatus", STRING,
           "REAL.md §3 footer comment: resolutionStatus \"open\"; nango-v2-footer-comments-list.test.json, "
           "nango-v2-footer-comment-get.test.json"),
    _extra("v2", "PageCommentModel", "resolutionStatus", STRING,
           "REAL.md §3 footer comment, also on /pages/{id}/footer-comments; "
           "nango-v2-page-footer-comments-list.test.json"),
    _extra("v2", "InlineCommentModel", "properties.inline-marker-ref", STRING,
           "REAL.md §3 inline comment: properties has four keys, two deprecated kebab-case ones; "
           "nango-v2-inline-comments-list-deprecation-warning.test.json"),
    _extra("v2", "InlineCommentModel", "properties.inline-original-selection", STRING,
           "REAL.md §3 inline comment: properties has four keys, two deprecated kebab-case ones; "
           "nango-v2-inline-comments-list-deprecation-warning.test.json"),
    _extra("v2", "InlineCommentProperties", "inline-marker-ref", STRING,
           "REAL.md §3 inline comment (PageInlineCommentModel; the recorded page list was empty)",
           in_recordings=False),
    _extra("v2", "InlineCommentProperties", "inline-original-selection", STRING,
           "REAL.md §3 inline comment (PageInlineCommentModel; the recorded page list was empty)",
           in_recordings=False),
    # v2 attachments
    _nullable("v2", "AttachmentBulk", "mediaTypeDescription",
              "REAL.md §3 attachment: often null; nango-v2-attachments-list.test.json"),
    _nullable("v2", "AttachmentSingle", "mediaTypeDescription",
              "REAL.md §3 attachment: often null; nango-v2-attachment-get-include-all.test.json"),
    _extra("v2", "AttachmentSingle", "collaborators",
           {"type": "array", "items": {"type": "object", "properties": {"accountId": STRING}}},
           "REAL.md §3 attachment: include-collaborators gives a bare [{accountId}]; "
           "nango-v2-attachment-get-include-all.test.json"),
    _extra("v2", "AttachmentSingle", "versions.results[].attachment", NAMED_ENTITY,
           "REAL.md §3 include-* blocks: include-versions items name their attachment {id, title, body}; "
           "nango-v2-attachment-get-include-all.test.json"),
    # v2 spaces
    _nullable("v2", "SpaceBulk", "description",
              "REAL.md §3 space: description null in lists; nango-v2-spaces-list.test.json"),
    _nullable("v2", "SpaceBulk", "icon",
              "REAL.md §3 space: icon null in lists; nango-v2-spaces-list.test.json"),
    _extra("v2", "SpaceSingle", "currentActiveAlias", STRING,
           "REAL.md §3 space: also on the single GET; nango-v2-space-get-include-all.test.json"),
    Deviation("v2", "SpacePermissionAssignment", "principal.type", "enum_extension",
              "REAL.md §7 space permissions exceed the spec enums; nango-v2-space-get-include-all.test.json",
              values=("access-class",)),
    Deviation("v2", "SpacePermissionAssignment", "operation.key", "enum_extension",
              "REAL.md §7 space permissions exceed the spec enums; nango-v2-space-get-include-all.test.json",
              values=SPACE_OPERATION_KEYS),
    # v1
    _extra("v1", "Content", "_expandable.draftVersion", STRING,
           "REAL.md §7 v1 content; text2confl-v1-content-create-response.json"),
    _extra("v1", "ContentHistory", "contributors._expandable",
           {"type": "object", "properties": {"publishers": STRING}},
           "REAL.md §7 v1 content: expanded history.contributors is only {_expandable: {publishers}}; "
           "airbyte-v1-content-audit-group-records-excerpt.jsonl"),
    _extra("v1", "BulkUserLookup", "accountStatus", STRING,
           "REAL.md §7 v1 users carry accountStatus (text2confl-v1-content-create-response.json, version.by); "
           "the bulk lookup returns the same user object", in_recordings=False),
    _extra("v1", "Space", "_expandable.roles", STRING,
           "SOURCE.md §4 (real _expandable key sets); mcp-atlassian-v1-anonymized-mocks.json"),
    # v2 single-object bodies: the spec lets body-format be any PrimaryBodyRepresentationSingle, but
    # BodySingle declares only storage, atlas_doc_format and view; the answer is keyed by the format asked.
    *(_extra("v2", "BodySingle", name, {"$ref": "#/components/schemas/BodyType"},
             "REAL.md §3 bodies are keyed by the representation asked for (storage in the recordings); "
             "openapi-v2.json PrimaryBodyRepresentationSingle lists this body-format for GET /pages/{id}",
             in_recordings=False)
      for name in ("export_view", "anonymous_export_view", "styled_view", "editor")),
)


def for_api(api: str) -> tuple[Deviation, ...]:
    return tuple(d for d in DEVIATIONS if d.api == api)


def extra_fields(schema: str, path: str = "") -> set[str]:
    """Undeclared keys real responses carry on the object at `path` of `schema`,
    e.g. extra_fields("PageBulk") == {"sourceTemplateEntityId"}."""
    return {d.field_name for d in DEVIATIONS
            if d.kind == "extra_field" and d.schema == schema and d.parent_path == path}


def enum_extensions(schema: str, path: str) -> set[str]:
    """Values beyond the spec's enum that real responses use at `path` of `schema`."""
    return {value for d in DEVIATIONS
            if d.kind == "enum_extension" and d.schema == schema and d.path == path for value in d.values}


def nullable_fields(schema: str) -> set[str]:
    """Paths in `schema` that real responses send as null although the spec does not allow it."""
    return {d.path for d in DEVIATIONS if d.kind == "nullable" and d.schema == schema}


@dataclass(frozen=True)
class Behaviour:
    """A choice about how Cloud answers where the specs are silent or wrong, and its evidence."""

    topic: str
    choice: str
    source: str


BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour("v1 content reads under OAuth",
              "GET /wiki/rest/api/content, /content/{id}, /content/{id}/child/comment, /child/attachment and "
              "/space answer 410 GoneException 'This deprecated endpoint has been removed.' through "
              "api.atlassian.com/ex/confluence/{cloudId}",
              "errors-observed-collection.json (atlassian-python-api#1560, mcp-atlassian#474, "
              "confluence-markdown-exporter#207: 410 only through the gateway), FACTS.md §11"),
    Behaviour("v1 content reads with basic auth on the site",
              "served (v1 shapes, offset paging) with the Warning: 299 - \"Deprecated API, will be removed on "
              "Mon, 2 Dec 2024 00:00:00 GMT\" header real Cloud sent on GET /wiki/rest/api/content",
              "errors-observed-collection.json (kovetskiy/mark#493); the same reports say the site host still "
              "answers; omar16100/atlassian-cli#122 (child/comment with an API token, Aug 2026); "
              "mcp-atlassian-v1-anonymized-mocks.json (comment and space list shapes)"),
    Behaviour("410 body",
              "{statusCode: 410, data: {authorized: true, valid: false, errors: [], successful: false}, "
              "message: 'com.atlassian.confluence.api.service.exceptions.GoneException: ...'}: the message is "
              "quoted verbatim; the data flags follow the recorded 404/409 bodies (no 410 body was recorded)",
              "errors-observed-collection.json"),
    Behaviour("rendered body formats",
              "view, export_view (absolute links), styled_view (a styled HTML document), editor and "
              "anonymous_export_view are HTML rendered from storage; atlas_doc_format is ADF converted from "
              "storage (paragraphs, headings, lists, tables, marks, links, code, panels, status, mentions, "
              "emoji, tasks, layouts, images; other macros as extension/bodiedExtension). Cloud's renderer "
              "adds markup (macro chrome, resource links) the emulator leaves out; editor is the view HTML, "
              "not the legacy TinyMCE markup",
              "openapi-v1.json ContentBody / openapi-v2.json BodySingle list the formats; airbyte excerpt "
              "(storage + view of one page); storage-real-*.xhtml"),
    Behaviour("request statistics",
              "/__emulator__/stats `received` counts every API request by operation and status, refused ones "
              "(routing 404, 401/403, 410, 429) included; `by_operation`/`total_requests` stay the served ones",
              "FACTS.md §6: rate limiting counts every request"),
)
