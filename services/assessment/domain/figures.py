"""The figures of one unit's month (docs/design.md, "Assessment figures"), each defined once with its formula."""
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType

PER = 10_000  # crime and group defence are reported per 10,000 residents, as public security statistics do
NONE: Mapping[str, int] = MappingProxyType({})
# Each pair: the first counts a subset of the second's cases, so a rate above 100% is a bug upstream.
_SUBSETS = (("disputes", "calls"), ("crimes", "calls"), ("civil_to_criminal", "crimes"),
            ("agreements", "closed"), ("closed_without_referral", "closed"), ("repeat_disputes", "disputes"),
            ("repeat_disputes_30d", "repeat_disputes"),
            ("confirmations_confirmed", "confirmations_requested"), ("households_visited", "households_registered"),
            ("agreements_breached", "agreements_due"))


@dataclass(frozen=True)
class MonthFacts:
    """One month's facts of one station, grid or officer: counts and the samples of durations."""
    calls: int = 0  # every 110 call of the month placed in the unit, whatever its kind
    disputes: int = 0
    agreements: int = 0  # cases closed this month that ended in a mediation agreement
    closed: int = 0
    closed_without_referral: int = 0  # closed cases never referred to litigation or an upper level
    repeat_disputes: int = 0  # disputes of the month that repeat one within the 90 days before
    repeat_disputes_30d: int = 0  # ... within the 30 days before (a subset of those)
    civil_to_criminal: int = 0  # crimes of the link rules' types that followed a dispute (domain/links.py)
    claim_minutes: Sequence[float] = ()  # case creation to first claim, one per claimed case
    close_hours: Sequence[float] = ()  # case creation to close, one per closed case
    sla_breaches: int = 0
    callbacks_satisfied: int = 0
    callbacks_basically_satisfied: int = 0
    callbacks_dissatisfied: int = 0  # callbacks that reached nobody are not counted at all
    confirmations_requested: int = 0
    confirmations_confirmed: int = 0  # of the requests counted above
    agreements_due: int = 0  # mediation agreements whose performance date falls in the month
    agreements_breached: int = 0  # of those, the ones reported breached
    households_visited: int = 0  # distinct registered households visited
    households_registered: int = 0
    information_items: int = 0
    crimes: int = 0
    residents: int = 0
    group_defence_participants: int = 0  # distinct residents in patrols or volunteer prevention

    def __post_init__(self) -> None:
        """Refuse negative or non-whole counts and impossible subsets; keep samples as tuples."""
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in ("claim_minutes", "close_hours"):
                if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                    raise ValueError(f"{field.name}: expected a list of durations, got {value!r}")
                if bad := [v for v in value if isinstance(v, bool) or not isinstance(v, int | float)
                           or not math.isfinite(v) or v < 0]:
                    raise ValueError(f"{field.name}: expected finite durations >= 0, got {bad[0]!r}")
                object.__setattr__(self, field.name, tuple(value))  # a list given stays immutable as a tuple
            elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{field.name}: expected a whole number >= 0, got {value!r}")
        for part, whole in _SUBSETS:
            if (counted := getattr(self, part)) > (total := getattr(self, whole)):
                raise ValueError(f"{part} ({counted}) exceeds {whole} ({total}), of which it counts a part")


@dataclass(frozen=True)
class Figure:
    """One figure: value None, and not rankable, when its sample is empty or below the rules' minimum."""
    name: str
    value: float | None
    numerator: int | None  # None for the time figures, which have a sample but no numerator
    denominator: int | None  # None for counts; the sample size for the time figures
    rankable: bool

    def __post_init__(self) -> None:
        """A value is rankable exactly when it exists; a NaN or infinity is never a figure."""
        if self.rankable != (self.value is not None) or (self.value is not None and not math.isfinite(self.value)):
            raise ValueError(f"figure {self.name!r}: rankable={self.rankable} does not fit value {self.value!r}")


def _least(name: str, min_samples: Mapping[str, int]) -> int:
    """The smallest sample a figure is shown for; never below 1, so an empty sample is never 0% or 100%."""
    return max(1, min_samples.get(name, 1))


def _rate(name: str, numerator: int, denominator: int, min_samples: Mapping[str, int], scale: int = 1) -> Figure:
    """numerator x scale / denominator, or None below the minimum sample (Python's int division rounds once)."""
    if denominator < _least(name, min_samples):
        return Figure(name, None, numerator, denominator, False)
    return Figure(name, numerator * scale / denominator, numerator, denominator, True)


def _count(name: str, count: int) -> Figure:
    """A count has no sample: always shown and rankable."""
    return Figure(name, float(count), count, None, True)


def _statistic(name: str, sample: Sequence[float], min_samples: Mapping[str, int],
               statistic: Callable[[Sequence[float]], float]) -> Figure:
    """A statistic of a sample of durations, or None below the minimum sample."""
    if len(sample) < _least(name, min_samples):
        return Figure(name, None, None, len(sample), False)
    return Figure(name, float(statistic(sample)), None, len(sample), True)


