"""The one percentile every benchmark reports: nearest rank, with lost samples counted as infinitely late."""
import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float, *, missing: int = 0) -> float:
    """The q-quantile (0..1) by nearest rank, `missing` samples counted as +inf; NaN without samples."""
    ordered = sorted(values)
    n = len(ordered) + missing
    if n == 0:
        return math.nan
    rank = max(1, math.ceil(q * n))
    return ordered[rank - 1] if rank <= len(ordered) else math.inf
