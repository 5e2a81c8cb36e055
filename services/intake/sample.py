"""A deterministic, streaming generator of a realistic 110 feed in the fengqiao_json format (NDJSON).

Same n, seed and options give the same lines, byte for byte: all randomness comes from one
random.Random(seed) and time from `start`, never from the clock. State is bounded (a repeat-caller pool,
small windows of recent incidents and a handful of planned civil-to-criminal chains), so a million
lines take as little memory as a hundred.

The feed covers every station of the sample city. Most addresses are precise (house, building, room:
services.intake.sample_addresses); repeat disputes come back to the same address or phone; a few
disputes turn into an intentional injury weeks later (services.intake.sample_chains).
"""
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from services.intake import sample_addresses as addresses
from services.intake import sample_chains as chains
from services.intake import sample_texts as T
from services.intake.domain.jurisdiction import Grid, Jurisdictions, Station
from services.intake.sample_random import SampleRandom

SOURCE = "SAMPLE-CAD"
BEIJING = timezone(timedelta(hours=8))
DEFAULT_START = datetime(2024, 5, 1, tzinfo=BEIJING)
SPAN_SECONDS = 30 * 86400  # the stream's calls spread over about one month from start
REFERENCE = Path(__file__).resolve().parent / "reference"
# Weights as cumulative percentages, for bisect: about 55% disputes, the rest crime, help, traffic, other.
KINDS, KIND_CUM = ("dispute", "crime", "help", "traffic", "other"), (55, 67, 80, 92, 100)
DISPUTE_TYPES, TYPE_CUM = tuple(T.DISPUTES), (25, 40, 50, 60, 70, 76, 84, 92, 100)
CODE_CUM = (40, 75, 95, 100)  # dispute code: the specific type, just "dispute", none, the catch-all "other"
# Shares of well-formed lines that re-send a recent incident as revision 2, or repeat a line exactly.
REVISION_SHARE, DUPLICATE_SHARE = 0.05, 0.01
# Disputes from the pool of repeat callers (their own phone and precise address), and of those the share
# where someone else of the household calls: the same address from another phone.
REPEAT_SHARE, REPEAT_PHONES, HOUSEHOLD_SHARE, RISK_SHARE = 0.22, 50, 0.2, 0.08
# Addresses down to the house: most calls; fewer for crimes, often reported from the street or a
# landmark and, unlike disputes, rarely from a known household (so they do not look like 民转刑).
PRECISE_SHARE, CRIME_PRECISE_SHARE = 0.93, 0.55
# Bounded windows: revisions and duplicates come from recent incidents only, as they do in a real feed.
PENDING_MAX, RECENT_MAX = 1000, 256
# Compact and human-readable; one encoder, because json.dumps(..., ensure_ascii=False) builds one per call.
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _positions(coords: list[Any]) -> list[list[float]]:
    """All [lon, lat] positions of a GeoJSON coordinates array, whatever its nesting."""
    return [coords] if isinstance(coords[0], (int, float)) else [p for c in coords for p in _positions(c)]


@cache
def _reference() -> tuple[tuple[Station, ...], tuple[tuple[Grid, float, float, float, float], ...]]:
    """Sample stations (those with address rules) and each grid with its bounding box."""
    geojson = REFERENCE / "sample_city.geojson"
    places = Jurisdictions.load(REFERENCE / "stations.yaml", geojson)
    grids = {g.code: g for g in places.grids()}
    boxes = []
    for feature in json.loads(geojson.read_text(encoding="utf-8"))["features"]:
        xs, ys = zip(*(p[:2] for p in _positions(feature["geometry"]["coordinates"])))
        boxes.append((grids[feature["properties"]["grid_code"]], min(xs), min(ys), max(xs), max(ys)))
    return tuple(s for s in places.stations() if s.address_prefixes), tuple(boxes)


