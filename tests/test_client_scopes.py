"""REQUIRED_SCOPES against Atlassian's own specs: every operation the client calls is covered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from confluence_pipeline.confluence.auth import REQUIRED_SCOPES
from confluence_pipeline.confluence.operations import OPERATIONS

SPEC_DIR = Path(__file__).parent.parent / "confluence_pipeline" / "emulator" / "spec"


def _spec(api: str) -> dict:
    return json.loads((SPEC_DIR / f"openapi-{api}.json").read_text(encoding="utf-8"))


SPECS = {"v1": _spec("v1"), "v2": _spec("v2")}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_called_operation_exists_in_the_spec_and_is_covered_by_the_required_scopes(name):
    operation = OPERATIONS[name]
    spec_op = SPECS[operation.api]["paths"].get(operation.path, {}).get(operation.method.lower())
    assert spec_op is not None, f"{operation.method} {operation.path} is not in the {operation.api} spec"
    assert spec_op["operationId"] == name
    alternatives = [set(alt["scopes"]) for alt in spec_op.get("x-atlassian-oauth2-scopes", [])]
    assert any(alt <= set(REQUIRED_SCOPES) for alt in alternatives), (
        f"{name} needs one of {alternatives}; REQUIRED_SCOPES covers none")


def test_required_scopes_are_all_known_to_atlassian_and_include_offline_access():
    known = {"offline_access"}
    for spec in SPECS.values():
        flows = spec["components"]["securitySchemes"]["oAuthDefinitions"]["flows"]
        known |= set(flows["authorizationCode"]["scopes"])
        for item in spec["paths"].values():
            for op in item.values():
                if isinstance(op, dict):
                    for alt in op.get("x-atlassian-oauth2-scopes", []):
                        known |= set(alt["scopes"])
    assert "offline_access" in REQUIRED_SCOPES
    assert set(REQUIRED_SCOPES) <= known
    assert len(REQUIRED_SCOPES) == len(set(REQUIRED_SCOPES)) < 50  # Atlassian's advice: fewer than 50
    added = ("read:hierarchical-content:confluence", "read:content.metadata:confluence",
             "read:label:confluence")
    assert set(added) <= set(REQUIRED_SCOPES)