def dispute_count(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """dispute_count = disputes (count of disputes received in the month)."""
    return _count("dispute_count", facts.disputes)


def dispute_share(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """dispute_share = disputes / calls (ratio; sample: every call of the month)."""
    # Fewer of a jurisdiction's calls being disputes is what prevention and early mediation buy.
    return _rate("dispute_share", facts.disputes, facts.calls, min_samples)


def resolution_rate(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """resolution_rate = agreements / closed (a ratio 0..1; sample: closed cases)."""
    return _rate("resolution_rate", facts.agreements, facts.closed, min_samples)


def local_resolution_rate(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """local_resolution_rate = closed_without_referral / closed (ratio; no referral to litigation or upward)."""
    return _rate("local_resolution_rate", facts.closed_without_referral, facts.closed, min_samples)


def repeat_dispute_rate(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """repeat_dispute_rate = repeat_disputes / disputes (ratio; sample: disputes)."""
    return _rate("repeat_dispute_rate", facts.repeat_disputes, facts.disputes, min_samples)


def repeat_dispute_rate_30d(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """repeat_dispute_rate_30d = repeat_disputes_30d / disputes (ratio; a repeat within 30 days; sample: disputes)."""
    return _rate("repeat_dispute_rate_30d", facts.repeat_disputes_30d, facts.disputes, min_samples)


def civil_to_criminal_count(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """civil_to_criminal_count = civil_to_criminal (count; the red-line figure)."""
    return _count("civil_to_criminal_count", facts.civil_to_criminal)


def civil_to_criminal_per_10k_residents(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """civil_to_criminal_per_10k_residents = civil_to_criminal x 10,000 / residents (sample: residents)."""
    return _rate("civil_to_criminal_per_10k_residents", facts.civil_to_criminal, facts.residents, min_samples, PER)


def median_minutes_to_claim(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """median_minutes_to_claim = median(claim_minutes): middle of n sorted, mean of the two middle ones if n even."""
    return _statistic("median_minutes_to_claim", facts.claim_minutes, min_samples, statistics.median)


def _nearest_rank_p90(sample: Sequence[float]) -> float:
    """x(k) of the sorted sample, k = ceil(0.9 n)."""
    return sorted(sample)[(9 * len(sample) + 9) // 10 - 1]  # integer ceil(0.9 n): no float rounding of the rank


def p90_hours_to_close(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """p90_hours_to_close = x(k), k = ceil(0.9 n), of close_hours sorted ascending x(1..n) (nearest rank)."""
    # Nearest rank, no interpolation: it always reports a duration that happened, and needs no choice of method.
    return _statistic("p90_hours_to_close", facts.close_hours, min_samples, _nearest_rank_p90)


def sla_breaches(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """sla_breaches = sla_breaches (count of SLA timers that expired in the month)."""
    return _count("sla_breaches", facts.sla_breaches)


def satisfaction_rate(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """satisfaction_rate = (satisfied + basically satisfied) / (satisfied + basically satisfied + dissatisfied)."""
    # "Basically satisfied" counts as satisfied, as in the public evaluation of community policing.
    satisfied = facts.callbacks_satisfied + facts.callbacks_basically_satisfied
    return _rate("satisfaction_rate", satisfied, satisfied + facts.callbacks_dissatisfied, min_samples)


def judicial_confirmation_rate(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """judicial_confirmation_rate = confirmations_confirmed / confirmations_requested (ratio)."""
    confirmed, requested = facts.confirmations_confirmed, facts.confirmations_requested
    return _rate("judicial_confirmation_rate", confirmed, requested, min_samples)


def breach_rate(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """breach_rate = agreements_breached / agreements_due (ratio): of the agreements to be performed in the
    month, the share reported breached (a breach reopens the case and escalates it to the chief)."""
    return _rate("breach_rate", facts.agreements_breached, facts.agreements_due, min_samples)


def familiarity_rate(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """familiarity_rate = households_visited / households_registered (ratio)."""
    return _rate("familiarity_rate", facts.households_visited, facts.households_registered, min_samples)


def information_items(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """information_items = information_items (count of items of information provided)."""
    return _count("information_items", facts.information_items)


def crimes_per_10k_residents(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """crimes_per_10k_residents = crimes x 10,000 / residents (sample: residents)."""
    return _rate("crimes_per_10k_residents", facts.crimes, facts.residents, min_samples, PER)


def group_defence_per_10k_residents(facts: MonthFacts, min_samples: Mapping[str, int] = NONE) -> Figure:
    """group_defence_per_10k_residents = group_defence_participants x 10,000 / residents (sample: residents)."""
    # A rate, not a count: a large jurisdiction must not win on its size alone.
    return _rate("group_defence_per_10k_residents", facts.group_defence_participants, facts.residents,
                 min_samples, PER)


FIGURES = (dispute_count, dispute_share, resolution_rate, local_resolution_rate, repeat_dispute_rate,
           repeat_dispute_rate_30d, civil_to_criminal_count, civil_to_criminal_per_10k_residents, median_minutes_to_claim, p90_hours_to_close, sla_breaches, satisfaction_rate, judicial_confirmation_rate,
           breach_rate, familiarity_rate, information_items, crimes_per_10k_residents, group_defence_per_10k_residents)
FIGURE_NAMES = tuple(figure.__name__ for figure in FIGURES)
COUNTS = ("dispute_count", "civil_to_criminal_count", "sla_breaches", "information_items")
SAMPLED = tuple(name for name in FIGURE_NAMES if name not in COUNTS)  # the figures a minimum sample applies to


def check_min_samples(min_samples: Mapping[str, int]) -> None:
    """Refuse a minimum for a figure without a sample, or one that is not a whole number >= 1."""
    for name, least in min_samples.items():
        if name not in SAMPLED:
            raise ValueError(f"min_samples.{name}: not a figure with a sample; expected one of {SAMPLED}")
        if not isinstance(least, int) or isinstance(least, bool) or least < 1:
            raise ValueError(f"min_samples.{name}: expected a whole number >= 1, got {least!r}")


def all_figures(facts: MonthFacts, min_samples: Mapping[str, int]) -> dict[str, Figure]:
    """Every figure of one unit's month, by name, in the order of docs/design.md, "Assessment figures"."""
    check_min_samples(min_samples)
    return {figure.__name__: figure(facts, min_samples) for figure in FIGURES}
