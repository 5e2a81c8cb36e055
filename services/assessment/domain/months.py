"""Months in the station's time zone, and which months' figures an event can change."""
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

# By default an incident can change the links of the year after it (the civil-to-criminal look-back of
# rules/links.v1.yaml; repeats look back 90 days).
LINK_DAYS = 365
# Familiarity counts the distinct households visited in the 12 months up to the month's end.
FAMILIARITY_MONTHS = 12


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def month_of(at: datetime, zone: str) -> date:
    """The first day of the month `at` falls in, in the zone (23:30 on 31 May in Beijing is May)."""
    return at.astimezone(_zone(zone)).date().replace(day=1)


def add_months(month: date, count: int) -> date:
    """The first day of the month `count` months after (or before) `month`."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    """Every month from first to last, both included."""
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


def reach(at: datetime, zone: str, kind: str, link_days: int = LINK_DAYS) -> list[date]:
    """The months whose figures a fact at `at` of this kind can change: its own month, plus the months
    that link back to it (incidents: the link rules' reach; household visits: the familiarity window)."""
    own = month_of(at, zone)
    if kind == "incident":
        return months_between(own, month_of(at + timedelta(days=link_days), zone))
    if kind == "visit":
        return months_between(own, add_months(own, FAMILIARITY_MONTHS - 1))
    return [own]
