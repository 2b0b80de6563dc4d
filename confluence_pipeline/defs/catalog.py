"""What the Dagster catalog shows of each asset beyond its code: the columns of the tables it
writes, owners, tags, and the file and line its code lives at."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

from ..storage.schema import TABLES, Table

# The tables an asset writes, where they are not just the table of its own name.
TABLES_OF_ASSET = {"documents": ("documents", "document_items")}


def table_schema(table: Table) -> dg.TableSchema:
    key = set(table.key)

    def column(name: str, type_: str) -> dg.TableColumn:
        if name not in key:
            return dg.TableColumn(name, type_)
        return dg.TableColumn(name, type_, description="primary key",
                              constraints=dg.TableColumnConstraints(nullable=False, unique=key == {name}))

    return dg.TableSchema(columns=[column(name, type_) for name, type_ in table.columns])


def asset_tables(asset: str) -> tuple[str, ...]:
    """The tables `asset` writes that a person queries (none for the search index's own)."""
    return TABLES_OF_ASSET.get(asset, (asset,) if asset in TABLES else ())


def with_catalog(assets: Sequence[dg.AssetsDefinition], owners: Sequence[str],
                 tags: Mapping[str, str]) -> list[dg.AssetsDefinition]:
    """The assets with their column schema (of the first table they write; `documents` also writes
    `document_items`), owners, tags (`tags` and the asset's layer) and source code references."""

    def describe(spec: dg.AssetSpec) -> dg.AssetSpec:
        tables = asset_tables(spec.key.path[-1])
        metadata = dict(spec.metadata)
        if tables:
            metadata["dagster/column_schema"] = table_schema(TABLES[tables[0]])
            metadata["dagster/table_name"] = tables[0]
        layer = next((g for g in ("directory", "search") if (spec.group_name or "").endswith(g)), "content")
        return spec.replace_attributes(metadata=metadata, owners=[*spec.owners, *owners],
                                       tags={**spec.tags, **tags, "layer": layer})

    described = dg.map_asset_specs(describe, assets)
    return list(dg.with_source_code_references(described))  # type: ignore[arg-type]
