"""The garbage collector of a long-running service process, once its start-up is done.

What start-up loaded (modules, rules, reference data, pydantic schemas) is frozen out of the cyclic
collector's passes, and the youngest generation is collected every YOUNG_COLLECTION_THRESHOLD
allocations instead of CPython's 700. A request allocates thousands of short-lived dicts, lists and
tuples (intake: some 30,000 for a batch of 1,000 records) that live until its answer is sent; at 700
they were traversed over and over as they aged: 11% of intake's API CPU in bench.intake (gc.callbacks
timing: 0.82 s of 7.7 s for 30,000 records; settled: 0.20 s).
"""
import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_COLLECTION_THRESHOLD = 10_000
# The thresholds before the first app of this process settled the collector, and how many are settled
# now: a process that runs several apps at once (the tests) gets its collector back as it was when the
# last one stops, whatever the order they stop in.
_before: tuple[int, ...] = ()
_settled = 0


@contextmanager
def settled_collector() -> Iterator[None]:
    """Within the block, the collector settled; when the last such block ends, both changes are undone,
    so a process that starts and stops apps collects what they leave, start-up's cyclic garbage included."""
    global _before, _settled
    if _settled == 0:
        _before = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *_before[1:])
    _settled += 1
    try:
        yield
    finally:
        _settled -= 1
        if _settled == 0:
            gc.set_threshold(*_before)
            gc.unfreeze()
