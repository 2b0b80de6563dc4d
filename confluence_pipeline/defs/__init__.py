"""The Dagster layer: assets, checks, jobs, schedules and sensors over the Dagster-free library."""

import warnings

from dagster import BetaWarning

# Windowed assets backfill a date range in one run (BackfillPolicy.single_run): a supported
# parameter that Dagster still marks beta and warns about once per asset, on every command.
warnings.filterwarnings("ignore", category=BetaWarning, message=r"Parameter `backfill_policy` of function `asset`")
# The same for the code references the catalog shows (defs/catalog.py).
warnings.filterwarnings("ignore", category=BetaWarning,
                        message=r"(Class|Function) `(LocalFileCodeReference|CodeReferencesMetadataValue|with_source_code_references)`")
