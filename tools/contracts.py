"""The contracts under docs/: AsyncAPI for every topic, OpenAPI for every service, generated from the code.

`python -m tools.contracts` writes them; `python -m tools.contracts --check` exits 1 naming each
file that no longer matches the code (tests/unit/test_contracts.py runs the same check in CI).
"""
import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.assessment.api import create_app as assessment_app
from services.assessment.settings import AssessmentSettings
from services.intake.api import create_app as intake_app
from services.intake.domain.record import DispatchRecord
from services.intake.settings import IntakeSettings
from services.mediation.api import create_app as mediation_app
from services.mediation.settings import MediationSettings
from shared.events.assessment import RANKING_TOPIC, RankingPublished
from shared.events.community import ACTIVITY_TOPIC, ActivityData
from shared.events.envelope import Envelope
from shared.events.intake import (
    DISPUTE_TOPIC,
    INCIDENT_TOPIC,
    RAW_TOPIC,
    REJECTED_TOPIC,
    DisputeData,
    IncidentData,
    RejectedData,
)
from shared.events.mediation import CASE_TOPIC, CaseEventData
from shared.events.topics import TOPICS, TopicSpec, dead_letter_topic
from shared.kafka import dead_letter
from shared.kafka.admin import with_dead_letters
from shared.settings import LOCAL_KAFKA
from shared.tracing import TRACEPARENT

ROOT = Path(__file__).resolve().parents[1]
ASYNCAPI_PATH = "docs/asyncapi.yaml"
REGENERATE = ".venv/bin/python -m tools.contracts"
APPS: dict[str, tuple[Callable, type]] = {"intake": (intake_app, IntakeSettings),
                                          "mediation": (mediation_app, MediationSettings),
                                          "assessment": (assessment_app, AssessmentSettings)}
SERVICES = tuple(APPS)
KAFKA_BINDING = "0.5.0"
SCHEMAS = "#/components/schemas/"

# The data model of every registered event type: the one place that says what `data` holds.
EVENT_MODELS: dict[str, type[BaseModel]] = {
    "dispatch.raw": DispatchRecord,  # not an envelope: see RAW_TOPIC below
    "dispatch.rejected": RejectedData,
    "incident.accepted": IncidentData, "incident.updated": IncidentData,
    "dispute.opened": DisputeData, "dispute.updated": DisputeData,
    **{event_type: CaseEventData for event_type in TOPICS[CASE_TOPIC].event_types},
    **{event_type: ActivityData for event_type in TOPICS[ACTIVITY_TOPIC].event_types},
    "ranking.published": RankingPublished,
}

# Who sends and who receives each topic; tests/unit/test_contracts.py checks it against the services' code.
SENDS = {"intake": (INCIDENT_TOPIC, DISPUTE_TOPIC, REJECTED_TOPIC), "mediation": (CASE_TOPIC,),
         "assessment": (RANKING_TOPIC,)}
RECEIVES = {"intake": (RAW_TOPIC,), "mediation": (DISPUTE_TOPIC,),
            "assessment": (INCIDENT_TOPIC, CASE_TOPIC, ACTIVITY_TOPIC)}
EXTERNAL_SENDERS = {RAW_TOPIC: "110 centres' CAD systems",
                    ACTIVITY_TOPIC: "station and community systems (the body of assessment's "
                                    "POST /v1/community/activities, one activity per message)"}
# Consumers whose processor never returns dead letters, and why.
NO_DEAD_LETTERS = {("intake", RAW_TOPIC): "a record intake cannot read becomes a dispatch.rejected event instead"}

# Every message may carry the W3C trace context of the span that produced it (shared/kafka/tracing.py).
TRACE_HEADER = {"type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}",
                "description": "W3C Trace Context of the request or batch that produced the message, when "
                               "there was one; the consuming batch continues its trace",
                "examples": ["00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"]}

DEAD_LETTER_HEADERS = {
    dead_letter.ERROR: "the error message (at most 4,000 bytes)",
    dead_letter.ERROR_TYPE: "the exception's class name",
    dead_letter.ORIGINAL_TOPIC: "the topic the record was read from (with the deployment's prefix)",
    dead_letter.ORIGINAL_PARTITION: "its partition, in decimal",
    dead_letter.ORIGINAL_OFFSET: "its offset, in decimal",
    dead_letter.ATTEMPTS: "how many times the handler was tried, in decimal",
    dead_letter.CONSUMER: "the consumer group that gave up on it",
}


class ContractError(RuntimeError):
    """The code cannot be described: a registered event type without a data model, or the like."""


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:
        return True