class _Fill(dict[str, str]):
    """Template values drawn on first use, so a template pays only for the placeholders it names."""

    def __init__(self, fillers: dict[str, Callable[[], str]]) -> None:
        super().__init__()
        self._fillers = fillers

    def __missing__(self, key: str) -> str:
        value = self[key] = self._fillers[key]()
        return value


class _Feed:
    """The generator's state: one Random, the clock, the caller pool and the recent windows."""

    def __init__(self, seed: int, start: datetime, span_seconds: float = SPAN_SECONDS) -> None:
        self.rng = r = SampleRandom(seed)
        self.span = span_seconds
        self.stations, self.boxes = _reference()
        self.by_code = {s.code: s for s in self.stations}
        self.clock = start.timestamp()
        self.day, self.seq, self.date = -1, 0, ""
        self.pending: list[tuple[dict[str, Any], str, int]] = []  # revision-1 incidents awaiting a re-send
        self.recent: list[str] = []  # lines that may be delivered a second time
        self.fillers: dict[str, Callable[[], str]] = {
            "a": self.party, "b": self.party, "place": lambda: r.pick(T.CITY_PLACES),
            "amount": lambda: str(int(10 ** r.uniform(2, 5.5)) // 100 * 100 or 100),  # log-uniform 100..300k
            "days": lambda: str(r.between(2, 30)), "k": lambda: str(r.between(3, 20)),
            "age": lambda: str(r.between(65, 92)), "company": lambda: r.pick(T.COMPANIES),
            "shop": lambda: r.pick(T.SHOPS), "village": lambda: r.pick(T.VILLAGES)}
        self.pool = [(self.name(), self.phone(), self.place(precise_share=1.0)) for _ in range(REPEAT_PHONES)]

    def party(self, surname: str | None = None) -> str:
        return self.rng.pick(T.PARTY_FORMS).format(s=surname or self.rng.pick(T.SURNAMES))

    def name(self) -> str:
        r = self.rng
        return r.pick(T.SURNAMES) + r.pick(T.GIVEN) + ("" if r.random() < 0.3 else r.pick(T.GIVEN))

    def phone(self) -> str:
        return f"{self.rng.pick(T.MOBILE_PREFIXES)}{self.rng.between(0, 10 ** 9):09d}"

    def caller(self) -> tuple[str | None, str]:
        """A new caller: a name (5% withheld) and a phone."""
        return self.name() if self.rng.random() < 0.95 else None, self.phone()

    def address(self, station: Station, precise: bool) -> str:
        return (addresses.precise if precise else addresses.coarse)(self.rng, station)

    def place(self, precise_share: float = PRECISE_SHARE) -> dict[str, Any]:
        """One of four placements: station code, point in a grid, prefixed address, or nothing that matches;
        the address down to the house with probability precise_share."""
        r, mode = self.rng, self.rng.random()
        precise = r.random() < precise_share
        if mode < 0.4:
            station = r.pick(self.stations)
            return {"station_code": station.code, "address_text": self.address(station, precise)}
        if mode < 0.7:
            for _ in range(1000):  # rejection sampling: a bbox also covers holes and other grids' triangles
                grid, west, south, east, north = r.pick(self.boxes)
                lon, lat = round(r.uniform(west, east), 6), round(r.uniform(south, north), 6)
                if grid.contains(lon, lat):
                    if precise:  # the address of the grid's station, as the caller gives it
                        text = self.address(self.by_code[grid.station_code], True)
                    else:  # where the caller stands, or the point alone
                        landmark = r.pick(T.LANDMARKS)
                        text = landmark and landmark.format(place=r.pick(T.CITY_PLACES))
                    return {"address_text": text, "longitude": lon, "latitude": lat}
            raise ValueError(f"grid {grid.code}: no point found inside its bounding box")
        if mode < 0.9:
            return {"address_text": self.address(r.pick(self.stations), precise)}
        return {"address_text": addresses.unmatched(r, precise)}

    def number(self, ts: int) -> str:
        """110-YYYYMMDD-NNNNNN, counting per Beijing day; unique because the clock never goes back."""
        if (day := (ts + 8 * 3600) // 86400) != self.day:
            self.day, self.seq, self.date = day, 0, _date(day).replace("-", "")
        self.seq += 1
        return f"110-{self.date}-{self.seq:06d}"

    def incident(self) -> tuple[dict[str, Any], str, int]:
        """A new revision-1 record, its kind and the time of its last event."""
        r = self.rng
        kind = r.weighted(KINDS, KIND_CUM)
        if kind == "dispute" and r.random() < REPEAT_SHARE:  # the same flat, the same quarrel, again
            name, phone, place = r.pick(self.pool)
            if r.random() < HOUSEHOLD_SHARE:
                name, phone = self.caller()
        else:  # crimes never come from the pool: a theft is not the neighbours' quarrel come back
            name, phone = self.caller()
            place = self.place(CRIME_PRECISE_SHARE if kind == "crime" else PRECISE_SHARE)
        fill = _Fill(self.fillers)
        if name:  # the text speaks of the caller as the operator would: "王女士", "王某"
            fill["a"] = self.party(name[0])
        if kind == "dispute":
            dtype = r.weighted(DISPUTE_TYPES, TYPE_CUM)
            text = r.pick(T.DISPUTES[dtype])
            if r.random() < RISK_SHARE:
                text += r.pick(T.FAMILY_RISKS if dtype == "family" and r.random() < 0.5 else T.RISKS)
            # Often only the kind or no code at all, so the text classifier has real work to do.
            code = r.weighted((f"dispute.{dtype}", "dispute", None, "other"), CODE_CUM)
        else:
            text, code = r.pick(T.OTHER_KINDS[kind]), kind if r.random() < 0.85 else None
        return self.record(kind, name, phone, place, code, text.format_map(fill))

    def chain_incident(self, step: chains.Step) -> tuple[dict[str, Any], str, int]:
        """A planned line of a civil-to-criminal chain: its dispute, or the injury weeks later."""
        chain = step.chain
        if step.crime:
            return self.record("crime", chain.caller_name, chain.caller_phone, chain.place, "crime", chain.crime_text)
        return self.record("dispute", chain.caller_name, chain.caller_phone, chain.place,
                           f"dispute.{chain.dispute_type}", chain.dispute_text)

    def record(self, kind: str, name: str | None, phone: str, place: dict[str, Any], code: str | None,
               description: str) -> tuple[dict[str, Any], str, int]:
        """A revision-1 record received now, with the times, number and disposition of its kind."""
        r, ts = self.rng, int(self.clock)
        dispatched = ts + r.between(20, 300)
        arrived = None if kind in ("help", "other") and r.random() < 0.2 else dispatched + r.between(180, 1800)
        last = (arrived or dispatched) + r.between(600, 6 * 3600)
        closed = last if r.random() < 0.9 else None
        record = {"source": SOURCE, "incident_number": self.number(ts), "revision": 1, "received_at": _iso(ts),
                  "dispatched_at": _iso(dispatched), "arrived_at": arrived and _iso(arrived),
                  "closed_at": closed and _iso(closed), "caller_name": name, "caller_phone": phone, **place,
                  "category_code": code, "category_text": T.CATEGORY_TEXT.get(code or ""),
                  "description": description,
                  "disposition": r.pick(T.DISPOSITIONS[kind]) if closed else None}
        return record, kind, last

    def revision(self) -> str:
        """A recent incident re-sent as revision 2 with a later close and a new disposition; once each."""
        r, pending = self.rng, self.pending
        i = r.between(0, len(pending))
        (record, kind, last), pending[i] = pending[i], pending[-1]
        pending.pop()
        return _dumps({**record, "revision": 2, "closed_at": _iso(last + r.between(3600, 72 * 3600)),
                       "disposition": r.pick(T.REVISED[kind])})

    def malformed(self) -> str:
        """A line the intake must reject: not JSON, not an object, or a record that cannot validate."""
        r = self.rng
        record, _, _ = self.incident()
        how = r.between(0, 9)
        if how == 0:  # cut off mid-record, as by a dropped connection
            line = _dumps(record)
            return line[:r.between(1, len(line) - 1)]
        if how == 1:
            return r.pick(T.GARBAGE)
        if how == 2:
            return r.pick((_dumps([record]), _dumps(record["incident_number"]), "null", "true", "20240501"))
        if how in (3, 4):
            del record["incident_number" if how == 3 else "received_at"]
        elif how == 5:
            record["revision"] = r.pick(("abc", "第二版", "2.5"))  # not null: the profile reads null as 1
        elif how == 6:
            record["longitude"], record["latitude"] = "东经116度", "北纬39度"
        elif how == 7:
            record["closed_at"] = _iso(int(self.clock) - r.between(60, 86400))
        else:  # a CAD clock gone wild; the other times would only add errors of their own
            record.update(received_at="2099" + record["received_at"][4:], dispatched_at=None, arrived_at=None,
                          closed_at=None)
        return _dumps(record)

    def lines(self, n: int, malformed_share: float) -> Iterator[str]:
        r, start, gap = self.rng, self.clock, self.span / max(n, 1)
        planned = chains.plan(r, n, gap, self.stations, lambda: (self.name(), self.phone()),
                              lambda s: self.address(s, True))
        for i in range(n):
            # One random moment in each line's own slice of the month: the clock never goes back and
            # never leaves the month, however small n is.
            self.clock = start + (i + r.random()) * gap
            step = planned.get(i)
            if step is None and r.random() < malformed_share:
                yield self.malformed()
                continue
            kind = 1.0 if step else r.random()  # a chain's line is a new incident, never a re-send
            if kind < DUPLICATE_SHARE and self.recent:
                yield r.pick(self.recent)
                continue
            if kind < DUPLICATE_SHARE + REVISION_SHARE and self.pending:
                line = self.revision()
            else:
                item = self.chain_incident(step) if step else self.incident()
                line = _dumps(item[0])
                if len(self.pending) < PENDING_MAX:
                    self.pending.append(item)
                else:
                    self.pending[r.between(0, PENDING_MAX)] = item
            if len(self.recent) < RECENT_MAX:
                self.recent.append(line)
            else:
                self.recent[r.between(0, RECENT_MAX)] = line
            yield line


@lru_cache(maxsize=64)
def _date(day: int) -> str:
    """The date of a Beijing day number (days since 1970-01-01 in UTC+8)."""
    return (datetime(1970, 1, 1) + timedelta(days=day)).date().isoformat()


def _iso(ts: int) -> str:
    """ISO 8601 with +08:00, by hand: datetime.fromtimestamp().isoformat() is the generator's hot spot."""
    day, second = divmod(ts + 8 * 3600, 86400)
    return f"{_date(day)}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}+08:00"


def generate(n: int, seed: int, *, malformed_share: float = 0.02, start: datetime | None = None,
             days: float = SPAN_SECONDS / 86400) -> Iterator[str]:
    """Yield n NDJSON lines (no newline) of a sample 110 feed spread over `days` from start; same
    arguments, same lines."""
    if n < 0 or not 0 <= malformed_share <= 1 or not days > 0:
        raise ValueError("n must be >= 0, malformed_share within 0..1 and days above 0")
    start = start or DEFAULT_START
    # A naive start is Beijing time, as the fengqiao_json profile reads naive times.
    start = start.replace(tzinfo=BEIJING) if start.tzinfo is None else start
    return _Feed(seed, start, days * 86400).lines(n, malformed_share)


def write(path: Path, n: int, seed: int, **kw: Any) -> None:
    """Write generate(n, seed, **kw) to path as UTF-8 NDJSON, one line per record."""
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.writelines(line + "\n" for line in generate(n, seed, **kw))
