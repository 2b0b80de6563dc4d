"""One daily modification-window partitioning for every content asset."""

from __future__ import annotations

import dagster as dg

from ..settings import Settings


def content_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """Local days in the configured time zone from the start date; `end_offset=1` makes today's
    window exist (it fills up as the day goes on)."""
    return dg.DailyPartitionsDefinition(start_date=settings.sync.start_date.isoformat(),
                                        timezone=settings.sync.timezone, end_offset=1)