def _check_models() -> None:
    registered = {t for spec in TOPICS.values() for t in spec.event_types}
    missing, unknown = sorted(registered - EVENT_MODELS.keys()), sorted(EVENT_MODELS.keys() - registered)
    if missing or unknown:
        raise ContractError(f"event types without a data model in tools/contracts.py EVENT_MODELS: {missing}; "
                            f"models for types no topic registers: {unknown}")


def _schemas() -> tuple[dict, dict[type[BaseModel], str]]:
    """JSON schemas of the envelope and every data model, refs pointing into components/schemas."""
    models = [Envelope, *dict.fromkeys(EVENT_MODELS.values())]
    refs, top = models_json_schema([(m, "validation") for m in models], ref_template=SCHEMAS + "{model}")
    names = {m: refs[(m, "validation")]["$ref"].removeprefix(SCHEMAS) for m in models}
    return top["$defs"], names


def _envelope_payload(event_type: str, envelope_name: str, model_name: str) -> dict:
    return {"title": f"{event_type} envelope", "allOf": [
        {"$ref": SCHEMAS + envelope_name},
        {"properties": {"type": {"const": event_type}, "data": {"$ref": SCHEMAS + model_name}},
         "required": ["data"]}]}


def _raw_payload() -> dict:
    profiles = sorted(p.stem for p in (ROOT / "services/intake/profiles").glob("*.yaml"))
    return {"title": "raw dispatch record", "type": "object", "description": (
        "Not an envelope: one JSON object per message, a record in the format of the feed profile the "
        f"`profile` header names ({', '.join(profiles)}; intake's raw_profile setting when absent, "
        "fengqiao_json by default). In fengqiao_json its fields are those of the canonical record "
        "(x-canonical-record); other profiles are mapped to it by services/intake/profiles/<name>.yaml. "
        "A record that cannot be read or mapped becomes a dispatch.rejected event, never a dead letter.")}


def _message(event_type: str, topic: str, model: type[BaseModel], payload: dict) -> dict:
    message = {"name": event_type, "title": event_type, "contentType": "application/json",
               "summary": (model.__doc__ or "").strip().splitlines()[0], "payload": payload,
               "bindings": {"kafka": {"key": {"type": "string", "description": TOPICS[topic].key},
                                      "bindingVersion": KAFKA_BINDING}},
               "x-data-model": f"{model.__module__}.{model.__qualname__}",
               "headers": {"type": "object", "properties": {TRACEPARENT: TRACE_HEADER}}}
    if topic == RAW_TOPIC:
        message["headers"]["properties"]["profile"] = {
            "type": "string", "description": "the feed profile of the record", "examples": ["nena_eido"]}
        message["x-canonical-record"] = {"$ref": SCHEMAS + "DispatchRecord"}
    return message


def _dead_letter_message() -> dict:
    return {"name": "dead-letter", "title": "dead letter", "contentType": "application/octet-stream",
            "summary": "A record the consumer runner gave up on: its original key, value and headers, plus why.",
            "payload": {"description": "the original message value, byte for byte: one of the original topic's "
                                       "messages, or bytes that are not one (which may be why it is here)"},
            "headers": {"type": "object", "required": list(DEAD_LETTER_HEADERS), "properties": {
                name: {"type": "string", "description": text} for name, text in DEAD_LETTER_HEADERS.items()},
                "description": "the original record's headers, then these"}}


def _who(topic: str) -> tuple[list[str], list[str]]:
    senders = [s for s in SERVICES if topic in SENDS[s]] or [EXTERNAL_SENDERS.get(topic, "no Fengqiao service")]
    return senders, [s for s in SERVICES if topic in RECEIVES[s]]


def _channels(spec: TopicSpec, partitions: dict[str, int]) -> dict[str, dict]:
    """The topic's channel and its dead-letter channel."""
    dlq = dead_letter_topic(spec.name)
    senders, receivers = _who(spec.name)
    quiet = "".join(f" {s} never writes here: {NO_DEAD_LETTERS[(s, spec.name)]}."
                    for s in receivers if (s, spec.name) in NO_DEAD_LETTERS)
    unread = "" if receivers else " No Fengqiao service consumes the topic; this one is for other consumers."
    return {
        spec.name: {
            "address": spec.name, "title": spec.name,
            "description": f"{spec.description}. Key: {spec.key}. Partitions: {spec.partitions}. Sent by "
                           f"{', '.join(senders)}; received by {', '.join(receivers) or 'no Fengqiao service'}. "
                           f"Dead letters: {dlq}.",
            "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in spec.event_types},
            "bindings": {"kafka": {"topic": spec.name, "partitions": partitions[spec.name],
                                   "bindingVersion": KAFKA_BINDING}}},
        dlq: {
            "address": dlq, "title": dlq,
            "description": f"Records of {spec.name} that a consumer group could not apply after its retries "
                           f"(shared/kafka/dead_letter.py), keyed as on {spec.name}.{unread}{quiet}",
            "messages": {"dead-letter": {"$ref": "#/components/messages/dead-letter"}},
            "bindings": {"kafka": {"topic": dlq, "partitions": partitions[dlq], "bindingVersion": KAFKA_BINDING}}}}


