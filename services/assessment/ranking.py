"""A month's ranking of one kind of unit: facts, figures, scores within each county, ranks in the scope.

Percentiles are taken among the units of one cohort (the rules say which: a county, or the whole
city); ranks are given within the scope asked for: one county, or the whole city, where the scores
of different counties' units are ranked against each other.
"""
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import asyncpg

from services.assessment.domain.figures import Figure, all_figures
from services.assessment.domain.scoring import Ranked, Rules, rank_by_score, score_units
from services.assessment.facts import Unit, unit_facts

CITY = "city"
UNREGISTERED = "unregistered"  # the cohort of units seen in facts but missing from the reference units


@dataclass(frozen=True)
class Item:
    """One unit's line: who it is, its figures, and its score and rank."""
    unit: Unit
    figures: dict[str, Figure]
    ranked: Ranked


@dataclass(frozen=True)
class MonthRanking:
    month: date
    kind: str
    scope: str
    rules_version: str
    items: list[Item]  # best first; unscored units last

    def item(self, code: str) -> Item | None:
        return next((i for i in self.items if i.unit.code == code), None)


def cohort_of(unit: Unit, rules: Rules) -> str:
    if rules.cohort == CITY:
        return CITY
    return unit.county_code or UNREGISTERED


async def month_ranking(conn: asyncpg.Connection, month: date, kind: str, rules: Rules, time_zone: str,
                        county: str | None = None) -> MonthRanking:
    """Rank the month's units of a kind in one county (scope = its code) or the whole city."""
    facts, units = await unit_facts(conn, month, kind, time_zone)
    cohorts: dict[str, dict[str, dict[str, Figure]]] = defaultdict(dict)
    for code, month_facts in facts.items():
        if county is None or units[code].county_code == county:
            cohorts[cohort_of(units[code], rules)][code] = all_figures(month_facts, rules.min_samples)
    ranked = rank_by_score([row for members in cohorts.values() for row in score_units(members, rules)])
    figures = {code: f for members in cohorts.values() for code, f in members.items()}
    return MonthRanking(month, kind, county or CITY, rules.version,
                        [Item(units[row.unit], figures[row.unit], row) for row in ranked])
