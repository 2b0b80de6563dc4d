"""Strict validation of emulator (and recorded) responses against Atlassian's OpenAPI documents.

Two checks, both reported as human-readable violations:
- the body against the response schema (OpenAPI 3.0 semantics: `nullable`, `readOnly`, `$ref`,
  `allOf`/`oneOf`/`anyOf`, enums, formats), by openapi-schema-validator;
- strictness: every object key must be declared by the schema. Atlassian's schemas leave
  `additionalProperties` open, but the real API sends nothing beyond what they declare, except
  the known deviations in `confluence_pipeline.emulator.deviations`. `allOf` branches are merged
  before deciding what is declared. An object schema that declares neither `properties` nor
  `additionalProperties` (a free-form JSON value such as a property's `value`) is not checked.

The deviations are applied by patching a private copy of each spec, so both checks see them,
and each patched schema is tagged with its deviation so a check can report which ones it needed.

    from openapi_check import validate_http, validate_response
    assert validate_response("v2", "getPageById", body, headers=headers) == []
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker

from confluence_pipeline.emulator import deviations
from confluence_pipeline.emulator.deviations import Deviation

SPEC_DIR = Path(deviations.__file__).parent / "spec"
API_PREFIX = {"v2": "/wiki/api/v2", "v1": ""}  # v1 spec paths already start with /wiki/rest/api
TAG = "x-deviation"  # index into deviations.DEVIATIONS, set on every schema a deviation patched
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

Schema = dict[str, Any]


@dataclass(frozen=True)
class Check:
    violations: list[str]
    deviations_used: tuple[Deviation, ...]


def validate_response(api: str, operation_id: str, body: object, *, status: int = 200,
                      headers: Mapping[str, str] | None = None) -> list[str]:
    """Violations of `body` (and `headers`, when given) against the operation's response for
    `status`; an empty list means the response conforms."""
    return check_response(api, operation_id, body, status=status, headers=headers).violations


def operation_for(api: str, method: str, path: str) -> str:
    """The spec's operationId for a concrete request, e.g. ("v2", "GET", "/wiki/api/v2/pages/123")
    -> "getPageById". Accepts gateway paths (/ex/confluence/{cloudId}/wiki/...), full URLs and
    query strings."""
    path = _site_path(path)
    best: tuple[tuple[bool, ...], str] | None = None
    for template_method, pattern, literals, operation_id in _routes(api):
        if template_method == method.lower() and pattern.fullmatch(path):
            if best is None or literals > best[0]:
                best = (literals, operation_id)
    if best is None:
        raise LookupError(f"{method.upper()} {path} matches no operation of the {api} spec; "
                          f"check the path against {SPEC_DIR / f'openapi-{api}.json'}")
    return best[1]


def validate_http(method: str, url_path: str, status: int, body: object,
                  headers: Mapping[str, str] | None = None) -> list[str]:
    """operation_for + validate_response, with the API family taken from the path."""
    api = api_of(url_path)
    return validate_response(api, operation_for(api, method, url_path), body, status=status,
                             headers=headers)


def api_of(url_path: str) -> str:
    path = _site_path(url_path)
    if path.startswith("/wiki/api/v2/"):
        return "v2"
    if path.startswith("/wiki/rest/api/"):
        return "v1"
    raise LookupError(f"{url_path} is neither a v2 (/wiki/api/v2/...) nor a v1 (/wiki/rest/api/...) path")


def check_response(api: str, operation_id: str, body: object, *, status: int = 200,
                   headers: Mapping[str, str] | None = None) -> Check:
    """validate_response, also naming the deviations the response needed to pass."""
    spec = _spec(api)
    operation = _operations(api).get(operation_id)
    if operation is None:
        raise LookupError(f"{operation_id!r} is not an operationId of the {api} spec")
    responses = operation["responses"]
    response = responses.get(str(status)) or responses.get("default")
    if response is None:
        return Check([f"status {status} is not declared for {operation_id} "
                      f"(declared: {', '.join(sorted(responses))})"], ())
    violations: list[str] = []
    if headers is not None:
        present = {name.lower() for name in headers}
        violations += [f"missing header {name}" for name in response.get("headers", {})
                       if name.lower() not in present]
    schema = _json_schema(response)
    if schema is None:
        if status == 204 and body not in (None, "", b""):
            violations.append(f"{operation_id} answers {status} with no body, got {body!r:.80}")
        return Check(violations, ())
    check = _check_body(spec, schema, body)
    return Check(violations + check.violations, check.deviations_used)


def check_schema(api: str, schema_name: str, value: object) -> Check:
    """Validate one object against a component schema, e.g. a single item of a list response."""
    spec = _spec(api)
    if schema_name not in spec["components"]["schemas"]:
        raise LookupError(f"{schema_name!r} is not a component schema of the {api} spec")
    return _check_body(spec, {"$ref": f"#/components/schemas/{schema_name}"}, value)


# --------------------------------------------------------------------------------------------
# Loading and patching the specs


@cache
def _spec(api: str) -> Schema:
    if api not in API_PREFIX:
        raise ValueError(f"api must be 'v1' or 'v2', not {api!r}")
    spec = json.loads((SPEC_DIR / f"openapi-{api}.json").read_text())
    # Extra fields first: the other kinds may inline a copy of a schema, which must already
    # carry every extra field of that schema.
    entries = sorted(enumerate(deviations.DEVIATIONS), key=lambda entry: entry[1].kind != "extra_field")
    for index, deviation in entries:
        if deviation.api == api:
            _apply(spec, deviation, index)
    return spec


@cache
def _operations(api: str) -> dict[str, Schema]:
    return {operation["operationId"]: operation
            for item in _spec(api)["paths"].values()
            for method, operation in item.items() if method in METHODS and "operationId" in operation}


@cache
def _routes(api: str) -> list[tuple[str, re.Pattern[str], tuple[bool, ...], str]]:
    routes = []
    for template, item in _spec(api)["paths"].items():
        segments = (API_PREFIX[api] + template).strip("/").split("/")
        pattern = re.compile("/" + "/".join(
            "[^/]+" if segment.startswith("{") else re.escape(segment) for segment in segments))
        literals = tuple(not segment.startswith("{") for segment in segments)
        for method, operation in item.items():
            if method in METHODS and "operationId" in operation:
                routes.append((method, pattern, literals, operation["operationId"]))
    return routes


def _site_path(url_path: str) -> str:
    path = urlsplit(url_path).path
    return re.sub(r"^/ex/confluence/[^/]+(?=/wiki/)", "", path).rstrip("/") or "/"


def _json_schema(response: Schema) -> Schema | None:
    for media_type, content in (response.get("content") or {}).items():
        if "json" in media_type and "schema" in content:
            return content["schema"]
    return None


def _apply(spec: Schema, deviation: Deviation, index: int) -> None:
    """Patch the schema at the deviation's path so it allows the deviation, and tag it."""
    node = spec["components"]["schemas"].get(deviation.schema)
    if node is None:
        raise LookupError(f"{deviation}: {deviation.schema!r} is not a component schema of the "
                          f"{deviation.api} spec")
    if deviation.kind == "extra_field":
        for step in _steps(deviation.parent_path):
            node = _child(node, step, deviation)
        if "$ref" in node:
            # A shared schema used here: wrap it, so the extra key is allowed at this place only.
            node["allOf"] = [{"$ref": node.pop("$ref")}]
        node.setdefault("properties", {})[deviation.field_name] = {**deviation.value_schema, TAG: index}
        return
    for step in _steps(deviation.path):
        node = _child(node, step, deviation)
    if "$ref" in node:
        # A shared schema used here: inline a private copy, since $ref ignores its siblings.
        target = _resolve(spec, node)
        node.clear()
        node.update(copy.deepcopy(target))
    node[TAG] = index
    if deviation.kind == "enum_extension":
        if "enum" not in node:
            raise ValueError(f"{deviation}: the schema at its path has no enum")
        node["enum"] = [*node["enum"], *deviation.values]
    else:
        node["nullable"] = True
        if "enum" in node:
            node["enum"] = [*node["enum"], None]


