"""A load generator's HTTP/1.1 connection: one keep-alive connection, one request at a time, as a
browser tab holds one. It sends prebuilt request bytes and parses the answer with httptools (the parser
uvicorn uses), so the benchmark client costs a fraction of what httpx does.

On 2 cores the client shares the machine with the API and PostgreSQL: httpx spent about as much CPU
per claim-next as the API itself (1.4 ms, bench.claims), so it measured the client as much as the
server. Mediators' browsers run elsewhere; a lean client keeps the measurement on the server.
"""
import asyncio
from dataclasses import dataclass

import httptools


@dataclass
class Answer:
    """An HTTP answer: its status and body."""

    status: int
    body: bytes


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiting: asyncio.Future[Answer] | None = None
        self.chunks: list[bytes] = []
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionError("the server closed the connection")
        self._fail(self.lost)

    def _fail(self, exc: Exception) -> None:
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_exception(exc)

    # httptools' callbacks
    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        answer = Answer(self.parser.get_status_code(), b"".join(self.chunks))
        self.chunks = []
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(answer)


class Connection:
    """One keep-alive HTTP/1.1 connection to a server."""

    def __init__(self, host: str, protocol: _Protocol) -> None:
        self.host, self._protocol = host, protocol

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        """A connection, opened now."""
        _, protocol = await asyncio.get_running_loop().create_connection(_Protocol, host, port)
        return cls(f"{host}:{port}", protocol)

    def request_bytes(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
        """The bytes of a request, to build once and send many times."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def send(self, request: bytes) -> Answer:
        """Send a prebuilt request and wait for its answer."""
        protocol = self._protocol
        if protocol.lost is not None:
            raise ConnectionError(f"connection to {self.host} lost") from protocol.lost
        protocol.waiting = asyncio.get_running_loop().create_future()
        assert protocol.transport is not None
        protocol.transport.write(request)
        return await protocol.waiting

    def close(self) -> None:
        """Close the connection."""
        if self._protocol.transport is not None:
            self._protocol.transport.close()