def _operation(service: str, action: str, channel: str, message_ids: list[str], summary: str) -> dict:
    return {"action": action, "channel": {"$ref": f"#/channels/{channel}"}, "summary": summary,
            "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in message_ids],
            "x-service": service}


def _operations(spec: TopicSpec) -> dict[str, dict]:
    """Each service's sends and receives on the topic, and its dead letters."""
    topic, types, dlq = spec.name, list(spec.event_types), dead_letter_topic(spec.name)
    operations = {}
    for service in SERVICES:
        if topic in SENDS[service]:
            operations[f"{service}.send.{topic}"] = _operation(service, "send", topic, types,
                                                               f"{service} publishes {topic}")
        if topic in RECEIVES[service]:
            operations[f"{service}.receive.{topic}"] = _operation(service, "receive", topic, types,
                                                                  f"{service} consumes {topic}")
            if (service, topic) not in NO_DEAD_LETTERS:
                operations[f"{service}.send.{dlq}"] = _operation(
                    service, "send", dlq, ["dead-letter"], f"{service} dead-letters what it cannot apply")
    return operations


def asyncapi() -> dict:
    """The AsyncAPI 3.0 document of every registered topic, its dead-letter topic and who uses them."""
    _check_models()
    schemas, names = _schemas()
    partitions = dict(with_dead_letters(TOPICS.values()))
    channels, messages, operations = {}, {"dead-letter": _dead_letter_message()}, {}
    for spec in TOPICS.values():
        for event_type in spec.event_types:
            model = EVENT_MODELS[event_type]
            payload = _raw_payload() if spec.name == RAW_TOPIC else _envelope_payload(
                event_type, names[Envelope], names[model])
            messages[event_type] = _message(event_type, spec.name, model, payload)
        channels |= _channels(spec, partitions)
        operations |= _operations(spec)
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Fengqiao events", "version": "v1", "description": (
            "Every topic in shared/events/topics.py and its dead-letter topic. Each message but dispatch.raw "
            "is one JSON envelope (shared/events/envelope.py) whose `data` is the event type's model. "
            "Deployments put their topic_prefix before every topic name. Generated by `python -m tools.contracts`; "
            "do not edit.")},
        "defaultContentType": "application/json",
        "servers": {"local": {"host": LOCAL_KAFKA, "protocol": "kafka",
                              "description": "the broker of deploy/local (production: replication 3)"}},
        "channels": channels, "operations": operations,
        "components": {"schemas": schemas, "messages": messages}}


def openapi(service: str) -> dict:
    """The OpenAPI document of a service's app, built for the test environment (nothing connects)."""
    create_app, settings = APPS[service]
    return create_app(settings(environment="test")).openapi()


@dataclass(frozen=True)
class Document:
    """One generated file: its path under the repository and its exact text."""

    path: str
    text: str


def render() -> list[Document]:
    """Every contract document as the code describes it now."""
    text = yaml.dump(asyncapi(), Dumper=_NoAliases, sort_keys=True, allow_unicode=True, width=110)
    documents = [Document(ASYNCAPI_PATH, text)]
    for service in SERVICES:
        body = json.dumps(openapi(service), indent=2, sort_keys=True, ensure_ascii=False)
        documents.append(Document(f"docs/openapi/{service}.json", body + "\n"))
    return documents


def stale(root: Path = ROOT, documents: list[Document] | None = None) -> list[str]:
    """The paths whose committed text differs from the code's (missing files included)."""
    found = []
    for doc in documents if documents is not None else render():
        path = root / doc.path
        if not path.is_file() or path.read_bytes() != doc.text.encode():
            found.append(doc.path)
    return found


def stale_message(path: str) -> str:
    """What to tell someone whose document no longer matches the code."""
    return f"{path} does not match the code: regenerate with `{REGENERATE}` and commit it"


def main(argv: list[str] | None = None) -> int:
    """Write the documents, or with --check report the stale ones and exit 1."""
    parser = argparse.ArgumentParser(prog="python -m tools.contracts", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    documents = render()
    if args.check:
        paths = stale(ROOT, documents)
        for path in paths:
            print(stale_message(path), file=sys.stderr)
        return 1 if paths else 0
    for doc in documents:
        path = ROOT / doc.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(doc.text.encode())
        print(f"wrote {doc.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