def _steps(path: str) -> list[str]:
    """"versions.results[].page" -> ["versions", "results", "[]", "page"]"""
    return [step for name in filter(None, path.split("."))
            for step in ([name[:-2], "[]"] if name.endswith("[]") else [name])]


def _child(node: Schema, step: str, deviation: Deviation) -> Schema:
    if "$ref" in node:
        raise ValueError(f"{deviation}: its path goes through {node['$ref']}; "
                         f"key the entry on that schema instead")
    if step == "[]":
        return node["items"]
    for candidate in [node, *node.get("allOf", ())]:
        if "$ref" not in candidate and step in candidate.get("properties", {}):
            return candidate["properties"][step]
    raise ValueError(f"{deviation}: the spec has no {step!r} on its path")


def _resolve(spec: Schema, schema: Schema) -> Schema:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


# --------------------------------------------------------------------------------------------
# The two checks


def _check_body(spec: Schema, schema: Schema, body: object) -> Check:
    violations = _schema_errors(spec, schema, body)
    used: set[int] = set()
    _undeclared(spec, body, [schema], "$", violations, used)
    return Check(violations, tuple(deviations.DEVIATIONS[i] for i in sorted(used)))


def _schema_errors(spec: Schema, schema: Schema, body: object) -> list[str]:
    messages: list[str] = []
    null_paths: set[str] = set()
    for error in _validator(spec, schema).iter_errors(body):
        path = _json_path(error.absolute_path)
        if error.instance is None:
            # A forbidden null fails `type` twice and maybe `enum`: say it once.
            if path in null_paths:
                continue
            null_paths.add(path)
        messages.append(f"{path}: {error.message}")
    return messages


