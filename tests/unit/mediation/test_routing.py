"""Routing of new cases: rules over dispute type, risk flags and the channels each station has."""
import copy
from datetime import timedelta

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from services.intake.domain import classification
from services.mediation.domain import routing
from services.mediation.domain.routing import CHANNELS, HIGH_RISK_FLAGS, Route, Router
from shared.events import intake as intake_events

RULES = yaml.safe_load(routing.DEFAULT_RULES.read_text(encoding="utf-8"))
STATIONS = yaml.safe_load(routing.DEFAULT_CHANNELS.read_text(encoding="utf-8"))
ROUTER = Router.load()
ALL, NO_COURT, NO_LAWYER, LAWYER_ONLY = "990101001", "990101002", "990102001", "990102002"
SO, PM, LAW, COURT = CHANNELS
HALF_HOUR, DAY = timedelta(minutes=30), timedelta(hours=24)

# (station, dispute type, risk flags, channel, rule that fired)
CASES = [
    (ALL, "labour", [], LAW, "labour"),
    (NO_LAWYER, "labour", [], PM, "labour"),
    ("unassigned", "labour", [], SO, "labour"),
    (ALL, "labour", ["threat"], SO, "high_risk"),
    (ALL, "neighbour", ["weapon", "repeat_caller"], SO, "high_risk"),
    (ALL, "neighbour", ["repeat_caller"], PM, "neighbour"),
    ("MKE-D3", "neighbour", [], PM, "neighbour"),
    (LAWYER_ONLY, "neighbour", [], SO, "neighbour"),
    (ALL, "consumer", [], PM, "civil_money"),
    (LAWYER_ONLY, "debt", [], LAW, "civil_money"),
    ("MKE-D1", "property_management", [], PM, "civil_money"),
    ("unassigned", "property_management", [], SO, "civil_money"),
    (ALL, "land", [], PM, "land"),
    (LAWYER_ONLY, "land", [], SO, "land"),
    (ALL, "traffic_damage", [], COURT, "traffic_damage"),
    (NO_COURT, "traffic_damage", [], PM, "traffic_damage"),
    (LAWYER_ONLY, "traffic_damage", [], SO, "traffic_damage"),
    (NO_LAWYER, "family", [], PM, "family"),
    (NO_LAWYER, "family", ["domestic_violence"], SO, "high_risk"),
    (ALL, None, ["self_harm"], SO, "high_risk"),
    (ALL, "other", [], SO, "default"),
    (ALL, None, [], SO, "default"),
    ("NO-SUCH-STATION", "labour", [], SO, "labour"),
]


@pytest.mark.parametrize("station, dispute_type, flags, channel, rule", CASES)
def test_routing_table(station, dispute_type, flags, channel, rule):
    high = bool(HIGH_RISK_FLAGS & set(flags))
    route = ROUTER.route(station_code=station, dispute_type=dispute_type, risk_flags=flags)
    assert route == Route(channel, rule, high, HALF_HOUR if high else DAY)


def test_shipped_files():
    assert ROUTER.rules_version == "routing.v1"
    assert ROUTER.channels_of(ALL) == frozenset(CHANNELS)
    assert len({ROUTER.channels_of(code) for code in (ALL, NO_COURT, NO_LAWYER, LAWYER_ONLY)}) == 4
    assert all(ROUTER.channels_of(f"MKE-D{n}") == {SO, PM} for n in range(1, 8))
    assert ROUTER.channels_of("unassigned") == ROUTER.channels_of("somewhere-new") == {SO}


def test_sla_durations():
    assert (ROUTER.sla.claim_high_risk, ROUTER.sla.claim_normal) == (HALF_HOUR, DAY)
    assert (ROUTER.sla.session_within, ROUTER.sla.confirmation_warning_days) == (timedelta(hours=72), 25)
    assert ROUTER.route(station_code=ALL, dispute_type="debt", risk_flags={"repeat_caller"}).claim_within == DAY


def test_routing_and_classification_share_the_event_vocabulary():
    # One definition in shared/events/intake.py, not copies that could drift apart.
    assert routing.DISPUTE_TYPES is classification.DISPUTE_TYPES is intake_events.DISPUTE_TYPES
    assert routing.RISK_FLAGS is classification.RISK_FLAGS is intake_events.RISK_FLAGS


def test_one_string_of_flags_is_refused():
    with pytest.raises(TypeError, match="risk_flags"):
        ROUTER.route(station_code=ALL, dispute_type="debt", risk_flags="weapon")


def load(tmp_path, rules, stations=STATIONS) -> Router:
    """A router read from files written to tmp_path."""
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    (tmp_path / "channels.yaml").write_text(yaml.safe_dump(stations, allow_unicode=True), encoding="utf-8")
    return Router.load(tmp_path / "rules.yaml", tmp_path / "channels.yaml")


