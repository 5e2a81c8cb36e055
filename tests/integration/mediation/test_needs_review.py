"""A dispute intake decided on weak evidence is marked for review on its case, in the queue and the case."""
import pytest

from tests.integration.mediation.conftest import dispute_event

pytestmark = [pytest.mark.postgres]


async def test_the_queue_and_the_case_show_a_dispute_that_needs_review(api, open_cases):
    await open_cases([dispute_event("W1", needs_review=True), dispute_event("S1"),  # an older event: no key
                      dispute_event("W2", needs_review=True)])
    client = api()
    items = (await client.get("/v1/queue")).json()["items"]
    assert {c["incident_number"]: c["needs_review"] for c in items} == {"W1": True, "S1": False, "W2": True}
    # A later revision decided on better evidence clears the mark.
    await open_cases([dispute_event("W2", revision=2, kind="dispute.updated", needs_review=False)])
    items = (await client.get("/v1/queue")).json()["items"]
    case = (await client.get(f"/v1/cases/{[c for c in items if c['incident_number'] == 'W2'][0]['id']}")).json()
    assert case["needs_review"] is False
