"""The digest's day: a calendar day in the digest's time zone, as UTC instants and dt partitions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from queries import execution_parameter

TREND_DAYS = 7


@dataclass(frozen=True)
class DigestPeriod:
    """[start, end) in UTC of one or more local calendar days; `dt` partitions are UTC dates."""

    first_day: date
    last_day: date
    timezone: str
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive

    @property
    def partitions(self) -> tuple[str, str]:
        """First and last dt partition the period touches: all Athena needs to read."""
        return self.start.date().isoformat(), (self.end - timedelta(microseconds=1)).date().isoformat()

    def execution_parameters(self) -> list[str]:
        """Parameters of the digest queries: day_from, day_to, period_start, period_end."""
        day_from, day_to = self.partitions
        start, end = (ts.astimezone(UTC).replace(tzinfo=None) for ts in (self.start, self.end))
        return [
            execution_parameter(day_from),
            execution_parameter(day_to),
            execution_parameter(start),
            execution_parameter(end),
        ]

    def local_day(self, instant: datetime) -> date:
        """The calendar day, in the digest's time zone, of a UTC instant."""
        return instant.astimezone(ZoneInfo(self.timezone)).date()


def period_of_days(first_day: date, last_day: date, timezone: str) -> DigestPeriod:
    """The UTC span of local days first_day..last_day (DST-safe: each midnight is resolved on its own)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(first_day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return DigestPeriod(first_day=first_day, last_day=last_day, timezone=timezone, start=start, end=end)


def digest_day(day: date, timezone: str) -> DigestPeriod:
    """One local calendar day."""
    return period_of_days(day, day, timezone)


def trend_period(day: date, timezone: str) -> DigestPeriod:
    """The TREND_DAYS local days ending with `day`."""
    return period_of_days(day - timedelta(days=TREND_DAYS - 1), day, timezone)


def previous_day(now: datetime, timezone: str) -> date:
    """Yesterday in the digest's time zone: the day a scheduled digest covers."""
    return now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)