def _validator(spec: Schema, schema: Schema) -> OAS30ReadValidator:
    # `$ref`s are JSON pointers from the document root, so give the schema the spec's components.
    return OAS30ReadValidator({**schema, "components": spec["components"]},
                              format_checker=oas30_format_checker)


def _json_path(parts: Iterable[str | int]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _undeclared(spec: Schema, value: object, schemas: list[Schema], path: str,
                out: list[str], used: set[int]) -> None:
    """Append "undeclared field <path>" for every key of `value` that none of `schemas`
    (which all apply at once, like allOf) declares; record the deviations it relied on."""
    flat = _flatten(spec, value, schemas)
    for schema in [*schemas, *flat]:  # an extra field's tag may sit beside a $ref
        if TAG in schema and _relies_on(deviations.DEVIATIONS[schema[TAG]], value):
            used.add(schema[TAG])
    if isinstance(value, dict):
        objects = [s for s in flat if "properties" in s or "additionalProperties" in s]
        if not objects:
            return
        for key, item in value.items():
            declared = [s["properties"][key] for s in objects if key in s.get("properties", {})]
            if not declared:
                declared = [s["additionalProperties"] for s in objects
                            if isinstance(s.get("additionalProperties"), dict)]
            child = f"{path}.{key}"
            if declared:
                _undeclared(spec, item, declared, child, out, used)
            elif not any(s.get("additionalProperties") is True for s in objects):
                out.append(f"undeclared field {child}")
    elif isinstance(value, list):
        items = [s["items"] for s in flat if "items" in s]
        if items:
            for i, item in enumerate(value):
                _undeclared(spec, item, items, f"{path}[{i}]", out, used)


def _relies_on(deviation: Deviation, value: object) -> bool:
    if deviation.kind == "extra_field":
        return True
    if deviation.kind == "nullable":
        return value is None
    return value in deviation.values


def _flatten(spec: Schema, value: object, schemas: list[Schema]) -> list[Schema]:
    """The schemas that apply to `value`: $refs resolved, allOf branches merged in, and for
    oneOf/anyOf the branch that fits `value` best."""
    flat: list[Schema] = []
    pending = list(schemas)
    while pending:
        schema = _resolve(spec, pending.pop(0))
        flat.append(schema)
        pending += schema.get("allOf", [])
        for keyword in ("oneOf", "anyOf"):
            if keyword in schema:
                pending.append(_best_branch(spec, value, schema[keyword]))
    return flat


def _best_branch(spec: Schema, value: object, branches: list[Schema]) -> Schema:
    def misfit(branch: Schema) -> tuple[int, int]:
        undeclared: list[str] = []
        _undeclared(spec, value, [branch], "$", undeclared, set())
        return len(_schema_errors(spec, branch, value)), len(undeclared)
    return min(branches, key=misfit)
