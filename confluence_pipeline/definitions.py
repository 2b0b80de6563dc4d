"""The Dagster code location: `dagster dev` (workspace.yaml) loads `defs` from here."""

from __future__ import annotations

import dagster as dg

from .defs.assets import build_content_assets
from .defs.checks import build_checks
from .defs.partitions import content_partitions
from .defs.pipeline import PipelineResource
from .defs.resources import confluence_resource_from_settings
from .settings import load_settings


def build_definitions() -> dg.Definitions:
    settings = load_settings()
    assets = build_content_assets(content_partitions(settings))
    return dg.Definitions(
        assets=assets,
        asset_checks=build_checks({a.key.to_user_string(): a for a in assets}),
        resources={"confluence": confluence_resource_from_settings(settings), "pipeline": PipelineResource()},
    )


defs = build_definitions()
