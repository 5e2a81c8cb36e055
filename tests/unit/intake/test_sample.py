"""The sample 110 feed: deterministic, streaming, realistic, and bad in the ways a real feed is bad."""
import json
import re
import tracemalloc
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.intake import sample
from services.intake.domain.classification import DISPUTE_TYPES, KINDS, RISK_FLAGS, Classifier
from services.intake.domain.jurisdiction import Jurisdictions
from services.intake.domain.record import DispatchRecord

N, SEED = 5000, 7
PHONE = re.compile(r"1[3-9]\d{9}")
NUMBER = re.compile(r"110-\d{8}-\d{6}")


def parse(line: str) -> DispatchRecord | None:
    """The record a line carries, or None when it is malformed (not JSON, not an object, invalid)."""
    try:
        data = json.loads(line)
        return DispatchRecord.model_validate(data) if isinstance(data, dict) else None
    except (ValueError, ValidationError):
        return None


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return list(sample.generate(N, SEED))


@pytest.fixture(scope="module")
def parsed(lines: list[str]) -> list[DispatchRecord | None]:
    return [parse(line) for line in lines]


@pytest.fixture(scope="module")
def records(parsed: list[DispatchRecord | None]) -> list[DispatchRecord]:
    return [r for r in parsed if r is not None]


@pytest.fixture(scope="module")
def incidents(lines: list[str], parsed: list[DispatchRecord | None]) -> list[DispatchRecord]:
    """Each well-formed line once: exact duplicates removed."""
    return list({line: r for line, r in zip(lines, parsed) if r is not None}.values())


def test_same_seed_gives_the_same_lines_and_another_seed_others() -> None:
    first = list(sample.generate(2000, 11))
    assert first == list(sample.generate(2000, 11))
    other = list(sample.generate(2000, 12))
    assert len(set(first) & set(other)) < 10


@pytest.mark.parametrize("n", [0, 1, 2, 17, 999])
def test_yields_exactly_n_lines(n: int) -> None:
    assert sum(1 for _ in sample.generate(n, 1)) == n


def test_every_line_is_one_line_of_valid_utf8(lines: list[str]) -> None:
    for line in lines:
        assert line and line.splitlines() == [line]  # no newline, nor any separator splitlines() knows
        line.encode("utf-8")  # raises on a lone surrogate


def test_malformed_share_is_close_to_the_option(parsed: list[DispatchRecord | None]) -> None:
    bad = sum(r is None for r in parsed)
    assert 0.01 * N <= bad <= 0.03 * N
    half = list(sample.generate(2000, SEED, malformed_share=0.5))
    assert 800 <= sum(parse(line) is None for line in half) <= 1200


def test_without_malformed_share_every_line_validates() -> None:
    assert all(parse(line) is not None for line in sample.generate(N, SEED, malformed_share=0))


def _defect(line: str) -> str:
    """Why a malformed line fails, as one of a few coarse names."""
    try:
        data = json.loads(line)
    except ValueError:
        return "not json"
    if not isinstance(data, dict):
        return "not an object"
    try:
        DispatchRecord.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field, kind = error["loc"][0] if error["loc"] else "", error["type"]
        if kind == "missing":
            return f"missing {field}"
        if kind == "value_error":
            return "in the future" if "future" in error["msg"] else f"{field} before received_at"
        return f"bad type {field}"
    return "valid"


def test_malformed_lines_come_in_every_kind() -> None:
    defects = Counter(_defect(line) for line in sample.generate(3000, SEED, malformed_share=0.3))
    for expected in ("not json", "not an object", "missing incident_number", "missing received_at",
                     "bad type revision", "bad type longitude", "closed_at before received_at", "in the future"):
        assert defects[expected] > 0, (expected, defects)


