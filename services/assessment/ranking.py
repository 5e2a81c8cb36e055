"""A month's ranking of one kind of unit: facts, figures, scores, ranks among like units, and what is not ranked.

Only registered units (the reference units) are ranked. Under percentile rules the percentiles are taken
among the units of one cohort (a county, the city, or a reference cohort); under target rules each unit is
scored on its own. Ranks are given within the scope asked for (one county, or the whole city) and, when the
rules rank by reference cohort, within each cohort of similar stations there. Registered units without
enough data are listed apart as not rankable, with the reason; calls held by no registered station are
the month's data quality, never a ranked line.
"""
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import asyncpg

from services.assessment.domain.figures import Figure, MonthFacts, all_figures
from services.assessment.domain.scoring import Ranked, Rules, rank_by_score, score_units
from services.assessment.facts import DataQuality, Unit, data_quality, unit_facts

CITY = "city"
NO_DATA, TOO_LITTLE_DATA = "no_data", "too_little_data"  # why a registered unit is not rankable
_QUIET = {"households_registered", "residents"}  # facts a unit has with no activity at all


@dataclass(frozen=True)
class Item:
    """One unit's line: who it is, its figures, and its score and rank."""
    unit: Unit
    figures: dict[str, Figure]
    ranked: Ranked
    reason: str | None = None  # set when not rankable: NO_DATA or TOO_LITTLE_DATA (ranked.not_rankable says which)


@dataclass(frozen=True)
class MonthRanking:
    month: date
    kind: str
    scope: str
    rules_version: str
    items: list[Item]  # ranked registered units: by cohort, best first within each
    not_rankable: list[Item]  # registered units without enough data, by unit code
    data_quality: DataQuality

    def item(self, code: str) -> Item | None:
        return next((i for i in self.items + self.not_rankable if i.unit.code == code), None)


def cohort_of(unit: Unit, rules: Rules) -> str:
    """The units a unit's percentiles are taken among (percentile rules)."""
    if rules.cohort == CITY:
        return CITY
    if rules.cohort == "reference":
        return unit.cohort or ""
    return unit.county_code or ""


def rank_group(unit: Unit, rules: Rules) -> str:
    """The units a unit is ranked against within the scope: its reference cohort, or all of them."""
    return (unit.cohort or "") if rules.cohort == "reference" else ""


def _quiet(facts: MonthFacts) -> bool:
    return all(not getattr(facts, name) for name in facts.__dataclass_fields__ if name not in _QUIET)


async def month_ranking(conn: asyncpg.Connection, month: date, kind: str, rules: Rules, time_zone: str,
                        county: str | None = None) -> MonthRanking:
    """Rank the month's registered units of a kind in one county (scope = its code) or the whole city."""
    facts, units = await unit_facts(conn, month, kind, time_zone)
    cohorts: dict[str, dict[str, dict[str, Figure]]] = defaultdict(dict)
    for code, month_facts in facts.items():
        unit = units[code]
        if unit.registered and (county is None or unit.county_code == county):
            cohorts[cohort_of(unit, rules)][code] = all_figures(month_facts, rules.min_samples)
    scored = [row for members in cohorts.values() for row in score_units(members, rules)]
    figures = {code: f for members in cohorts.values() for code, f in members.items()}
    groups: dict[str, list[Ranked]] = defaultdict(list)
    for row in scored:
        if row.score is not None:
            groups[rank_group(units[row.unit], rules)].append(row)
    items = [Item(units[row.unit], figures[row.unit], row)
             for group in sorted(groups) for row in rank_by_score(groups[group], rules.tie_break)]
    apart = [Item(units[row.unit], figures[row.unit], row, NO_DATA if _quiet(facts[row.unit]) else TOO_LITTLE_DATA)
             for row in sorted((r for r in scored if r.score is None), key=lambda r: r.unit)]
    return MonthRanking(month, kind, county or CITY, rules.version, items, apart, await data_quality(conn, month))
