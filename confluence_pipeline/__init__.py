"""confluence_pipeline: a complete, current, permission-correct copy of a Confluence Cloud site
in a DuckLake lakehouse (DuckDB and Parquet), kept by Dagster.

Readers start here: `connect()` for SQL on the copy (now or `as_of` a snapshot or time),
`changes()` for what was inserted, updated and deleted between two snapshots, `snapshots()`
for the lake's history. Dagster projects add a site with `ConfluenceComponent` (component.py).
"""

from __future__ import annotations

from typing import Any

__all__ = ["connect", "changes", "snapshots", "ConfluenceComponent"]


def __getattr__(name: str) -> Any:
    # imported on first use: `import confluence_pipeline.cli` stays light
    if name == "ConfluenceComponent":
        from .component import ConfluenceComponent

        return ConfluenceComponent
    if name in __all__:
        from . import readers

        return getattr(readers, name)
    raise AttributeError(f"module 'confluence_pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    # `dg` finds ConfluenceComponent by listing this module (entry point dagster_dg_cli.registry_modules)
    return sorted([*globals(), *__all__])
