"""Records, inputs and topic reading shared by intake's integration tests."""
import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer

from services.intake.parsing import RawInput
from shared.events.envelope import Envelope


def record(number: str, revision: int = 1, **fields: Any) -> dict[str, Any]:
    """A valid fengqiao_json record; fields override the defaults."""
    base = {"source": "BJ-CAD", "incident_number": number, "revision": revision,
            "received_at": "2024-05-31T23:30:00+08:00", "caller_name": "王小明",
            "caller_phone": "13812345678", "address_text": "示例市北城区望湖街道湖光路12号",
            "description": "楼上邻居装修噪音太大，双方发生争吵", "category_code": "dispute"}
    return base | fields


def inputs(*records: Any) -> list[RawInput]:
    """Raw inputs as an HTTP batch would produce them."""
    return [RawInput(f"[{i}]", json.dumps(r, ensure_ascii=False), r) for i, r in enumerate(records)]


async def read_topic(bootstrap: str, topic: str, *, expected: int, timeout: float = 20.0) -> list[Envelope]:
    """Envelopes on a topic from its start; stops at `expected` or at the timeout."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    found: list[Envelope] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            found += [Envelope.from_bytes(r.value) for part in batch.values() for r in part]
        # A little longer, so that a surplus (an event emitted twice) would be seen too.
        batch = await consumer.getmany(timeout_ms=500)
        found += [Envelope.from_bytes(r.value) for part in batch.values() for r in part]
    finally:
        await consumer.stop()
    return found
