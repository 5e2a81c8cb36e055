"""Name-based ids built as text (shared/events/name_ids.py) are uuid.uuid5's, for any namespace and name."""
import uuid

from hypothesis import given
from hypothesis import strategies as st

from shared.events.intake import incident_id, incident_id_text
from shared.events.name_ids import name_ids

namespaces = st.uuids() | st.sampled_from([uuid.NAMESPACE_URL, uuid.NAMESPACE_DNS])


@given(namespace=namespaces, name=st.text())
def test_the_text_is_uuid5s(namespace, name):
    expected = str(uuid.uuid5(namespace, name))
    assert name_ids(namespace)(name) == expected


def test_every_variant_digit_comes_out_as_uuid5_makes_it():
    # The variant's digit depends on the digest: names until each of 8, 9, a and b has appeared.
    seen: set[str] = set()
    make = name_ids(uuid.NAMESPACE_URL)
    for n in range(200):
        text = make(str(n))
        assert text == str(uuid.uuid5(uuid.NAMESPACE_URL, str(n)))
        seen.add(text[19])
    assert seen == set("89ab")


@given(source=st.text(min_size=1), number=st.text(min_size=1))
def test_incident_id_text_is_incident_id(source, number):
    assert incident_id_text(source, number) == str(incident_id(source, number))
