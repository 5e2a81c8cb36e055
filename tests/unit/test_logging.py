"""Logs are JSON and never carry personal data."""
import json
import logging

import structlog

from shared.logging import MASK, configure_logging, mask_text


def test_personal_fields_and_phone_numbers_are_masked(capsys):
    configure_logging("unit", "INFO")
    structlog.get_logger("t").info("dispatch.accepted", caller_name="张三", caller_phone="13812345678",
                                   note="回拨 13912345678 或 010-62345678", incident="110-2024-001",
                                   nested={"phone": "13700000000", "station": "110105001"})
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["event"] == "dispatch.accepted"
    assert line["service"] == "unit" and line["level"] == "info"
    assert line["caller_name"] == MASK and line["caller_phone"] == MASK
    assert line["note"] == f"回拨 {MASK} 或 {MASK}"
    assert line["incident"] == "110-2024-001"
    assert line["nested"] == {"phone": MASK, "station": "110105001"}


def test_stdlib_loggers_are_rendered_as_masked_json(capsys):
    configure_logging("unit", "INFO")
    logging.getLogger("uvicorn.error").warning("caller 13812345678 hung up")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["event"] == f"caller {MASK} hung up"
    assert line["logger"] == "uvicorn.error"


def test_mask_text_leaves_incident_numbers_and_times_alone():
    assert mask_text("警情 2024050100123 于 2024-05-01 23:30") == "警情 2024050100123 于 2024-05-01 23:30"
