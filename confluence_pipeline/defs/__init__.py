"""The Dagster layer: assets, checks, jobs, schedules and sensors over the Dagster-free library."""

import warnings

from dagster import BetaWarning

# Windowed assets backfill a date range in one run (BackfillPolicy.single_run): a supported
# parameter that Dagster still marks beta and warns about once per asset, on every command.
warnings.filterwarnings("ignore", category=BetaWarning, message=r"Parameter `backfill_policy` of function `asset`")
