"""How well each sample station works in the main job: strong, average or struggling.

A profile drives the scripted mediator (how many cases a station claims, how late, how many sessions,
how they end, how often it asks the court to confirm an agreement) and the station's month of
community work (callbacks' satisfaction, household visits, information items, patrols), so that the
month's ranking has something to rank. Everything here is pure and deterministic: the same stations
and seed give the same plan.
"""
import random
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """One way of working a station; shares are of the station's claimed or closed cases, or of households."""

    name: str
    claims: float  # cases claimed, as a multiple of the run's cases per station
    left_open: int  # claimed cases left without a session: the desk has more than it can work
    deferred: bool  # works its claimed cases only after every other station: slow to claim and to close
    outcomes: tuple[int, int, int]  # weights of agreement, failure referred to court, failure closed here
    sessions: tuple[int, int]  # sessions held per case, both ends included
    confirmation: float  # agreements sent for judicial confirmation
    confirmed: float  # of those, confirmed by the court (the rest rejected)
    satisfaction: tuple[int, int, int, int]  # callbacks: satisfied, basically, dissatisfied, unreached
    visits: tuple[float, float]  # share of a grid's registered households visited this month
    information: tuple[int, int]  # information items per grid
    patrols: tuple[int, int]  # group-defence patrols per grid
    participants: tuple[int, int]  # residents per patrol


STRONG = Profile("strong", claims=4 / 3, left_open=0, deferred=False, outcomes=(17, 1, 2), sessions=(1, 3),
                 confirmation=0.4, confirmed=0.9, satisfaction=(16, 4, 0, 1), visits=(0.30, 0.45),
                 information=(4, 9), patrols=(3, 6), participants=(12, 30))
AVERAGE = Profile("average", claims=13 / 12, left_open=0, deferred=False, outcomes=(7, 2, 1), sessions=(1, 2),
                  confirmation=0.25, confirmed=0.75, satisfaction=(6, 3, 1, 1), visits=(0.12, 0.22),
                  information=(1, 4), patrols=(1, 3), participants=(6, 15))
# A struggling desk still closes enough cases for ten answered callbacks: its satisfaction is ranked, not
# left out for too small a sample.
STRUGGLING = Profile("struggling", claims=1.0, left_open=1, deferred=True, outcomes=(9, 7, 4), sessions=(1, 1),
                     confirmation=0.15, confirmed=0.5, satisfaction=(3, 3, 4, 1), visits=(0.02, 0.06),
                     information=(0, 1), patrols=(0, 1), participants=(3, 8))
PROFILES = (STRONG, AVERAGE, STRUGGLING)


@dataclass(frozen=True)
class CasePlan:
    """What the scripted mediator does with one claimed case."""

    sessions: int
    outcome: str  # agreement, referred (failed, referred to the court) or failed (closed here)
    confirmation: str | None = None  # for an agreement: confirmed, rejected, or None when not requested


def assign(stations: Iterable[tuple[str, str]]) -> dict[str, Profile]:
    """A profile for each (station code, county code): within each county in code order, strong, average
    and struggling in turn, each county starting one further on, so every county has all three and the
    city about a third of each."""
    by_county: dict[str, list[str]] = {}
    for code, county in stations:
        by_county.setdefault(county, []).append(code)
    return {code: PROFILES[(i + c) % len(PROFILES)]
            for c, county in enumerate(sorted(by_county)) for i, code in enumerate(sorted(by_county[county]))}


def rng_for(seed: int, station: str, purpose: str) -> random.Random:
    """A Random of its own for each station and purpose, so one station's plan never shifts another's."""
    return random.Random(f"{seed}/{station}/{purpose}")


def _spread(n: int, weights: tuple[int, ...], rng: random.Random) -> list[int]:
    """n indices into weights in the weights' proportions (largest remainders), shuffled."""
    total = sum(weights)
    exact = [n * w / total for w in weights]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(weights)), key=lambda i: exact[i] - counts[i], reverse=True)[:n - sum(counts)]:
        counts[i] += 1
    order = [i for i, count in enumerate(counts) for _ in range(count)]
    rng.shuffle(order)
    return order


def claims(profile: Profile, per_station: int) -> int:
    """How many cases the station claims in this run."""
    return max(1, round(per_station * profile.claims))


def case_plans(profile: Profile, n: int, rng: random.Random) -> list[CasePlan]:
    """The plan of each of n cases to close, in the order they are claimed."""
    plans = []
    for index in _spread(n, profile.outcomes, rng):
        outcome = ("agreement", "referred", "failed")[index]
        confirmation = None
        if outcome == "agreement" and rng.random() < profile.confirmation:
            confirmation = "confirmed" if rng.random() < profile.confirmed else "rejected"
        plans.append(CasePlan(rng.randint(*profile.sessions), outcome, confirmation))
    return plans


def satisfactions(profile: Profile, n: int, rng: random.Random) -> list[str]:
    """The answers of n callbacks, in the profile's proportions."""
    names = ("satisfied", "basically_satisfied", "dissatisfied", "unreached")
    return [names[i] for i in _spread(n, profile.satisfaction, rng)]


def visited_households(profile: Profile, households: int, rng: random.Random) -> list[int]:
    """Distinct registered households (numbered 1..households) visited in the month."""
    share = rng.uniform(*profile.visits)
    return sorted(rng.sample(range(1, households + 1), min(households, round(households * share))))
