"""Logs are JSON and never carry personal data."""
import json
import logging
import logging.config

import structlog
import uvicorn.config

from shared.logging import MASK, RepeatedWarnings, configure_logging, mask_text


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


def test_uvicorns_own_logging_config_does_not_bypass_the_masking(capsys):
    # uvicorn.Config without log_config=None gives its loggers handlers of their own, printing raw text.
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    configure_logging("unit", "INFO")
    logging.getLogger("uvicorn.error").warning("caller 13812345678 hung up")
    captured = capsys.readouterr()
    assert "13812345678" not in captured.out + captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["event"] == f"caller {MASK} hung up"


def test_mask_text_leaves_incident_numbers_and_times_alone():
    assert mask_text("警情 2024050100123 于 2024-05-01 23:30") == "警情 2024050100123 于 2024-05-01 23:30"


def test_a_kafka_client_retrying_through_an_outage_logs_a_line_a_minute_not_one_per_retry(capsys):
    configure_logging("unit", "INFO")
    kafka = logging.getLogger("aiokafka.conn")
    for node in range(500):
        kafka.error("Unable connect to node with id %s: %s", node % 3, "Connect call failed")
    logging.getLogger("shared.outbox").warning("outbox backlog %s", 7)  # our own warnings are never held back
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line["event"] for line in lines] == ["Unable connect to node with id 0: Connect call failed",
                                                 "outbox backlog 7"]


def test_held_back_warnings_are_counted_once_a_minute_and_a_new_episode_starts_after_silence():
    now = [0.0]
    repeated = RepeatedWarnings(clock=lambda: now[0])

    def record(msg: str = "Unable to update metadata from %r", name: str = "aiokafka.cluster") -> logging.LogRecord:
        return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, (1,), None)

    passed = []
    for second in range(0, 150, 1):  # a warning every second for 150 s
        now[0] = float(second)
        if repeated.filter(entry := record()):
            passed.append((second, entry.getMessage()))
    assert [s for s, _ in passed] == [0, 60, 120]
    assert passed[1][1] == "Unable to update metadata from 1 (and 59 more like it in the last 60 s)"
    now[0] = 400.0  # five minutes of silence: the broker was back; a new outage is news again
    assert repeated.filter(entry := record()) and entry.getMessage() == "Unable to update metadata from 1"
    assert repeated.filter(record(name="uvicorn.error")) and repeated.filter(
        logging.LogRecord("aiokafka.conn", logging.INFO, __file__, 1, "connected", (), None))
