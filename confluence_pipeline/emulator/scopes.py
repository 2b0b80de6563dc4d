"""The OAuth scopes each Confluence operation needs, read from Atlassian's own OpenAPI documents.

Each operation lists `x-atlassian-oauth2-scopes` alternatives (state "Current" or "Beta"; both
are live): a token may call the operation when it holds every scope of at least one of them.
Operation ids are keyed by `(api, operationId)` because two ids occur in both documents with
different scopes: `createSpace` (v1 POST /wiki/rest/api/space, v2 POST /spaces) and `getTasks`
(v1 GET /wiki/rest/api/longtask, v2 GET /tasks).

The few operations without any OAuth scope (v2 admin-key, v1 Connect dynamic modules) map to
no alternatives and are treated as needing none.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Iterable

from .http import ScopeMismatch

SPEC_DIR = Path(__file__).parent / "spec"
SPEC_FILES = {"v2": "openapi-v2.json", "v1": "openapi-v1.json"}
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

OperationKey = tuple[str, str]  # (api, operationId): ("v2", "getPages")

# Scopes the auth server knows besides the specs' own: offline_access (refresh tokens) and the
# identity API's read:me (GET /me).
PLATFORM_SCOPES = frozenset({"offline_access", "read:me"})

_GRANULAR = re.compile(r"^[a-z-]+:[a-z.-]+:confluence$")  # read:page:confluence, not read:confluence-user


@dataclass(frozen=True)
class SpecOperation:
    api: str  # v1 | v2
    method: str  # GET, POST, ...
    path: str  # as the spec writes it: "/pages/{id}" (v2), "/wiki/rest/api/search" (v1)
    operation_id: str


@cache
def _spec(api: str) -> dict:
    return json.loads((SPEC_DIR / SPEC_FILES[api]).read_text(encoding="utf-8"))


def _spec_operations(api: str) -> Iterable[tuple[str, str, dict]]:
    for path, item in _spec(api)["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, op


@cache
def operation_index() -> tuple[SpecOperation, ...]:
    """Every operation of both specs, v2 first, in document order."""
    return tuple(SpecOperation(api, method, path, op["operationId"])
                 for api in ("v2", "v1") for method, path, op in _spec_operations(api))


def _load_scopes() -> dict[OperationKey, list[frozenset[str]]]:
    table: dict[OperationKey, list[frozenset[str]]] = {}
    for api in ("v2", "v1"):
        for _method, _path, op in _spec_operations(api):
            key = (api, op["operationId"])
            if key in table:
                raise ValueError(f"operationId {op['operationId']!r} occurs twice in the {api} spec")
            table[key] = [frozenset(alt["scopes"]) for alt in op.get("x-atlassian-oauth2-scopes", ())]
    return table


SCOPES: dict[OperationKey, list[frozenset[str]]] = _load_scopes()


def _declared_scopes() -> frozenset[str]:
    names: set[str] = set(PLATFORM_SCOPES)
    for api in SPEC_FILES:
        flows = _spec(api)["components"]["securitySchemes"]["oAuthDefinitions"]["flows"]
        names.update(flows["authorizationCode"]["scopes"])
    for alternatives in SCOPES.values():
        for alternative in alternatives:
            names.update(alternative)
    return frozenset(names)


KNOWN_SCOPES: frozenset[str] = _declared_scopes()


def _alternatives(api: str, operation_id: str) -> list[frozenset[str]]:
    try:
        return SCOPES[(api, operation_id)]
    except KeyError:
        raise KeyError(f"unknown operation {operation_id!r} in the {api} spec: "
                       "use the spec's operationId") from None


def missing_scopes(api: str, operation_id: str, granted: frozenset[str]) -> list[str] | None:
    """None when `granted` satisfies the operation; otherwise the shortest list of scopes to add."""
    alternatives = _alternatives(api, operation_id)
    if not alternatives or any(alt <= granted for alt in alternatives):
        return None
    return min((sorted(alt - granted) for alt in alternatives), key=lambda missing: (len(missing), missing))


def check_scopes(api: str, operation_id: str, granted: frozenset[str]) -> None:
    """Raise the gateway's 401 "Unauthorized; scope does not match" when a scope is missing."""
    missing = missing_scopes(api, operation_id, granted)
    if missing is not None:
        raise ScopeMismatch(f"{operation_id} needs the scope(s) {' '.join(missing)}: "
                            "add them to the app and re-consent")


def all_read_scopes_for(operations: Iterable[OperationKey]) -> set[str]:
    """A small set of scopes that lets a token call every one of `operations`.

    Operations with one alternative are settled first; for the rest an alternative already
    covered is kept, otherwise the one adding the fewest scopes, granular scopes preferred
    (an app that mixes classic and granular scopes only grows its consent screen).
    """
    chosen: set[str] = set()
    todo = sorted({(api, op) for api, op in operations}, key=lambda key: (len(_alternatives(*key)), key))
    for key in todo:
        alternatives = _alternatives(*key)
        if not alternatives or any(alt <= chosen for alt in alternatives):
            continue
        best = min(alternatives, key=lambda alt: (not all(_GRANULAR.match(s) for s in alt),
                                                  len(alt - chosen), sorted(alt)))
        chosen |= best
    return chosen
