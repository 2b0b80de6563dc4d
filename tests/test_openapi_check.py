"""The strict OpenAPI validator, checked against real Confluence Cloud recordings and by hand.

Every real recording in tests/recordings/real/ must validate with zero violations once
emulator/deviations.py is applied, except for the few places where the recording's publisher
edited the body (listed below with the reason), and every deviation entry must be needed by a
recording unless it says it rests on REAL.md's prose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Mapping

import pytest
from openapi_check import (Check, api_of, check_response, check_schema, operation_for, validate_http,
                           validate_response)

from confluence_pipeline.emulator import deviations

REAL = Path(__file__).parent / "recordings" / "real"  # real Confluence Cloud bodies; REAL.md beside it

# Bodies the text2confl tests serve for these operations (real/SOURCE.md §2).
TEXT2CONFL_OPERATIONS = {
    "text2confl-v2-page-create-response.json": ("v2", "createPage", 200),
    "text2confl-v2-page-update-response.json": ("v2", "updatePage", 200),
    "text2confl-v2-page-title-update-body-null.json": ("v2", "updatePageTitle", 200),
    "text2confl-v2-page-attachments-with-next.json": ("v2", "getPageAttachments", 200),
    "text2confl-v2-page-attachments-2.json": ("v2", "getPageAttachments", 200),
    "text2confl-v2-page-labels.json": ("v2", "getPageLabels", 200),
    "text2confl-v2-page-properties.json": ("v2", "getPageContentProperties", 200),
    "text2confl-v2-space-homepage-get.json": ("v2", "getPageById", 200),
    "text2confl-v2-spaces-by-key.json": ("v2", "getSpaces", 200),
    "text2confl-v2-spaces-large-id.json": ("v2", "getSpaces", 200),
    "text2confl-v1-attachment-upload-response.json": ("v1", "createAttachment", 200),
    "text2confl-v1-search-user.json": ("v1", "searchUser", 200),
    "text2confl-v1-search-user-400-bad-cql.json": ("v1", "searchUser", 400),
}
# v1 content and space endpoints are not in Atlassian's current v1 document: such bodies are
# checked against the component schema the document still defines for them.
MCP_MOCKS = {
    "MOCK_CQL_SEARCH_RESPONSE": ("operation", "searchByCQL"),
    "MOCK_PAGE_RESPONSE": ("schema", "Content"),
    "MOCK_COMMENTS_RESPONSE": ("schema", "ContentArray"),
    "MOCK_SPACES_RESPONSE": ("schema", "SpaceArray"),
}
AIRBYTE_STREAM_SCHEMAS = {"audit": "AuditRecord", "pages": "Content", "group": "Group"}
NOT_VALIDATED = {
    "SOURCE.md": "provenance notes",
    "errors-observed-collection.json": "error bodies; neither spec declares an error body schema",
}

# Violations that come from the publisher's edits, not from Confluence (real/SOURCE.md).
PUBLISHER_EDITS = {
    # ANON, and trimmed by its author: real user-search results carry these keys (and a fuller user).
    "text2confl-v1-search-user.json": {
        "$: '_links' is a required property",
        "$: 'searchDuration' is a required property",
        "$.results[0]: 'breadcrumbs' is a required property",
        "$.results[0]: 'excerpt' is a required property",
        "$.results[0]: 'iconCssClass' is a required property",
        "$.results[0]: 'lastModified' is a required property",
        "$.results[0]: 'url' is a required property",
    },
    # ANON, edited by hand: the attachment child list and the comment list lost their paging keys.
    "mcp-atlassian-v1-anonymized-mocks.json MOCK_PAGE_RESPONSE": {
        "$.children.attachment: '_links' is a required property",
        "$.children.attachment: 'size' is a required property",
    },
    "mcp-atlassian-v1-anonymized-mocks.json MOCK_COMMENTS_RESPONSE": {
        "$: '_links' is a required property",
        "$: 'size' is a required property",
    },
    # Airbyte's TypeTransformer turned the int64 epoch milliseconds into a string.
    "airbyte-v1-content-audit-group-records-excerpt.jsonl audit": {
        "$.creationDate: '1686026712358' is not of type 'integer'",
    },
}


@dataclass(frozen=True)
class Recording:
    label: str  # the file, and which body in it
    file: str
    api: str
    target: str  # an operationId, or a component schema name when `by_schema`
    body: Any
    status: int = 200
    headers: Mapping[str, str] | None = None
    by_schema: bool = False

    def check(self) -> Check:
        if self.by_schema:
            return check_schema(self.api, self.target, self.body)
        return check_response(self.api, self.target, self.body, status=self.status, headers=self.headers)


@cache
def recordings() -> tuple[Recording, ...]:
    found: list[Recording] = []
    for path in sorted(REAL.glob("nango-*.test.json")):
        # `input`/`output` are Nango's own models; `api.<method>.<path>` holds Confluence's answer.
        for method, exchanges in json.loads(path.read_text())["api"].items():
            for url_path, exchange in exchanges.items():
                if "/wiki/" not in url_path:
                    continue  # accessible-resources and Nango's own metadata call: in neither spec
                api = api_of(url_path)
                found.append(Recording(f"{path.name} {method.upper()} {url_path}", path.name, api,
                                       operation_for(api, method, url_path), exchange["response"],
                                       exchange["status"], exchange["headers"]))
    for name, (api, operation_id, status) in TEXT2CONFL_OPERATIONS.items():
        found.append(Recording(name, name, api, operation_id, json.loads((REAL / name).read_text()), status))
    name = "text2confl-v1-content-create-response.json"
    found.append(Recording(name, name, "v1", "Content", json.loads((REAL / name).read_text()),
                           by_schema=True))
    name = "mcp-atlassian-v1-anonymized-mocks.json"
    mocks = json.loads((REAL / name).read_text())
    for mock, (kind, target) in MCP_MOCKS.items():
        found.append(Recording(f"{name} {mock}", name, "v1", target, mocks[mock], by_schema=kind == "schema"))
    name = "airbyte-v1-content-audit-group-records-excerpt.jsonl"
    for line in (REAL / name).read_text().splitlines():
        record = json.loads(line)
        found.append(Recording(f"{name} {record['stream']}", name, "v1",
                               AIRBYTE_STREAM_SCHEMAS[record["stream"]], record["data"], by_schema=True))
    return tuple(found)


@cache
def checks() -> dict[str, Check]:
    return {r.label: r.check() for r in recordings()}


def files_needing(deviation: deviations.Deviation) -> set[str]:
    return {r.file for r in recordings() if deviation in checks()[r.label].deviations_used}


def test_every_json_recording_is_validated() -> None:
    # The .xhtml/.html files are storage-format bodies, not API responses.
    covered = {r.file for r in recordings()} | set(NOT_VALIDATED)
    data_files = {p.name for p in REAL.iterdir() if p.suffix in (".json", ".jsonl", ".md")}
    assert data_files - covered == set()


@pytest.mark.parametrize("recording", recordings(), ids=lambda r: r.label)
def test_recording_conforms_once_deviations_apply(recording: Recording) -> None:
    assert set(checks()[recording.label].violations) == PUBLISHER_EDITS.get(recording.label, set())


def test_the_catalogue_reaches_every_kind_of_recording() -> None:
    targets = {(r.api, r.target) for r in recordings()}
    assert {("v2", "getPageById"), ("v2", "getSpaceById"), ("v2", "getInlineComments"),
            ("v1", "searchByCQL"), ("v1", "Content"), ("v1", "AuditRecord")} <= targets
    assert len(recordings()) == 44


@pytest.mark.parametrize("deviation", deviations.DEVIATIONS, ids=str)
def test_each_deviation_is_needed_by_the_recording_it_cites(deviation: deviations.Deviation) -> None:
    needed_by = files_needing(deviation)
    if deviation.in_recordings:
        assert needed_by, f"{deviation} is needed by no recording: drop it or mark it in_recordings=False"
        assert any(name in deviation.source for name in needed_by), (
            f"{deviation} cites none of the recordings that need it: {sorted(needed_by)}")
    else:
        assert not needed_by, f"{deviation} is needed by {sorted(needed_by)}: cite it, in_recordings=True"
        assert "REAL.md" in deviation.source
    assert deviation.source.startswith(("REAL.md §", "SOURCE.md §"))


# --------------------------------------------------------------------------------------------
# Hand-made bodies: what the validator reports


def page(**fields: Any) -> dict[str, Any]:
    return {"id": "11", "status": "current", "title": "Home", "spaceId": "22", "parentId": "10",
            "parentType": "page", "position": 0, "authorId": "u1", "ownerId": "u1", "lastOwnerId": None,
            "createdAt": "2026-03-19T14:23:47.640Z",
            "version": {"number": 1, "message": "", "minorEdit": False, "authorId": "u1",
                        "createdAt": "2026-03-19T14:23:47.640Z"},
            "body": {}, "_links": {"webui": "/spaces/S/pages/11/Home", "editui": "/e", "tinyui": "/x/a"},
            **fields}


def test_a_conforming_page_has_no_violations() -> None:
    body = {"results": [page()], "_links": {"base": "https://s/wiki"}}
    assert validate_response("v2", "getPages", body) == []


def test_undeclared_fields_are_reported_with_their_path() -> None:
    body = {"results": [page(colour="red", version={**page()["version"], "by": "u1"})], "_links": {}}
    assert validate_response("v2", "getPages", body) == [
        "undeclared field $.results[0].version.by", "undeclared field $.results[0].colour"]


def test_a_wrong_type_is_reported() -> None:
    assert validate_response("v2", "getPageById", page(position="first")) == [
        "$.position: 'first' is not of type 'integer'"]


def test_a_missing_required_field_is_reported() -> None:
    body = {"results": [], "start": 0, "limit": 25, "size": 0, "totalSize": 0, "searchDuration": 3,
            "_links": {"base": "https://s/wiki", "context": "/wiki"}}
    assert validate_response("v1", "searchByCQL", body) == ["$: 'cqlQuery' is a required property"]


def test_all_of_branches_are_merged_before_deciding_what_is_declared() -> None:
    links = {"webui": "/w", "editui": "/e", "tinyui": "/t", "base": "https://s/wiki"}
    # getPageById is allOf(PageSingle, {_links: {base}}): both branches declare parts of _links.
    assert validate_response("v2", "getPageById", page(_links=links)) == []
    # A list item (PageBulk) has no such branch, so `base` is undeclared there.
    assert validate_response("v2", "getPages", {"results": [page(_links=links)]}) == [
        "undeclared field $.results[0]._links.base"]


def test_a_free_form_value_and_a_declared_map_accept_any_key() -> None:
    prop = {"id": "5", "key": "k", "value": {"any": {"json": [1]}},
            "version": {"number": 1, "message": "", "minorEdit": False, "authorId": "u1",
                        "createdAt": "2026-03-19T14:23:47.640Z"}}
    assert validate_response("v2", "getPageContentProperties", {"results": [prop]}) == []
    v1_links = {"base": "https://s/wiki", "context": "/wiki", "next": "/rest/api/search?cursor=c"}
    body = {"results": [], "start": 0, "limit": 25, "size": 0, "totalSize": 0, "cqlQuery": "type=page",
            "searchDuration": 3, "_links": v1_links}
    assert validate_response("v1", "searchByCQL", body) == []


def test_listed_deviations_pass_and_only_where_listed() -> None:
    recorded = page(sourceTemplateEntityId="com.example:blueprint", parentId=None, parentType=None,
                    version={**page()["version"], "ncsStepVersion": None},
                    _links={**page()["_links"], "edituiv2": "/spaces/S/pages/edit-v2/11"})
    assert validate_response("v2", "getPages", {"results": [recorded]}) == []
    comment = {"id": "7", "status": "current", "title": "Re: Home", "pageId": "11",
               "version": {**page()["version"], "ncsStepVersion": "1"}, "resolutionStatus": "open",
               "sourceTemplateEntityId": "x", "_links": {"webui": "/w"}}
    assert validate_response("v2", "getFooterComments", {"results": [comment]}) == [
        "undeclared field $.results[0].sourceTemplateEntityId"]
    # PageSingle's include-versions items may name their page; a page's own version may not.
    versions = {"results": [{**page()["version"], "page": {"id": "11", "title": "Home", "body": {}}}],
                "meta": {"hasMore": False}, "_links": {"self": "/api/v2/pages/11/versions"}}
    assert validate_response("v2", "getPageById", page(versions=versions)) == []
    assert validate_response("v2", "getPageById", page(version=versions["results"][0])) == [
        "undeclared field $.version.page"]


def test_a_listed_nullability_does_not_make_every_field_nullable() -> None:
    assert validate_response("v2", "getPages", {"results": [page(title=None)]}) == [
        "$.results[0].title: None for not nullable"]


def test_enum_extensions_widen_only_the_listed_enum() -> None:
    def space(principal_type: str, operation_key: str) -> dict[str, Any]:
        permission = {"id": "1", "principal": {"type": principal_type, "id": "ALL_LICENSED_USERS"},
                      "operation": {"key": operation_key, "targetType": "space"}}
        return {"id": "3", "key": "S", "name": "S", "type": "global", "status": "current",
                "permissions": {"results": [permission], "meta": {"hasMore": False}}}
    assert validate_response("v2", "getSpaceById", space("access-class", "manage_templates")) == []
    assert validate_response("v2", "getSpaceById", space("martian", "read")) == [
        "$.permissions.results[0].principal.type: 'martian' is not one of "
        "['user', 'group', 'role', 'access-class']"]


def test_declared_headers_must_be_present_when_headers_are_given() -> None:
    body = {"results": [], "_links": {"base": "https://s/wiki"}}
    assert validate_response("v2", "getPages", body, headers={}) == ["missing header Link"]
    assert validate_response("v2", "getPages", body, headers={"link": '<https://s/wiki>; rel="base"'}) == []
    assert validate_response("v2", "getPages", body) == []


def test_status_and_empty_bodies() -> None:
    assert validate_response("v2", "deletePage", None, status=204) == []
    assert validate_response("v2", "deletePage", {"id": "1"}, status=204) == [
        "deletePage answers 204 with no body, got {'id': '1'}"]
    assert validate_response("v2", "getPageById", page(), status=418) == [
        "status 418 is not declared for getPageById (declared: 200, 400, 401, 404)"]


def test_unknown_operations_and_apis_are_errors_not_violations() -> None:
    with pytest.raises(LookupError, match="getPagez"):
        validate_response("v2", "getPagez", {})
    with pytest.raises(ValueError, match="v3"):
        validate_response("v3", "getPages", {})


# --------------------------------------------------------------------------------------------
# Mapping requests to operations


@pytest.mark.parametrize(("api", "method", "path", "operation_id"), [
    ("v2", "GET", "/wiki/api/v2/pages", "getPages"),
    ("v2", "GET", "/wiki/api/v2/pages/123", "getPageById"),
    ("v2", "PUT", "/wiki/api/v2/pages/123", "updatePage"),
    ("v2", "GET", "/wiki/api/v2/pages/123/footer-comments", "getPageFooterComments"),
    ("v2", "GET", "/wiki/api/v2/spaces/9/permissions", "getSpacePermissionsAssignments"),
    ("v2", "GET", "/wiki/api/v2/attachments/att295053?include-labels=true", "getAttachmentById"),
    ("v2", "GET", "/ex/confluence/0777-cloud/wiki/api/v2/pages/1/children", "getChildPages"),
    ("v1", "GET", "/wiki/rest/api/search", "searchByCQL"),
    ("v1", "GET", "https://s.atlassian.net/wiki/rest/api/search/user?cql=x", "searchUser"),
    ("v1", "GET", "/wiki/rest/api/content/123/restriction", "getRestrictions"),
    ("v1", "GET", "/wiki/rest/api/group/abc/membersByGroupId", "getGroupMembersByGroupId"),
    ("v1", "GET", "/wiki/rest/api/user/bulk", "getBulkUserLookup"),
    ("v1", "GET", "/wiki/rest/api/audit", "getAuditRecords"),
    # A literal segment wins over a path parameter.
    ("v1", "GET", "/wiki/rest/api/template/page", "getContentTemplates"),
    ("v1", "GET", "/wiki/rest/api/template/123", "getContentTemplate"),
])
def test_operation_for(api: str, method: str, path: str, operation_id: str) -> None:
    assert operation_for(api, method, path) == operation_id


def test_operation_for_an_unknown_path_names_it() -> None:
    with pytest.raises(LookupError, match="/wiki/api/v2/nowhere"):
        operation_for("v2", "GET", "/wiki/api/v2/nowhere")
    with pytest.raises(LookupError, match="/oauth/token"):
        validate_http("POST", "/oauth/token", 200, {})


def test_validate_http_picks_the_api_and_operation_from_the_path() -> None:
    assert validate_http("GET", "/wiki/api/v2/pages/11", 200, page(colour="red")) == [
        "undeclared field $.colour"]
    assert validate_http("GET", "/wiki/rest/api/search", 200, {}) != []


# --------------------------------------------------------------------------------------------
# The deviations list's helpers, which the emulator's serializers use


def test_deviation_helpers() -> None:
    assert deviations.extra_fields("PageBulk") == {"sourceTemplateEntityId"}
    assert deviations.extra_fields("Version") == {"ncsStepVersion"}
    assert deviations.extra_fields("InlineCommentModel", "properties") == {
        "inline-marker-ref", "inline-original-selection"}
    assert deviations.enum_extensions("SpacePermissionAssignment", "principal.type") == {"access-class"}
    assert "manage_templates" in deviations.enum_extensions("SpacePermissionAssignment", "operation.key")
    assert deviations.nullable_fields("PageBulk") == {"parentId", "parentType"}
    assert {d.api for d in deviations.for_api("v1")} == {"v1"}
