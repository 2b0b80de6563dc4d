"""Modification windows: the daily partitions content lives in, in the configured time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Windows:
    """Daily windows in `tz` from `first` (YYYY-MM-DD). The first window also holds everything
    modified before it, so a site's whole history is synced without a partition per old day."""

    tz: ZoneInfo
    first: str

    def key(self, ts: datetime) -> str:
        return max(ts.astimezone(self.tz).date().isoformat(), self.first)

    def range(self, first: str, last: str) -> "TimeRange":
        return TimeRange(first, last, self.tz, floor=self.first)


def window_start(key: str, tz: ZoneInfo) -> datetime:
    """The UTC instant a window starts (local midnight; DST-correct)."""
    return datetime.combine(date.fromisoformat(key), time(0), tzinfo=tz).astimezone(timezone.utc)


@dataclass(frozen=True)
class TimeRange:
    """Windows `first`..`last` (inclusive), as the instants [start, end)."""

    first: str
    last: str
    tz: ZoneInfo
    floor: str = ""  # the first window of the scheme: it reaches back to the beginning

    @property
    def start(self) -> datetime:
        return EPOCH if self.first <= self.floor else window_start(self.first, self.tz)

    @property
    def end(self) -> datetime:
        next_day = date.fromisoformat(self.last) + timedelta(days=1)
        return window_start(next_day.isoformat(), self.tz)

    @property
    def keys(self) -> list[str]:
        day, last, out = date.fromisoformat(self.first), date.fromisoformat(self.last), []
        while day <= last:
            out.append(day.isoformat())
            day += timedelta(days=1)
        return out

    def includes_now(self, now: datetime) -> bool:
        return self.end > now
