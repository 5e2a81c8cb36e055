"""The two sides of the ranking measurement: a plain SQL aggregate of the month's facts, and the service's path.

The service's path is `services.assessment.ranking.month_ranking`, called as the API calls it. Its phases
are timed from outside, without touching the service: the connection it is given times every statement,
and the module-level functions it calls (unit_facts, all_figures, score_units, rank_by_score) are wrapped
in the ranking module's namespace for the duration of the call.
"""
import inspect
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import asyncpg

from bench.assessment.dataset import month_bounds

# One row per station: the month's facts as a plain GROUP BY of the fact rows, counting the links the
# incidents keep (migration 0004), with no duration samples and no scoring. Each count means what the
# service's count means, so the two can be compared station by station.
BASELINE = """
WITH month_incidents AS (
    SELECT station_code, count(*) AS calls, count(*) FILTER (WHERE kind = 'dispute') AS disputes,
           count(*) FILTER (WHERE kind = 'crime') AS crimes,
           count(*) FILTER (WHERE kind = 'dispute' AND repeat_90d) AS repeat_disputes,
           count(*) FILTER (WHERE kind = 'dispute' AND repeat_30d) AS repeat_disputes_30d,
           count(*) FILTER (WHERE kind = 'crime' AND c2c_source IS NOT NULL) AS civil_to_criminal
    FROM incidents WHERE month = $1 GROUP BY station_code
), month_cases AS (
    SELECT station_code,
           count(*) FILTER (WHERE closed_at >= $2 AND closed_at < $3) AS closed,
           count(*) FILTER (WHERE closed_at >= $2 AND closed_at < $3 AND agreement) AS agreements,
           count(*) FILTER (WHERE closed_at >= $2 AND closed_at < $3 AND NOT referred) AS closed_without_referral,
           coalesce(sum(sla_breaches) FILTER (WHERE month = $1), 0) AS sla_breaches,
           count(*) FILTER (WHERE month = $1 AND confirmation_requested) AS confirmations_requested,
           count(*) FILTER (WHERE month = $1 AND confirmation_requested AND confirmed) AS confirmations_confirmed
    FROM cases WHERE month = $1 OR (closed_at >= $2 AND closed_at < $3) GROUP BY station_code
), month_activities AS (
    SELECT station_code,
           count(*) FILTER (WHERE satisfaction = 'satisfied') AS callbacks_satisfied,
           count(*) FILTER (WHERE satisfaction = 'basically_satisfied') AS callbacks_basically_satisfied,
           count(*) FILTER (WHERE satisfaction = 'dissatisfied') AS callbacks_dissatisfied,
           count(*) FILTER (WHERE type = 'visit') AS visits,
           count(*) FILTER (WHERE type = 'information') AS information_items,
           coalesce(sum(participants) FILTER (WHERE type = 'patrol'), 0) AS group_defence_participants
    FROM community_activities WHERE month = $1 GROUP BY station_code
)
SELECT u.code AS station_code, u.county_code, u.cohort, u.households AS households_registered, u.residents,
       coalesce(i.calls, 0) AS calls, coalesce(i.disputes, 0) AS disputes, coalesce(i.crimes, 0) AS crimes,
       coalesce(i.repeat_disputes, 0) AS repeat_disputes, coalesce(i.repeat_disputes_30d, 0) AS repeat_disputes_30d,
       coalesce(i.civil_to_criminal, 0) AS civil_to_criminal,
       coalesce(c.closed, 0) AS closed, coalesce(c.agreements, 0) AS agreements,
       coalesce(c.closed_without_referral, 0) AS closed_without_referral,
       coalesce(c.sla_breaches, 0) AS sla_breaches, coalesce(c.confirmations_requested, 0) AS confirmations_requested,
       coalesce(c.confirmations_confirmed, 0) AS confirmations_confirmed,
       coalesce(a.callbacks_satisfied, 0) AS callbacks_satisfied,
       coalesce(a.callbacks_basically_satisfied, 0) AS callbacks_basically_satisfied,
       coalesce(a.callbacks_dissatisfied, 0) AS callbacks_dissatisfied, coalesce(a.visits, 0) AS visits,
       coalesce(a.information_items, 0) AS information_items,
       coalesce(a.group_defence_participants, 0) AS group_defence_participants
FROM units u
LEFT JOIN month_incidents i ON i.station_code = u.code
LEFT JOIN month_cases c ON c.station_code = u.code
LEFT JOIN month_activities a ON a.station_code = u.code
WHERE u.kind = 'station'
"""
# The facts both sides count the same way (visits differ on purpose: the service counts distinct
# households over twelve months).
COMPARED = ("calls", "disputes", "crimes", "repeat_disputes", "repeat_disputes_30d", "civil_to_criminal", "closed",
            "agreements", "closed_without_referral", "sla_breaches", "confirmations_requested",
            "confirmations_confirmed", "callbacks_satisfied", "callbacks_basically_satisfied",
            "callbacks_dissatisfied", "information_items", "group_defence_participants", "residents",
            "households_registered")