def test_records_look_like_a_110_feed(records: list[DispatchRecord]) -> None:
    start = sample.DEFAULT_START
    for r in records:
        assert r.source == "SAMPLE-CAD" and NUMBER.fullmatch(r.incident_number)
        assert r.incident_number[4:12] == r.received_at.strftime("%Y%m%d")
        assert r.received_at.utcoffset() == timedelta(hours=8)
        assert start <= r.received_at < start + timedelta(days=31)
        times = [t for t in (r.received_at, r.dispatched_at, r.arrived_at, r.closed_at) if t is not None]
        assert times == sorted(times)
        assert PHONE.fullmatch(r.caller_phone or "")
        assert r.caller_name is None or 2 <= len(r.caller_name) <= 3
        assert r.closed_at is None or r.disposition
    assert len({r.description for r in records}) > N // 3  # templates are filled, not repeated verbatim
    assert sum(r.caller_name is not None for r in records) > 0.9 * len(records)


def test_times_spread_over_the_month_from_start() -> None:
    start = datetime(2024, 9, 1)  # naive: Beijing time
    received = [datetime.fromisoformat(json.loads(line)["received_at"])
                for line in sample.generate(3000, 5, malformed_share=0, start=start)]
    assert all(line.utcoffset() == timedelta(hours=8) for line in received)
    assert received[0].date().isoformat() == "2024-09-01"
    assert received[-1] - received[0] > timedelta(days=25)
    assert all(timedelta(0) <= t - received[0] < timedelta(days=30) for t in received)
    # An aware start may be in any zone; output stays in Beijing time. 00:00 UTC is 08:00 in Beijing.
    utc = list(sample.generate(50, 5, start=datetime(2024, 9, 1, tzinfo=UTC)))
    assert utc == list(sample.generate(50, 5, start=datetime(2024, 9, 1, 8)))


def test_every_kind_dispute_type_and_risk_flag_appears(incidents: list[DispatchRecord]) -> None:
    classifier = Classifier.load()
    results = [classifier.classify(category=r.category_code, description=r.description,
                                   category_text=r.category_text) for r in incidents]
    kinds = Counter(c.kind for c in results)
    assert set(kinds) == set(KINDS)
    assert 0.45 <= kinds["dispute"] / len(results) <= 0.65
    assert {c.dispute_type for c in results if c.kind == "dispute"} == set(DISPUTE_TYPES)
    assert set().union(*(c.risk_flags for c in results)) == set(RISK_FLAGS) - {"repeat_caller"}


def test_dispute_codes_are_specific_generic_or_missing(incidents: list[DispatchRecord]) -> None:
    codes = Counter(r.category_code for r in incidents)
    assert {"dispute", None, "crime", "help", "traffic", "other"} <= set(codes)
    assert {f"dispute.{t}" for t in DISPUTE_TYPES} <= set(codes)


def test_some_callers_call_again_and_again(incidents: list[DispatchRecord]) -> None:
    first_calls = [r for r in incidents if r.revision == 1]
    phones = Counter(r.caller_phone for r in first_calls)
    assert max(phones.values()) >= 3
    frequent = sum(count for _, count in phones.most_common(sample.REPEAT_PHONES))
    assert 0.07 <= frequent / len(first_calls) <= 0.2


def test_some_incidents_are_revised_later_in_the_stream(parsed: list[DispatchRecord | None]) -> None:
    first_seen: dict[str, int] = {}
    revised = 0
    for index, r in enumerate(parsed):
        if r is None:
            continue
        if r.revision == 1:
            first_seen.setdefault(r.incident_number, index)
        else:
            assert r.revision == 2 and first_seen[r.incident_number] < index
            revised += 1
    assert 0.03 <= revised / len(first_seen) <= 0.08


def test_revision_one_is_the_same_record_wherever_it_appears(lines: list[str],
                                                            parsed: list[DispatchRecord | None]) -> None:
    # Incident numbers are unique: any two revision-1 lines with one number are exact duplicates.
    by_number: dict[str, set[str]] = defaultdict(set)
    for line, r in zip(lines, parsed):
        if r is not None and r.revision == 1:
            by_number[r.incident_number].add(line)
    assert all(len(variants) == 1 for variants in by_number.values())


def test_some_lines_are_exact_duplicates(lines: list[str], parsed: list[DispatchRecord | None]) -> None:
    counts = Counter(line for line, r in zip(lines, parsed) if r is not None)
    repeats = sum(count - 1 for count in counts.values())
    assert 0.003 * N <= repeats <= 0.02 * N


