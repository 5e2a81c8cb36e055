"""How evenly station-keyed events spread over partitions: the sample city and a national month.

Every Fengqiao topic with events of stations is keyed by station code, so one station's events stay in
order; the price is skew: a partition's load is the sum of its stations' volumes, and a consumer group
can use at most as many replicas as there are partitions. This prints, for each partition count, the
busiest partition's load against the mean (1.00 is perfectly even), with the partitioner the producers
use (aiokafka's DefaultPartitioner: murmur2 of the key, as Kafka's Java client).

    .venv/bin/python -m bench.partitions [--stations 40000] [--seed 1]

Sample city: the volume of each station in `fengqiao-intake sample --n 20000`. National: 40,000
station codes in the 9-digit pattern, volumes log-normal around the mean (sigma 0.7, as
bench/assessment's residents), so a few large stations weigh as they do in reality.
"""
import argparse
import json
import math
import random
from collections import Counter

from aiokafka.partitioner import murmur2

from services.intake import sample
from services.intake.domain.jurisdiction import Jurisdictions

COUNTS = (3, 6, 12, 24, 48, 96)


def partition_of(key: str, partitions: int) -> int:
    """The partition aiokafka's DefaultPartitioner gives a key."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def busiest_over_mean(volumes: dict[str, float], partitions: int) -> tuple[float, int]:
    """(load of the busiest partition / mean load, partitions that get no station at all)."""
    load = [0.0] * partitions
    for key, volume in volumes.items():
        load[partition_of(key, partitions)] += volume
    return max(load) / (sum(load) / partitions), sum(1 for x in load if x == 0)


def sample_city_volumes(records: int) -> dict[str, float]:
    """Events per key in a generated sample feed (what the main job posts, ten times over), each record
    placed as intake places it: the key is the station it lands in, `unassigned` included."""
    city, counted = Jurisdictions.load(), Counter()
    for line in sample.generate(records, 1):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        try:  # a malformed coordinate (the feed has some on purpose) places by the other rules
            point = (float(record["longitude"]), float(record["latitude"])) if "longitude" in record else None
        except (TypeError, ValueError):
            point = None
        where = city.resolve(station_code=record.get("station_code"), point=point,
                             address_text=record.get("address_text"))
        counted[where.station_code] += 1
    return dict(counted)


def national_volumes(stations: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    return {f"{11 + c // 100}{c % 100 // 10 + 1:02d}{c % 10 + 1:02d}{k:03d}": math.exp(rng.gauss(0, 0.7))
            for c, k in ((j % 2900, j // 2900 + 1) for j in range(stations))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample-records", type=int, default=20_000, help="records of the sample city's feed")
    args = parser.parse_args()
    for title, volumes in (("sample city, the stations intake places the records in",
                            sample_city_volumes(args.sample_records)),
                           (f"national, {args.stations:,} stations", national_volumes(args.stations, args.seed))):
        print(f"{title}: {len(volumes):,} keys")
        print("  partitions   busiest/mean   partitions with no station")
        for count in COUNTS:
            ratio, empty = busiest_over_mean(volumes, count)
            print(f"  {count:>10}   {ratio:>12.2f}   {empty:>10}")


if __name__ == "__main__":
    main()
