"""A service app's settled collector (shared/collector.py) is given back as it was when the last app stops."""
import gc

from shared.collector import YOUNG_COLLECTION_THRESHOLD, settled_collector


def test_the_collector_is_settled_inside_and_given_back_as_it_was():
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with settled_collector():
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > frozen  # the start-up heap is out of the collector's passes
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0  # unfrozen: what an app left behind can be collected


def test_apps_that_stop_in_any_order_give_it_back_once_the_last_has_stopped():
    before = gc.get_threshold()
    first, second = settled_collector(), settled_collector()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first app stops while the second still runs
    assert gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD and gc.get_freeze_count() > 0
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
