"""How a client authenticates to Kafka: one value handed to every producer, consumer and admin client.

PLAINTEXT (no authentication) is the local default. SASL_PLAINTEXT with SCRAM-SHA-512 is the local
cluster with ACLs (deploy/local/kafka.sh, FENGQIAO_KAFKA_SASL=1); production uses SASL_SSL, the same
credentials over TLS, with the cluster's CA (docs/kafka.md).
"""
import ssl
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KafkaAuth:
    """A client's security protocol and, for SASL, its mechanism and credentials."""

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password: str = ""
    ssl_cafile: str = ""

    def __post_init__(self) -> None:
        if self.security_protocol.startswith("SASL_") and not (self.username and self.password):
            raise ValueError(f"{self.security_protocol} needs a SASL username and password")

    @property
    def principal(self) -> str:
        """The principal the broker's ACLs name (User:ANONYMOUS without SASL)."""
        return f"User:{self.username}" if self.security_protocol.startswith("SASL_") else "User:ANONYMOUS"

    def options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (aiokafka's sasl_plain_* carry SCRAM credentials too)."""
        found: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL_"):
            found |= {"sasl_mechanism": self.sasl_mechanism, "sasl_plain_username": self.username,
                      "sasl_plain_password": self.password}
        if self.security_protocol.endswith("SSL"):
            found["ssl_context"] = ssl.create_default_context(cafile=self.ssl_cafile or None)
        return found


PLAINTEXT = KafkaAuth()
