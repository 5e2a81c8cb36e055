"""The sample feed's one source of randomness: random.Random with the lean draws the generator uses."""
import random
from bisect import bisect
from collections.abc import Sequence
from typing import Any


class SampleRandom(random.Random):
    """random.Random with lean draws: choice() and randrange() cost several times more per call."""

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.random() * len(seq))]

    def between(self, low: int, high: int) -> int:
        """An int in [low, high)."""
        return low + int(self.random() * (high - low))

    def weighted(self, seq: Sequence[Any], cumulative: Sequence[int]) -> Any:
        return seq[bisect(cumulative, self.random() * cumulative[-1])]
