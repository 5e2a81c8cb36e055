"""Exit 0 when the Kafka broker at HOST:PORT answers a Metadata request with at least one broker.

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


def _read(sock: socket.socket, n: int) -> bytes:
    chunks = b""
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        chunks += chunk
    return chunks


if __name__ == "__main__":
    try:
        sys.exit(0 if metadata_brokers(sys.argv[1], int(sys.argv[2])) > 0 else 1)
    except (OSError, ValueError, struct.error):
        sys.exit(1)
