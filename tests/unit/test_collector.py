"""The API's settled collector (settled_collector in services/intake/bootstrap.py) is undone when the app stops."""
import gc

from services.intake.bootstrap import YOUNG_COLLECTION_THRESHOLD, settled_collector


def test_the_collector_is_settled_inside_and_given_back_as_it_was():
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with settled_collector():
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > frozen  # the start-up heap is out of the collector's passes
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0  # unfrozen: what an app left behind can be collected
