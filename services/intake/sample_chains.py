"""Civil-to-criminal chains (民转刑) seeded into the sample feed.

A chain is a neighbour or family dispute and, one to eight weeks later (sooner in a feed of a few days),
an intentional injury between the same two people, reported by the same caller, from the same phone, at
the same precise address: what the civil-to-criminal figure of a scorecard looks for. A feed holds a handful, at two or three
stations only, so a ranking shows the red line at some stations and not at others.
"""
from collections.abc import Callable
from dataclasses import dataclass
from math import ceil
from typing import Any

from services.intake import sample_texts as T
from services.intake.domain.jurisdiction import Station
from services.intake.sample_random import SampleRandom

CHAINS = (4, 6)  # chains per feed, both ends included
CHAIN_STATIONS = (2, 3)  # the stations they happen at, both ends included
GAP_DAYS = (7, 56)  # from the dispute to the crime
# A feed shorter than this has none: a handful of chains would be a large share of its lines.
MIN_LINES = 100
DAY = 86400


@dataclass(frozen=True)
class Chain:
    """The two parties' story: who calls, from where, and the two texts."""

    station_code: str
    dispute_type: str  # neighbour or family
    caller_name: str
    caller_phone: str
    place: dict[str, Any]  # address_text, and the station code when the CAD gave it
    dispute_text: str
    crime_text: str


@dataclass(frozen=True)
class Step:
    """One line of a chain: its dispute, or its crime."""

    chain: Chain
    crime: bool


def _chain(r: SampleRandom, station: Station, caller: Callable[[], tuple[str, str]],
           address: Callable[[Station], str]) -> Chain:
    dispute_type = "neighbour" if r.random() < 0.6 else "family"
    name, phone = caller()
    other = r.pick([s for s in T.SURNAMES if s != name[0]])
    # The operator names the caller by surname; in a family chain the caller is the wife.
    a = f"{name[0]}女士" if dispute_type == "family" else r.pick(("{s}女士", "{s}先生", "{s}某")).format(s=name[0])
    parties = {"a": a, "b": f"{other}某"}
    text = address(station)
    place = {"station_code": station.code, "address_text": text} if r.random() < 0.5 else {"address_text": text}
    return Chain(station.code, dispute_type, name, phone, place,
                 r.pick(T.CHAIN_DISPUTES[dispute_type]).format(**parties),
                 r.pick(T.CHAIN_CRIMES[dispute_type]).format(**parties))


def plan(r: SampleRandom, n: int, line_seconds: float, stations: tuple[Station, ...],
         caller: Callable[[], tuple[str, str]], address: Callable[[Station], str]) -> dict[int, Step]:
    """The line index of each chain's dispute and crime; caller() gives a named caller and a phone,
    address() a precise address in a station."""
    # Line i is received within [i, i + 1) * line_seconds of the start: lines gap_min apart are at least
    # GAP_DAYS[0] apart in time, lines gap_max apart at most GAP_DAYS[1]. A feed spanning less than two
    # weeks (the first days of a month) keeps its chains, closer together: from a tenth to half of it.
    span_days = n * line_seconds / DAY
    shortest, longest = GAP_DAYS if span_days >= 2 * GAP_DAYS[0] else (span_days / 10, span_days / 2)
    gap_min = ceil(shortest * DAY / line_seconds) + 1
    gap_max = max(int(longest * DAY / line_seconds) - 1, gap_min)
    if n < MIN_LINES or gap_min >= n:
        return {}
    chosen = r.sample(stations, r.between(CHAIN_STATIONS[0], CHAIN_STATIONS[1] + 1))
    steps: dict[int, Step] = {}
    for k in range(r.between(CHAINS[0], CHAINS[1] + 1)):
        chain = _chain(r, chosen[k % len(chosen)], caller, address)
        while True:  # two chains never share a line; the feed has room for many more than six
            dispute = r.between(0, n - gap_min)
            crime = dispute + r.between(gap_min, min(gap_max, n - 1 - dispute) + 1)
            if dispute not in steps and crime not in steps:
                break
        steps[dispute], steps[crime] = Step(chain, crime=False), Step(chain, crime=True)
    return steps