def test_all_four_placements_appear(incidents: list[DispatchRecord]) -> None:
    city = Jurisdictions.load()
    methods: Counter[str] = Counter()
    for r in incidents:
        assignment = city.resolve(station_code=r.station_code, point=r.point, address_text=r.address_text)
        methods[assignment.method] += 1
        if r.point is not None:  # a point is always inside one of the sample grids
            assert assignment.method == "grid" and assignment.grid_code
        if assignment.method == "address":
            assert r.address_text.startswith(("示例市北城区", "示例市南城区", "示例市西岭县", "北城区", "南城区", "西岭县"))
    assert set(methods) == {"record", "grid", "address", "unassigned"}
    assert min(methods.values()) > 0.05 * len(incidents)


def test_memory_stays_flat_on_a_long_stream() -> None:
    def peak(n: int) -> int:
        tracemalloc.start()
        for _ in sample.generate(n, 3):
            pass
        _, high = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return high

    peak(10)  # reference data is loaded once per process; keep it out of the comparison
    small, large = peak(1_000), peak(20_000)
    assert large < small * 1.5 + 200_000


def test_write_puts_one_line_per_record(tmp_path: Path) -> None:
    path = tmp_path / "feed.ndjson"
    sample.write(path, 300, 9, malformed_share=0.1)
    expected = "".join(f"{line}\n" for line in sample.generate(300, 9, malformed_share=0.1))
    assert path.read_bytes() == expected.encode("utf-8")


