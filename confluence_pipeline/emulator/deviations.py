"""Every known way real Confluence Cloud responses differ from Atlassian's OpenAPI documents
(the entries are data, in deviations.yaml beside this module).

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
from importlib import resources
from typing import Any, Literal, Mapping

import yaml

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


@dataclass(frozen=True)
class Behaviour:
    """A choice about how Cloud answers where the specs are silent or wrong, and its evidence."""

    topic: str
    choice: str
    source: str


def _load() -> tuple[tuple[Deviation, ...], tuple[Behaviour, ...]]:
    data = yaml.safe_load(resources.files(__package__).joinpath("deviations.yaml").read_text(encoding="utf-8"))
    deviations = tuple(Deviation(**{**entry, "values": tuple(entry.get("values", ()))}) for entry in data["deviations"])
    return deviations, tuple(Behaviour(**entry) for entry in data["behaviours"])


DEVIATIONS, BEHAVIOURS = _load()


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