@dataclass
class Statement:
    """One statement the service ran, with what it took."""

    label: str
    sql: str
    args: tuple
    seconds: float
    rows: int


class TimedConnection:
    """An asyncpg connection that times every fetch; everything else passes through untouched."""

    def __init__(self, conn: asyncpg.Connection, label: Callable[[str], str]) -> None:
        self._conn, self._label = conn, label
        self.statements: list[Statement] = []

    async def _timed(self, method: str, query: str, *args, **kwargs):
        started = time.perf_counter()
        result = await getattr(self._conn, method)(query, *args, **kwargs)
        rows = len(result) if isinstance(result, list) else 1
        self.statements.append(Statement(self._label(query), query, args, time.perf_counter() - started, rows))
        return result

    async def fetch(self, query: str, *args, **kwargs):
        return await self._timed("fetch", query, *args, **kwargs)

    async def fetchrow(self, query: str, *args, **kwargs):
        return await self._timed("fetchrow", query, *args, **kwargs)

    async def fetchval(self, query: str, *args, **kwargs):
        return await self._timed("fetchval", query, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def statement_labels(module) -> Callable[[str], str]:
    """Name a statement by the module constant it was formatted from (INCIDENT_FACTS, ...)."""
    constants = {name: value for name, value in vars(module).items() if name.isupper() and isinstance(value, str)}

    def label(query: str) -> str:
        for name, template in constants.items():
            try:
                candidates = {template} | {template.format(unit=u) for u in ("station_code", "grid_code", "officer_id")}
            except (KeyError, IndexError, ValueError):
                candidates = {template}
            if query in candidates:
                return name
        return " ".join(query.split())[:40]

    return label


@dataclass
class Phases:
    """Seconds spent in each function month_ranking calls, and how often it was called."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter = field(default_factory=Counter)
    results: dict[str, object] = field(default_factory=dict)  # the last result of each, for the checks


def _wrap(name: str, function, phases: Phases):
    if inspect.iscoroutinefunction(function):
        async def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                result = await function(*args, **kwargs)
            finally:
                phases.seconds[name] += time.perf_counter() - started
                phases.calls[name] += 1
            phases.results[name] = result
            return result
    else:
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            finally:
                phases.seconds[name] += time.perf_counter() - started
                phases.calls[name] += 1
            phases.results[name] = result
            return result
    return timed


@dataclass
class Ours:
    """What the service's path took and gave, under which rules."""

    seconds: float
    statements: list[Statement]
    phases: Phases
    ranking: object  # services.assessment.ranking.MonthRanking
    rules: object  # services.assessment.domain.scoring.Rules


async def run_ours(conn: asyncpg.Connection, month: date, time_zone: str, rules_path=None) -> Ours:
    """month_ranking for every station of the month, as the rankings API runs it, phase by phase; under
    the service's default rules (scoring.v2) unless a rules file is given."""
    from services.assessment import ranking, repository
    from services.assessment.domain.scoring import Rules

    rules = Rules.load(rules_path)
    timed_conn = TimedConnection(conn, statement_labels(repository))
    phases = Phases()
    wrapped = {name: getattr(ranking, name) for name in ("unit_facts", "all_figures", "score_units", "rank_by_score")
               if hasattr(ranking, name)}
    try:
        for name, function in wrapped.items():
            setattr(ranking, name, _wrap(name, function, phases))
        started = time.perf_counter()
        result = await ranking.month_ranking(timed_conn, month, "station", rules, time_zone)
        seconds = time.perf_counter() - started
    finally:
        for name, function in wrapped.items():
            setattr(ranking, name, function)
    return Ours(seconds, timed_conn.statements, phases, result, rules)


@dataclass
class Baseline:
    """The plain aggregate: seconds and one row per station."""

    seconds: float
    rows: dict[str, asyncpg.Record]


async def run_baseline(conn: asyncpg.Connection, month: date, time_zone: str) -> Baseline:
    """The plain GROUP BY of the same facts, timed."""
    start, end = month_bounds(month, time_zone)
    started = time.perf_counter()
    rows = await conn.fetch(BASELINE, month, start, end)
    return Baseline(time.perf_counter() - started, {r["station_code"]: r for r in rows})


def rank_groups(ours: Ours) -> dict[str, list]:
    """The ranked items by the group they are ranked in (the reference cohort under scoring.v2, one
    group under scoring.v1), in the ranking's order."""
    from services.assessment.ranking import rank_group

    groups: dict[str, list] = defaultdict(list)
    for item in ours.ranking.items:
        groups[rank_group(item.unit, ours.rules)].append(item)
    return groups


def check(ours: Ours, baseline: Baseline) -> list[str]:
    """Disagreements between the service's facts and ranking and the plain aggregate (empty: exact)."""
    problems: list[str] = []
    facts_and_units = ours.phases.results.get("unit_facts")
    if facts_and_units is None:
        return ["month_ranking did not call unit_facts: cannot compare facts"]
    facts = facts_and_units[0]
    if set(facts) != set(baseline.rows):
        problems.append(f"stations: service {len(facts)}, baseline {len(baseline.rows)}, "
                        f"{len(set(facts) ^ set(baseline.rows))} differ")
    for code in sorted(set(facts) & set(baseline.rows)):
        row, mine = baseline.rows[code], facts[code]
        for name in COMPARED:
            if getattr(mine, name) != row[name]:
                problems.append(f"{code} {name}: service {getattr(mine, name)}, baseline {row[name]}")
        if len(problems) > 20:
            return problems + ["..."]
    # Every registered station is one line: ranked, or listed apart as not rankable.
    lines = Counter(item.unit.code for item in ours.ranking.items + ours.ranking.not_rankable)
    if set(lines) != set(baseline.rows) or max(lines.values(), default=1) > 1:
        problems.append(f"ranking has {sum(lines.values()):,} lines ({len(ours.ranking.items):,} ranked, "
                        f"{len(ours.ranking.not_rankable):,} not rankable) for {len(baseline.rows):,} stations; "
                        f"{len(set(lines) ^ set(baseline.rows)):,} stations missing or extra, "
                        f"{sum(n > 1 for n in lines.values()):,} listed twice")
    for group, items in rank_groups(ours).items():
        ranks = [item.ranked.rank for item in items]
        if None in ranks or ranks != sorted(ranks) or ranks[0] != 1:
            problems.append(f"ranks in cohort {group or '(all)'!r} do not ascend from 1")
        cohort = {baseline.rows[item.unit.code]["cohort"] for item in items if item.unit.code in baseline.rows}
        if ours.rules.cohort == "reference" and cohort != {group}:
            problems.append(f"cohort {group!r} ranks stations of cohorts {sorted(map(str, cohort))}")
    for item in ours.ranking.not_rankable:
        if item.ranked.score is not None or item.ranked.rank is not None:
            problems.append(f"{item.unit.code} is not rankable but has score {item.ranked.score}, "
                            f"rank {item.ranked.rank}")
            break
    return problems


@dataclass(frozen=True)
class Ties:
    """How well the ranking separates stations: equal scores before the tie-break, shared ranks after."""

    ranked: int
    same_score: int  # ranked stations whose score another station of their rank group has too
    same_rank: int  # ranked stations that still share their rank after the tie-break
    groups: int

    @property
    def same_rank_share(self) -> float:
        return self.same_rank / self.ranked if self.ranked else 0.0

    @property
    def same_score_share(self) -> float:
        return self.same_score / self.ranked if self.ranked else 0.0


def ties(ours: Ours) -> Ties:
    """Ties within each rank group: a shared score is what the tie-break has to decide, a shared rank what
    it could not."""
    same_score = same_rank = 0
    groups = rank_groups(ours)
    for items in groups.values():
        scores = Counter(item.ranked.score for item in items)
        same_score += sum(n for n in scores.values() if n > 1)
        same_rank += sum(1 for item in items if item.ranked.tied_with)
    return Ties(len(ours.ranking.items), same_score, same_rank, len(groups))


def summary(ours: Ours) -> list[str]:
    """Ranked and not rankable, grades, candidates, red lines and ties of the ranking, a line each."""
    ranking = ours.ranking
    rows = [item.ranked for item in ranking.items]
    grades = Counter(row.grade for row in rows)
    reasons = Counter(item.reason for item in ranking.not_rankable)
    groups = rank_groups(ours)
    t = ties(ours)
    best = "; ".join(f"best of {group or 'all'}: {items[0].unit.code} at {items[0].ranked.score}"
                     for group, items in sorted(groups.items()))
    return [
        f"{len(ranking.items):,} stations ranked in {len(groups)} group(s) ("
        + ", ".join(f"{group or 'all'} {len(items):,}" for group, items in sorted(groups.items()))
        + f"); {len(ranking.not_rankable):,} not rankable ("
        + (", ".join(f"{reason} {n:,}" for reason, n in sorted(reasons.items(), key=str)) or "none") + ")",
        "grades " + ", ".join(f"{g} {grades[g]:,}" for g in sorted(grades, key=str))
        + f"; {sum(r.candidate for r in rows):,} candidates, {sum(r.red_line for r in rows):,} red lines",
        f"ties: {t.same_score:,} stations ({t.same_score_share:.1%}) share a score within their group before "
        f"the tie-break; {t.same_rank:,} ({t.same_rank_share:.2%}) still share a rank after it",
        best,
    ]
