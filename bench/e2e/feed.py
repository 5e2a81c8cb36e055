"""Dispute records for bench.e2e: well-formed, unique, every one a dispute that becomes one case.

The texts are the sample feed's (services/intake/sample_texts.py) without its risk phrases, so no
case is high risk; the category code names the dispute type, so intake classifies every record as
a dispute; the station code is one of the sample city's four stations, so every case is routed to
a channel of a real station. One record is one case in mediation and one incident fact in
assessment: the counts the bench checks are exact.
"""
import json
import random
from datetime import datetime, timedelta, timezone

from services.intake import sample_texts as T

SOURCE = "BENCH-E2E"
BEIJING = timezone(timedelta(hours=8))
# The sample city's stations (services/intake/reference/stations.yaml) and a street of each.
STATIONS = {"990101001": "示例市北城区望湖街道湖光路", "990101002": "示例市北城区东关街道",
            "990102001": "示例市南城区西山街道建设路", "990102002": "示例市南城区南桥街道滨河路"}
_CODES = tuple(STATIONS)
_TYPES = tuple(T.DISPUTES)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class DisputeFeed:
    """Records numbered `110-E2E-<run>-<n>`; all randomness from one seeded Random."""

    def __init__(self, run_id: str, seed: int = 7) -> None:
        self.run_id, self.rng, self.n = run_id, random.Random(seed), 0

    def _fill(self) -> dict[str, str]:
        r = self.rng
        return {"a": r.choice(T.SURNAMES) + "女士", "b": r.choice(T.SURNAMES) + "某", "k": str(r.randint(3, 20)),
                "amount": str(r.randint(1, 3000) * 100), "days": str(r.randint(2, 30)),
                "age": str(r.randint(65, 92)), "company": r.choice(T.COMPANIES), "shop": r.choice(T.SHOPS),
                "village": r.choice(T.VILLAGES), "place": r.choice(T.CITY_PLACES)}

    def number(self, n: int) -> str:
        return f"110-E2E-{self.run_id}-{n:07d}"

    def record(self, received_at: datetime, station: str | None = None) -> tuple[str, str, str]:
        """(incident number, NDJSON line, station code) of the next record, received at the given moment."""
        r = self.rng
        self.n += 1
        number, station, dtype = self.number(self.n), station or r.choice(_CODES), r.choice(_TYPES)
        line = _dumps({
            "source": SOURCE, "incident_number": number, "revision": 1,
            "received_at": received_at.astimezone(BEIJING).isoformat(timespec="microseconds"),
            "caller_name": r.choice(T.SURNAMES) + r.choice(T.GIVEN) + r.choice(T.GIVEN),
            "caller_phone": f"{r.choice(T.MOBILE_PREFIXES)}{r.randrange(10 ** 9):09d}",
            "address_text": f"{STATIONS[station]}{r.randint(1, 200)}号{r.randint(1, 8)}单元{r.randint(1, 19)}0{r.randint(1, 5)}",
            "station_code": station, "category_code": f"dispute.{dtype}",
            "category_text": T.CATEGORY_TEXT[f"dispute.{dtype}"],
            "description": r.choice(T.DISPUTES[dtype]).format_map(self._fill())})
        return number, line, station


def backfill_bodies(feed: DisputeFeed, records: int, batch: int, *, now: datetime,
                    span: timedelta = timedelta(days=28)) -> list[bytes]:
    """`records` records received over the `span` before now (a month of history), oldest first,
    as NDJSON bodies of `batch` lines."""
    step = span / max(records, 1)
    start = now - span
    lines = [feed.record(start + i * step)[1] for i in range(records)]
    return ["\n".join(lines[i:i + batch]).encode() for i in range(0, records, batch)]
