"""Time profiles: when a rule is armed (weekly windows in a time zone, with holidays)."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator


class WeeklyWindow(BaseModel):
    """Days of the week (0 = Monday) and a time of day range. ``end`` before ``start``
    runs past midnight into the next day; equal times mean the whole day."""

    days: list[int] = Field(min_length=1, description="0 = Monday ... 6 = Sunday")
    start: time
    end: time

    @field_validator("days")
    @classmethod
    def _days(cls, days: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in days):
            raise ValueError("days are 0 (Monday) to 6 (Sunday)")
        return sorted(set(days))


class TimeProfileSpec(BaseModel):
    """A named schedule. On a holiday the profile follows ``on_holidays``."""

    name: str = Field(min_length=1, max_length=120)
    timezone: str = "UTC"
    windows: list[WeeklyWindow] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    on_holidays: bool = Field(False, description="armed all day on holidays (else not at all)")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r} (use an IANA name)") from exc
        return name

    @model_validator(mode="after")
    def _something(self) -> TimeProfileSpec:
        if not self.windows and not (self.holidays and self.on_holidays):
            raise ValueError("a time profile needs at least one weekly window")
        return self


def is_active(profile: TimeProfileSpec, at: datetime) -> bool:
    """Whether the profile is armed at this (aware) moment."""
    local = at.astimezone(ZoneInfo(profile.timezone))
    if local.date() in profile.holidays:
        return profile.on_holidays
    weekday, now = local.weekday(), local.time()
    for w in profile.windows:
        if w.start == w.end:
            if weekday in w.days:
                return True
        elif w.start < w.end:
            if weekday in w.days and w.start <= now < w.end:
                return True
        # Past midnight: the evening part belongs to its day, the morning to the day before.
        elif (weekday in w.days and now >= w.start) or (
            (weekday - 1) % 7 in w.days and now < w.end
        ):
            return True
    return False
