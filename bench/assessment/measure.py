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

# One row per station: the month's facts as a plain GROUP BY of the fact rows, with no linking of
# incidents, no duration samples and no scoring. Each count means what the service's count means, so
# the two can be compared station by station.
BASELINE = """
WITH month_incidents AS (
    SELECT station_code, count(*) FILTER (WHERE kind = 'dispute') AS disputes,
           count(*) FILTER (WHERE kind = 'crime') AS crimes{link_counts}
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
SELECT u.code AS station_code, u.county_code, u.households AS households_registered, u.residents,
       coalesce(i.disputes, 0) AS disputes, coalesce(i.crimes, 0) AS crimes,{link_columns}
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
# Where incidents keep their link (migration 0003), the plain aggregate counts the stored flags too.
LINK_COUNTS = """,
           count(*) FILTER (WHERE kind = 'dispute' AND follows_dispute) AS repeat_disputes,
           count(*) FILTER (WHERE kind = 'crime' AND follows_dispute) AS civil_to_criminal"""
LINK_COLUMNS = """
       coalesce(i.repeat_disputes, 0) AS repeat_disputes, coalesce(i.civil_to_criminal, 0) AS civil_to_criminal,"""
HAS_LINKS = "SELECT 1 FROM information_schema.columns WHERE table_name = 'incidents' AND column_name = 'follows_dispute'"
# The facts both sides count the same way (visits differ on purpose: the service counts distinct
# households over twelve months), plus the links where they are stored.
COMPARED = ("disputes", "crimes", "closed", "agreements", "closed_without_referral", "sla_breaches",
            "confirmations_requested", "confirmations_confirmed", "callbacks_satisfied",
            "callbacks_basically_satisfied", "callbacks_dissatisfied", "information_items",
            "group_defence_participants", "residents", "households_registered")
LINKED = ("repeat_disputes", "civil_to_criminal")


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
    """What the service's path took and gave."""

    seconds: float
    statements: list[Statement]
    phases: Phases
    ranking: object


async def run_ours(conn: asyncpg.Connection, month: date, time_zone: str) -> Ours:
    """month_ranking for every station of the month, as the rankings API runs it, phase by phase."""
    from services.assessment import facts, ranking
    from services.assessment.domain.scoring import Rules

    rules = Rules.load()
    timed_conn = TimedConnection(conn, statement_labels(facts))
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
    return Ours(seconds, timed_conn.statements, phases, result)


@dataclass
class Baseline:
    """The plain aggregate: seconds and one row per station."""

    seconds: float
    rows: dict[str, asyncpg.Record]


async def run_baseline(conn: asyncpg.Connection, month: date, time_zone: str) -> Baseline:
    """The plain GROUP BY of the same facts, timed."""
    start, end = month_bounds(month, time_zone)
    links = bool(await conn.fetchval(HAS_LINKS))
    sql = BASELINE.format(link_counts=LINK_COUNTS if links else "", link_columns=LINK_COLUMNS if links else "")
    started = time.perf_counter()
    rows = await conn.fetch(sql, month, start, end)
    return Baseline(time.perf_counter() - started, {r["station_code"]: r for r in rows})


def items_of(result) -> list:
    """The ranked items, whatever month_ranking returns them in."""
    return list(getattr(result, "items", result))


def compared(baseline: Baseline) -> tuple[str, ...]:
    """The facts compared station by station: the links too where they are stored."""
    first = next(iter(baseline.rows.values()), None)
    return COMPARED + (LINKED if first is not None and "repeat_disputes" in first.keys() else ())


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
        for name in compared(baseline):
            if getattr(mine, name) != row[name]:
                problems.append(f"{code} {name}: service {getattr(mine, name)}, baseline {row[name]}")
        if len(problems) > 20:
            return problems + ["..."]
    items = items_of(ours.ranking)
    if len(items) != len(baseline.rows):
        problems.append(f"ranking has {len(items)} items for {len(baseline.rows)} stations")
    ranks = [item.ranked.rank for item in items if item.ranked.rank is not None]
    if ranks != sorted(ranks) or (ranks and ranks[0] != 1):
        problems.append("ranks are not ascending from 1")
    return problems


def summary(ours: Ours) -> str:
    """Grades, candidates, red lines and ties of the ranking."""
    items = items_of(ours.ranking)
    rows = [item.ranked for item in items]
    grades = Counter(row.grade for row in rows)
    scored = [row for row in rows if row.score is not None]
    tied = sum(1 for row in scored if row.tied_with)
    best = f"; best {scored[0].unit} at {scored[0].score}" if scored else ""
    return (f"{len(items):,} stations ranked, {len(scored):,} scored; grades "
            + ", ".join(f"{g} {grades[g]:,}" for g in sorted(grades, key=str))
            + f"; {sum(r.candidate for r in rows):,} candidates, {sum(r.red_line for r in rows):,} red lines, "
            + f"{tied:,} sharing their rank{best}")
