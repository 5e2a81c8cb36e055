"""Bytes to raw inputs: what cannot even be read is reported, never raised."""
import pytest

from services.intake.parsing import BodyError, parse_array, parse_ndjson, parse_one


def test_parse_one_reports_json_and_encoding_problems():
    assert parse_one(b'{"a": 1}', "p").value == {"a": 1}
    broken = parse_one(b'{"a": ', "p")
    assert broken.parse_error.field == "<json>" and "line 1 column" in broken.parse_error.message
    binary = parse_one(b"\xff\x00", "p")
    assert binary.parse_error.field == "<encoding>" and "position 0" in binary.parse_error.message
    assert binary.raw_text == "\ufffd\x00"  # kept, with replacement characters


def test_ndjson_numbers_lines_and_skips_blank_ones():
    inputs = list(parse_ndjson(b'{"a": 1}\r\n\n  \n{"b": 2}\nnope'))
    assert [(i.position, i.value) for i in inputs] == [("line 1", {"a": 1}), ("line 4", {"b": 2}), ("line 5", None)]
    assert inputs[-1].parse_error.field == "<json>"


@pytest.mark.parametrize("body, words", [(b'{"a": 1}', "array"), (b"[1,", "malformed"), (b"\xff[]", "UTF-8")])
def test_an_array_body_that_cannot_be_split_is_a_body_error(body, words):
    with pytest.raises(BodyError, match=words):
        parse_array(body)


def test_array_elements_keep_their_index():
    assert [i.position for i in parse_array(b'[{"a": 1}, 2]')] == ["[0]", "[1]"]