@pytest.mark.parametrize("kw", [{"n": -1}, {"malformed_share": 1.5}, {"malformed_share": -0.1}])
def test_bad_arguments_are_refused(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        sample.generate(**{"n": 10, "seed": 1, **kw})


# --- the sample city: every station, precise addresses, repeats and civil-to-criminal chains --------

HOUSE_NUMBER = re.compile(r"\d+号")
INJURY = re.compile(r"故意伤害|砍伤|捅伤|打伤|刺伤")


def station_of(city: Jurisdictions, r: DispatchRecord) -> str:
    return city.resolve(station_code=r.station_code, point=r.point, address_text=r.address_text).station_code


def chains_in(incidents: list[DispatchRecord]) -> list[tuple[DispatchRecord, DispatchRecord]]:
    """(dispute, crime) pairs found from the records alone: an injury crime whose caller phone and exact
    address made an earlier neighbour or family dispute."""
    classifier = Classifier.load()
    disputes: dict[tuple[str, str], list[DispatchRecord]] = defaultdict(list)
    for r in incidents:
        c = classifier.classify(category=r.category_code, description=r.description, category_text=r.category_text)
        if r.revision == 1 and c.kind == "dispute" and c.dispute_type in ("neighbour", "family"):
            disputes[(r.address_text, r.caller_phone)].append(r)
    return [(earlier, r) for r in incidents
            if r.revision == 1 and r.category_code == "crime" and INJURY.search(r.description)
            for earlier in disputes.get((r.address_text, r.caller_phone), ()) if earlier.received_at < r.received_at]


def test_every_station_of_the_sample_city_gets_calls(incidents: list[DispatchRecord]) -> None:
    city = Jurisdictions.load()
    calls = Counter(station_of(city, r) for r in incidents)
    stations = [s.code for s in city.stations() if s.county_code != "MKE"]
    assert len(stations) == 24
    assert min(calls[code] for code in stations) > 0.01 * len(incidents)


def test_most_addresses_are_precise_and_some_are_coarse(incidents: list[DispatchRecord]) -> None:
    addresses = [r.address_text for r in incidents if r.address_text]
    assert len(addresses) > 0.95 * len(incidents)
    precise = [a for a in addresses if HOUSE_NUMBER.search(a)]
    assert 0.78 <= len(precise) / len(addresses) <= 0.92
    in_town = [a for a in precise if not re.search("村|组", a)]  # a village house has no flat number
    assert sum("室" in a for a in in_town) > 0.7 * len(in_town), "a precise address in town mostly names the flat"
    coarse = [a for a in addresses if not HOUSE_NUMBER.search(a)]
    assert any(a.endswith("路") for a in coarse) and any(a.endswith("附近") for a in coarse)


def test_repeat_disputes_come_back_to_the_same_flat_or_phone(incidents: list[DispatchRecord]) -> None:
    disputes = [r for r in incidents if r.revision == 1 and (r.category_code or "").startswith("dispute")]
    by_address: dict[str, set[str]] = defaultdict(set)
    for r in disputes:
        if HOUSE_NUMBER.search(r.address_text or ""):
            by_address[r.address_text].add(r.incident_number)
    repeated = {a for a, numbers in by_address.items() if len(numbers) >= 3}
    assert len(repeated) >= 20, "repeat callers call again from their own flat"
    phones_at = defaultdict(set)
    for r in disputes:
        if r.address_text in repeated:
            phones_at[r.address_text].add(r.caller_phone)
    assert sum(len(phones) > 1 for phones in phones_at.values()) >= 5, "another of the household calls too"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_handful_of_disputes_turn_into_an_injury_at_two_or_three_stations(seed: int) -> None:
    incidents = [r for r in map(parse, sample.generate(2000, seed)) if r is not None]
    pairs = set((d.incident_number, c.incident_number) for d, c in chains_in(incidents))
    assert 4 <= len(pairs) <= 6, pairs
    by_number = {r.incident_number: r for r in incidents if r.revision == 1}
    city = Jurisdictions.load()
    stations = set()
    for dispute, crime in (map(by_number.get, pair) for pair in sorted(pairs)):
        assert timedelta(days=7) <= crime.received_at - dispute.received_at <= timedelta(days=56)
        assert HOUSE_NUMBER.search(crime.address_text) and crime.caller_phone == dispute.caller_phone
        assert station_of(city, crime) == station_of(city, dispute) != "unassigned"
        assert crime.caller_name == dispute.caller_name
        stations.add(station_of(city, crime))
    assert 2 <= len(stations) <= 3


def test_ordinary_crimes_happen_elsewhere_and_often_in_the_street(incidents: list[DispatchRecord]) -> None:
    chained = {c.incident_number for _, c in chains_in(incidents)}
    dispute_places = {r.address_text for r in incidents if (r.category_code or "").startswith("dispute")
                      and HOUSE_NUMBER.search(r.address_text or "")}
    crimes = [r for r in incidents if r.revision == 1 and r.category_code == "crime"
              and r.incident_number not in chained]
    assert len(crimes) > 200
    assert sum(r.address_text in dispute_places for r in crimes) <= 0.01 * len(crimes)
    assert sum(not HOUSE_NUMBER.search(r.address_text or "") for r in crimes) > 0.3 * len(crimes)


def test_chains_follow_the_seed() -> None:
    def chains(seed: int) -> list[tuple[str, str, str]]:
        incidents = [r for r in map(parse, sample.generate(1500, seed)) if r is not None]
        return sorted((d.incident_number, c.incident_number, c.address_text) for d, c in chains_in(incidents))

    first = chains(21)
    assert first and first == chains(21)
    assert {a for _, _, a in first}.isdisjoint(a for _, _, a in chains(22))


def test_a_short_feed_has_no_chains() -> None:
    incidents = [r for r in map(parse, sample.generate(60, 4, malformed_share=0)) if r is not None]
    assert len(incidents) >= 55 and not chains_in(incidents)


def test_a_feed_of_a_few_days_keeps_its_chains_closer_together() -> None:
    """The main job fills only the days of the current month so far: its chains must still be there."""
    start = datetime(2026, 12, 1, tzinfo=timezone(timedelta(hours=8)))
    incidents = [r for r in map(parse, sample.generate(2000, 1, start=start, days=5)) if r is not None]
    assert max(r.received_at for r in incidents) < start + timedelta(days=5)
    pairs = list(chains_in(incidents))
    assert 4 <= len({(d.incident_number, c.incident_number) for d, c in pairs}) <= 6
    assert all(timedelta(hours=12) <= c.received_at - d.received_at <= timedelta(days=2.5) for d, c in pairs)
