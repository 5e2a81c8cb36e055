"""Each service's Kafka ACLs, derived from the topic registry (shared/events/topics.py).

A service may write the topics it is a writer of, read those it is a reader of, write the dead-letter
topic of each topic it reads (its consumer runner dead-letters there), and use the consumer groups
named after it (`<prefix><service>-...`). Nothing else: no topic creation (the admin does that), no
other group, no cluster operation; idempotent producers need only WRITE on a topic since Kafka 3.0
(KIP-679), and no service uses transactions. `python -m shared.kafka.acls table` prints the table in
docs/kafka.md; `apply` creates the ACLs as the admin (deploy/local/stack.sh with FENGQIAO_KAFKA_SASL=1).
"""
import argparse
import asyncio
import os
from dataclasses import dataclass

from shared.events.topics import TOPICS, TopicSpec, dead_letter_topic

SERVICES = ("intake", "mediation", "assessment")


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule: the principal may do `operation` on the resource (a name, or a name prefix)."""

    principal: str
    resource: str  # "topic" or "group"
    name: str
    pattern: str  # "literal" or "prefixed"
    operation: str  # "read" or "write" (each implies "describe")


def service_acls(service: str, *, prefix: str = "", topics: dict[str, TopicSpec] = TOPICS) -> list[Acl]:
    """Everything `service` may do on a cluster whose topic and group names start with `prefix`."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    principal = f"User:{service}"
    found: set[Acl] = set()

    def allow(name: str, *operations: str) -> None:
        found.update(Acl(principal, "topic", prefix + name, "literal", op) for op in operations)

    for spec in topics.values():
        if service in spec.writers:
            allow(spec.name, "write")
        if service in spec.readers:
            allow(spec.name, "read")
            allow(dead_letter_topic(spec.name), "write")
    found.add(Acl(principal, "group", f"{prefix}{service}-", "prefixed", "read"))
    return sorted(found)


def all_acls(prefix: str = "") -> list[Acl]:
    """The ACLs of every service."""
    return [acl for service in SERVICES for acl in service_acls(service, prefix=prefix)]


def table() -> str:
    """The ACLs as a Markdown table: per service, each resource and what it may do there."""
    rows = ["| principal | resource | name | operations |", "| --- | --- | --- | --- |"]
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for acl in all_acls():
        name = acl.name + ("*" if acl.pattern == "prefixed" else "")
        grouped.setdefault((acl.principal, acl.resource, name), []).append(acl.operation)
    for (principal, resource, name), operations in grouped.items():
        rows.append(f"| {principal} | {resource} | `{name}` | {', '.join(sorted(operations))} |")
    return "\n".join(rows)


def main() -> None:
    """`table` prints the ACL table; `apply` creates every service's ACLs as the admin."""
    parser = argparse.ArgumentParser(prog="python -m shared.kafka.acls")
    parser.add_argument("action", choices=("table", "apply"))
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:19092")
    parser.add_argument("--prefix", default="", help="topic_prefix of the deployment")
    parser.add_argument("--admin-user", default="admin")
    args = parser.parse_args()
    if args.action == "table":
        print(table())
        return
    from shared.kafka.admin import create_acls
    from shared.kafka.security import KafkaAuth

    password = os.environ.get("FENGQIAO_KAFKA_ADMIN_PASSWORD", "")
    admin = KafkaAuth("SASL_PLAINTEXT", "SCRAM-SHA-512", args.admin_user, password)
    acls = all_acls(args.prefix)
    asyncio.run(create_acls(args.bootstrap_servers, acls, admin))
    print(f"fengqiao: {len(acls)} ACLs for {', '.join(SERVICES)} on {args.bootstrap_servers}")


if __name__ == "__main__":
    main()