def test_first_match_wins_and_a_custom_file_changes_behaviour(tmp_path):
    rules = copy.deepcopy(RULES)
    rules["version"], rules["sla"]["claim_within"]["normal"] = "routing.test", "2h"
    labour = next(rule for rule in rules["rules"] if rule["id"] == "labour")
    rules["rules"].remove(labour)
    rules["rules"].insert(0, {**labour, "channels": [PM, LAW]})
    router = load(tmp_path, rules, {"default": [SO, PM], "stations": {"X1": [SO, LAW]}})
    assert router.rules_version == "routing.test"
    assert router.route(station_code=ALL, dispute_type="labour", risk_flags=["threat"]) == Route(
        PM, "labour", True, HALF_HOUR)
    assert router.route(station_code="X1", dispute_type="labour", risk_flags=[]) == Route(
        LAW, "labour", False, timedelta(hours=2))
    assert ROUTER.route(station_code=ALL, dispute_type="labour", risk_flags=["threat"]).rule == "high_risk"


def rule(rules, rule_id):
    return next(r for r in rules["rules"] if r["id"] == rule_id)


BROKEN = [  # (what breaks the shipped files, the message)
    (lambda r, s: rule(r, "labour")["when"].update(dispute_types=["wages"]),
     r"rule 'labour': when.dispute_types: unknown name 'wages'"),
    (lambda r, s: rule(r, "high_risk")["when"].update(risk_flags_any=["gun"]),
     r"rule 'high_risk': when.risk_flags_any: unknown name 'gun'"),
    (lambda r, s: rule(r, "land").update(channels=[PM, "judge"]), r"rule 'land': channels: unknown name 'judge'"),
    (lambda r, s: rule(r, "family").update(channels=[]), r"rule 'family': channels: expected a non-empty list"),
    (lambda r, s: rule(r, "labour").update(when={"dispute_type": ["labour"]}), r"rule 'labour': expected keys"),
    (lambda r, s: r["rules"].pop(), r"rule 'neighbour': the last rule must have no 'when'"),
    (lambda r, s: r["rules"].insert(1, {"id": "all", "channels": [SO]}), r"rule 'labour': unreachable, 'all' matches"),
    (lambda r, s: r["rules"].insert(1, dict(rule(r, "land"))), r"rule 'land': the id is used twice"),
    (lambda r, s: r["rules"].insert(0, {"when": {}, "channels": [SO]}), r"rules\[0\]: every rule needs"),
    (lambda r, s: r.pop("version"), r"'version'"),
    (lambda r, s: r["sla"]["claim_within"].update(high_risk="30 minutes"), r"claim_within.high_risk: .*'30 minutes'"),
    (lambda r, s: r["sla"].update(confirmation_warning_days=31), r"sla.confirmation_warning_days"),
    (lambda r, s: s["stations"][ALL].append("judge"), rf"station '{ALL}': unknown name 'judge'"),
    (lambda r, s: s["stations"].update({"MKE-D1": [PM]}), r"station 'MKE-D1': must have 'station_officer'"),
    (lambda r, s: s["stations"].update({990101003: [SO]}), r"station 990101003: codes must be quoted"),
    (lambda r, s: s.pop("default"), r"station 'default': expected a non-empty list"),
]


@pytest.mark.parametrize("breaks, message", BROKEN)
def test_invalid_files_are_refused(tmp_path, breaks, message):
    rules, stations = copy.deepcopy(RULES), copy.deepcopy(STATIONS)
    breaks(rules, stations)
    with pytest.raises(ValueError, match=message):
        load(tmp_path, rules, stations)


types = st.one_of(st.none(), st.sampled_from(routing.DISPUTE_TYPES), st.text(max_size=4))
flags = st.one_of(st.just(frozenset()), st.frozensets(st.sampled_from(routing.RISK_FLAGS) | st.text(max_size=4)))
mixes = st.sets(st.sampled_from(CHANNELS[1:])).map(lambda extra: sorted({SO, *extra}))


@given(stations=st.dictionaries(st.sampled_from([ALL, "MKE-D1", "X"]), mixes), default=mixes,
       station=st.sampled_from([ALL, "MKE-D1", "X", "unknown"]), dispute_type=types, flags=flags)
def test_route_always_picks_a_channel_the_station_has(stations, default, station, dispute_type, flags):
    router = Router(RULES, {"default": default, "stations": stations})
    route = router.route(station_code=station, dispute_type=dispute_type, risk_flags=flags)
    assert route.channel in router.channels_of(station) == set(stations.get(station, default))
    assert route.high_risk == bool(flags & HIGH_RISK_FLAGS)
    assert route.claim_within == (HALF_HOUR if route.high_risk else DAY)
    assert not route.high_risk or (route.rule, route.channel) == ("high_risk", SO)
