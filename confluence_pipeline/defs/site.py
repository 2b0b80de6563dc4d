"""Which site a set of definitions serves, and the names that keep several sites apart.

The bundled project's one site has no name: its asset keys, job, schedule and sensor names and
resource keys are the plain ones (`pages`, `incremental_sync`, `confluence`). A named site (a
`ConfluenceComponent` instance) puts its name in front of every one (`acme/pages`,
`acme_incremental_sync`, `acme_confluence`), so that several sites share one code location.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg

from ..run_tags import SITE_TAG, SYNC_TAG

# The incremental job's name (a named site's: acme_incremental_sync); here so that assets can tell
# its runs apart without importing the jobs.
INCREMENTAL_JOB = "incremental_sync"


@dataclass(frozen=True)
class Site:
    name: str = ""

    def key(self, name: str) -> dg.AssetKey:
        return dg.AssetKey([*self.prefix, name])

    @property
    def prefix(self) -> list[str]:
        return [self.name] if self.name else []

    def named(self, name: str) -> str:
        """A job, schedule, sensor, group or resource key of this site."""
        return f"{self.name}_{name}" if self.name else name

    def tags(self, kind: str) -> dict[str, str]:
        """A run's tags: the run queue keeps one run per value of the sync tag in progress, so each
        site has its own values and a site's runs never queue behind another's."""
        if not self.name:
            return {SYNC_TAG: kind}
        return {SYNC_TAG: f"{self.name}:{kind}", SITE_TAG: self.name}

    @property
    def confluence_key(self) -> str:
        return self.named("confluence")

    @property
    def pipeline_key(self) -> str:
        return self.named("pipeline")

    @property
    def resource_keys(self) -> set[str]:
        return {self.confluence_key, self.pipeline_key}

    def confluence(self, context: Any) -> Any:
        """This site's ConfluenceResource, from an asset's, check's or sensor's context."""
        return getattr(context.resources, self.confluence_key)

    def pipeline(self, context: Any) -> Any:
        """This site's PipelineResource."""
        return getattr(context.resources, self.pipeline_key)


BUNDLED = Site()
