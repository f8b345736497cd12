"""Bulletin periods (issue 5, A9-M3.5): an ISO week, a calendar month or a quarter, on the
Asia/Shanghai calendar (a finding opened at 23:30 UTC on 31 October belongs to November).

A period is written as its key: ``2026-W48`` (ISO week, Monday to Sunday), ``2026-11`` (month),
``2026-Q4`` (quarter). Pure: no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from collector.services.errors import Invalid

__all__ = [
    "KINDS",
    "ZONE",
    "Period",
    "chinese_date",
    "local_today",
    "parse_period",
    "period_containing",
    "recent_periods",
]

ZONE = ZoneInfo("Asia/Shanghai")
KINDS = ("week", "month", "quarter")
_PATTERNS = {
    "week": re.compile(r"(\d{4})-W(\d{1,2})"),
    "month": re.compile(r"(\d{4})-(\d{1,2})"),
    "quarter": re.compile(r"(\d{4})-Q([1-4])"),
}
_QUARTERS_ZH = ("一", "二", "三", "四")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")  # fmt: skip
MIN_YEAR, MAX_YEAR = 2000, 2100


@dataclass(frozen=True)
class Period:
    kind: str  # week | month | quarter
    key: str  # 2026-W48 | 2026-11 | 2026-Q4
    start: date  # first day
    end: date  # last day (inclusive)

    @property
    def starts_at(self) -> datetime:
        """The first instant (00:00 Asia/Shanghai of the first day), in UTC."""
        return datetime.combine(self.start, time(), ZONE).astimezone(UTC)

    @property
    def ends_at(self) -> datetime:
        """The instant right after the period (00:00 Asia/Shanghai of the next day), in UTC."""
        return datetime.combine(self.end + timedelta(days=1), time(), ZONE).astimezone(UTC)

    @property
    def label_zh(self) -> str:
        year, number = self.key.split("-")
        if self.kind == "week":
            return f"{year}年第{int(number[1:])}周"
        if self.kind == "quarter":
            return f"{year}年第{_QUARTERS_ZH[int(number[1:]) - 1]}季度"
        return f"{year}年{int(number)}月"

    @property
    def label_en(self) -> str:
        year, number = self.key.split("-")
        if self.kind == "week":
            return f"Week {int(number[1:])} of {year}"
        if self.kind == "quarter":
            return f"{number} {year}"
        return f"{_MONTHS_EN[int(number) - 1]} {year}"

    def previous(self) -> Period:
        return period_containing(self.kind, self.start - timedelta(days=1))


def parse_period(text: str) -> Period:
    """A period from its key; Invalid (naming the accepted forms) otherwise."""
    value = text.strip().upper()
    for kind, pattern in _PATTERNS.items():
        match = pattern.fullmatch(value)
        if not match:
            continue
        year, number = int(match[1]), int(match[2])
        if not MIN_YEAR <= year <= MAX_YEAR:
            break
        try:
            if kind == "week":
                start = date.fromisocalendar(year, number, 1)
                return Period(kind, f"{year}-W{number:02d}", start, start + timedelta(days=6))
            if kind == "month":
                start = date(year, number, 1)
                return Period(kind, f"{year}-{number:02d}", start, _month_after(start) - timedelta(days=1))
            start = date(year, 3 * number - 2, 1)
            end = _month_after(_month_after(_month_after(start))) - timedelta(days=1)
            return Period(kind, f"{year}-Q{number}", start, end)
        except ValueError:
            break
    raise Invalid(
        f"period {text[:20]!r}: write a week 2026-W48, a month 2026-11 or a quarter 2026-Q4 "
        f"(years {MIN_YEAR}-{MAX_YEAR})",
        "bad_period",
    )


def _month_after(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def period_containing(kind: str, day: date) -> Period:
    if kind == "week":
        iso = day.isocalendar()
        return parse_period(f"{iso.year}-W{iso.week}")
    if kind == "quarter":
        return parse_period(f"{day.year}-Q{(day.month - 1) // 3 + 1}")
    return parse_period(f"{day.year}-{day.month}")


def local_today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZONE).date()


def recent_periods(today: date, kind: str, count: int) -> list[Period]:
    """The period containing ``today`` and the ``count - 1`` before it, newest first."""
    found = [period_containing(kind, today)]
    while len(found) < count:
        found.append(found[-1].previous())
    return found


def chinese_date(day: date) -> str:
    """The date as an official document writes it: 2026年11月27日 (no leading zeros)."""
    return f"{day.year}年{day.month}月{day.day}日"
