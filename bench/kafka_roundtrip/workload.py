"""The benchmark's events: envelopes whose data is padded with random letters to a target size."""
import random
from collections.abc import Iterator

from shared.events.envelope import Envelope

EVENT_TYPE = "bench.roundtrip"
STATIONS = 17  # keys spread over the partitions as station codes do
# Random A-Z, like ProducerPerformance's payload: a constant pad would let lz4 flatter us.
_LETTERS = bytes(65 + b % 26 for b in range(256))


def _pad_length(seq: int, payload_bytes: int) -> int:
    # The data object serialises as {"seq":N,"pad":"..."}; without a json.dumps per event, since
    # building envelopes is inside the timed publish phase.
    bare = len('{"seq":,"pad":""}') + len(str(seq))
    return max(payload_bytes - bare, 0)


def make_event(seq: int, payload_bytes: int, rng: random.Random) -> Envelope:
    """One envelope whose data serialises to about `payload_bytes` bytes."""
    pad = rng.randbytes(_pad_length(seq, payload_bytes)).translate(_LETTERS).decode("ascii")
    return Envelope(type=EVENT_TYPE, producer="bench", key=f"station-{seq % STATIONS:02d}",
                    data={"seq": seq, "pad": pad})


def chunks(events: int, payload_bytes: int, size: int, seed: int = 0) -> Iterator[list[Envelope]]:
    """The events 0..events-1 in lists of at most `size`, built lazily to bound memory."""
    rng = random.Random(seed)
    for start in range(0, events, size):
        yield [make_event(seq, payload_bytes, rng) for seq in range(start, min(start + size, events))]


def envelope_size(payload_bytes: int, events: int) -> int:
    """Serialised size of a typical envelope, used as ProducerPerformance's --record-size."""
    # The largest seq has the most digits; the pad shrinks to match, so the size hardly varies.
    return len(make_event(max(events - 1, 0), payload_bytes, random.Random(0)).to_bytes())
