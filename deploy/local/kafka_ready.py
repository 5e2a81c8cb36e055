"""Exit 0 when the Kafka broker at HOST:PORT answers a Metadata request with at least one broker
(`--brokers N`: at least N, every node of a cluster), or with `--sasl` when its SASL listener answers a
handshake offering SCRAM-SHA-512 (Metadata needs an authenticated connection there).

Standard library only, so the launcher works before the project's virtual environment exists.
Metadata v4 is used because Kafka 4.0 removed v0-v3 (KIP-896).
"""
import socket
import struct
import sys


def metadata_brokers(host: str, port: int, timeout: float = 2.0) -> int:
    """Send one Metadata v4 request and return the number of brokers in the answer."""
    client_id = b"fengqiao-ready"
    body = struct.pack(">i", -1) + b"\x00"  # all topics (null array), no auto-creation
    header = struct.pack(">hhih", 3, 4, 7, len(client_id)) + client_id
    request = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", _read(sock, 4))[0]
        payload = _read(sock, size)
    correlation_id, _throttle, brokers = struct.unpack(">iii", payload[:12])
    if correlation_id != 7:
        raise ValueError("unexpected correlation id")
    return brokers


def offers_scram(host: str, port: int, timeout: float = 2.0) -> bool:
    """Send one SaslHandshake v1 for SCRAM-SHA-512; True when the broker accepts the mechanism."""
    client_id, mechanism = b"fengqiao-ready", b"SCRAM-SHA-512"
    request = struct.pack(">hhih", 17, 1, 7, len(client_id)) + client_id + struct.pack(">h", len(mechanism)) + mechanism
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", _read(sock, 4))[0]
        payload = _read(sock, size)
    correlation_id, error_code = struct.unpack(">ih", payload[:6])
    return correlation_id == 7 and error_code == 0


def _read(sock: socket.socket, n: int) -> bytes:
    chunks = b""
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        chunks += chunk
    return chunks


def main(args: list[str]) -> bool:
    """HOST PORT [--brokers N] [--sasl]: whether the broker is ready."""
    host, port = args[0], int(args[1])
    if "--sasl" in args:
        return offers_scram(host, port)
    wanted = int(args[args.index("--brokers") + 1]) if "--brokers" in args else 1
    return metadata_brokers(host, port) >= wanted


if __name__ == "__main__":
    try:
        sys.exit(0 if main(sys.argv[1:]) else 1)
    except (OSError, ValueError, struct.error):
        sys.exit(1)
