"""Time profiles: windows, past midnight, whole days, holidays, time zones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from vigil.domain.schedules import TimeProfileSpec, is_active

# 2024-05-06 is a Monday (day 0).
NIGHT = {"days": [0, 1, 2, 3, 4], "start": "22:00", "end": "06:00"}
OFFICE = {"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:00"}


def profile(**kw: Any) -> TimeProfileSpec:
    return TimeProfileSpec.model_validate({"name": "p", **kw})


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("windows", "at", "expected"),
    [
        ([OFFICE], utc(6, 8), True),
        ([OFFICE], utc(6, 16, 59), True),
        (
            [OFFICE],
            utc(6, 17),
            False,
        ),
        ([OFFICE], utc(6, 7, 59), False),
        ([OFFICE], utc(11, 12), False),  # Saturday
        ([NIGHT], utc(6, 23), True),  # Monday evening
        ([NIGHT], utc(7, 5, 59), True),  # Tuesday morning belongs to Monday's night
        ([NIGHT], utc(6, 5), False),  # Monday morning: Sunday night is not in the profile
        ([NIGHT], utc(11, 3), True),  # Saturday morning: Friday's night
        ([NIGHT], utc(11, 23), False),  # Saturday evening
        ([{"days": [6], "start": "00:00", "end": "00:00"}], utc(12, 13), True),  # all Sunday
        ([{"days": [6], "start": "00:00", "end": "00:00"}], utc(13, 0), False),
        ([OFFICE, NIGHT], utc(6, 12), True),
    ],
)
def test_weekly_windows(windows: list[dict[str, Any]], at: datetime, expected: bool) -> None:
    assert is_active(profile(windows=windows), at) is expected


def test_time_zone_decides_the_local_day_and_hour() -> None:
    berlin = profile(timezone="Europe/Berlin", windows=[OFFICE])
    assert is_active(berlin, utc(6, 6, 30))  # 08:30 in Berlin (summer time)
    assert not is_active(berlin, utc(6, 15, 30))  # 17:30 in Berlin
    tokyo = profile(timezone="Asia/Tokyo", windows=[OFFICE])
    assert not is_active(tokyo, utc(10, 23))  # Saturday 08:00 in Tokyo


@pytest.mark.parametrize(
    ("on_holidays", "expected_day", "expected_night"), [(False, False, False), (True, True, True)]
)
def test_holidays(on_holidays: bool, expected_day: bool, expected_night: bool) -> None:
    p = profile(windows=[OFFICE], holidays=["2024-05-06"], on_holidays=on_holidays)
    assert is_active(p, utc(6, 12)) is expected_day
    assert is_active(p, utc(6, 23)) is expected_night
    assert is_active(p, utc(7, 12)), "the next day follows the windows again"


def test_holiday_in_the_profiles_zone() -> None:
    every_day = {"days": list(range(7)), "start": "00:00", "end": "00:00"}
    p = profile(timezone="America/New_York", windows=[every_day], holidays=["2024-05-06"])
    assert is_active(p, utc(6, 2, 30)), "the 6th in UTC, still the 5th in New York"
    assert not is_active(p, utc(7, 2, 30)), "the 7th in UTC, the holiday in New York"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"timezone": "Mars/Base"}, "unknown time zone"),
        ({"windows": []}, "at least one weekly window"),
        ({"windows": [{"days": [7], "start": "01:00", "end": "02:00"}]}, "0 (Monday) to 6"),
        ({"windows": [{"days": [], "start": "01:00", "end": "02:00"}]}, "at least 1"),
    ],
)
def test_invalid_profiles(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        profile(**spec)
    assert message in str(exc.value)


def test_holidays_only_profile_is_allowed() -> None:
    p = profile(holidays=["2024-12-25"], on_holidays=True)
    assert is_active(p, datetime(2024, 12, 25, 10, tzinfo=UTC))
    assert not is_active(p, datetime(2024, 12, 26, 10, tzinfo=UTC))
