"""The digest's day in its time zone: UTC instants, dt partitions and execution parameters."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from functions.send_digest.period import digest_day, previous_day, trend_period


def test_a_utc_day_is_one_partition() -> None:
    # Given / When the UTC digest day 2026-11-20
    period = digest_day(date(2026, 11, 20), "UTC")
    # Then it spans exactly that day and reads only its own partition
    assert (period.start, period.end) == (datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
    assert period.partitions == ("2026-11-20", "2026-11-20")
    assert period.execution_parameters() == [
        "'2026-11-20'",
        "'2026-11-20'",
        "'2026-11-20 00:00:00.000'",
        "'2026-11-21 00:00:00.000'",
    ]


def test_a_utc_plus_9_day_spans_two_utc_partitions() -> None:
    # Given / When Tokyo's 2026-11-20, which starts at 15:00 UTC the day before
    period = digest_day(date(2026, 11, 20), "Asia/Tokyo")
    # Then the period and its partitions are the two UTC dates it touches
    assert period.start == datetime(2026, 11, 19, 15, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 20, 15, tzinfo=UTC)
    assert period.partitions == ("2026-11-19", "2026-11-20")
    assert period.execution_parameters()[2:] == ["'2026-11-19 15:00:00.000'", "'2026-11-20 15:00:00.000'"]


def test_a_dst_change_day_has_25_hours() -> None:
    # Given / When New York's 2026-11-01, when clocks go back an hour
    period = digest_day(date(2026, 11, 1), "America/New_York")
    # Then it runs from 04:00 UTC to 05:00 UTC the next day
    assert period.start == datetime(2026, 11, 1, 4, tzinfo=UTC)
    assert (period.end - period.start).total_seconds() == 25 * 3600


@pytest.mark.parametrize(
    ("now", "timezone", "expected"),
    [
        (datetime(2026, 11, 21, 8, 0, tzinfo=UTC), "UTC", date(2026, 11, 20)),
        (datetime(2026, 11, 20, 23, 30, tzinfo=UTC), "Asia/Tokyo", date(2026, 11, 20)),  # 08:30 on the 21st
        (datetime(2026, 11, 21, 3, 0, tzinfo=UTC), "America/Los_Angeles", date(2026, 11, 19)),  # 19:00 on the 20th
    ],
)
def test_the_scheduled_digest_covers_yesterday_in_its_zone(now: datetime, timezone: str, expected: date) -> None:
    # Given a run time / When asking for the previous day / Then it is yesterday in the digest's zone
    assert previous_day(now, timezone) == expected


def test_the_trend_is_seven_local_days_ending_with_the_digest_day() -> None:
    # Given / When the trend for Tokyo's 2026-11-20
    trend = trend_period(date(2026, 11, 20), "Asia/Tokyo")
    # Then it starts on the 14th (local) and reads the UTC partitions 13th..20th
    assert (trend.first_day, trend.last_day) == (date(2026, 11, 14), date(2026, 11, 20))
    assert trend.partitions == ("2026-11-13", "2026-11-20")
