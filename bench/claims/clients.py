"""The mediators' HTTP clients: each mediator calls claim-next over a connection of its own, as
separate browsers would, through the lean client (bench/common/http_client.py, the default) or httpx.

With httpx the benchmark client spent about as much CPU per claim as the API (1.4 ms, on the same 2
cores), so the lean client is the default and httpx is kept to compare with earlier runs.
"""
import asyncio
import ssl
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import AsyncIterator

import httpx

from bench.claims.load import Mediator
from bench.common.http_client import Answer, Connection

CLIENTS = ("lean", "httpx", "httpx-shared")
PATH = "/v1/queue/claim-next"
ClaimNext = Callable[[], Awaitable[Answer]]
# What a lost or refused connection raises, for either client.
TRANSPORT_ERRORS = (httpx.TransportError, ConnectionError, OSError)


def _headers(m: Mediator) -> dict[str, str]:
    return {"Authorization": f"Bearer {m.token}", "Accept-Language": "en"}


@asynccontextmanager
async def claim_next_callers(kind: str, port: int, mediators: list[Mediator]) -> AsyncIterator[list[ClaimNext]]:
    """One claim-next call per mediator, over connections opened before this yields."""
    if kind == "lean":
        connections = await asyncio.gather(*(Connection.open("127.0.0.1", port) for _ in mediators))
        try:
            def caller(connection: Connection, m: Mediator) -> ClaimNext:
                request = connection.request_bytes("POST", PATH, _headers(m))
                return lambda: connection.send(request)
            yield [caller(c, m) for c, m in zip(connections, mediators)]
        finally:
            for connection in connections:
                connection.close()
        return
    # httpx: one client per mediator, or one client with a pool of all the connections ("httpx-shared":
    # httpcore 1.0 assigns requests to connections in O(connections x requests) per event,
    # encode/httpcore#1035, ~11 ms of client CPU per request with 200).
    shared = kind == "httpx-shared"
    size = len(mediators) if shared else 1
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    tls = ssl.create_default_context()  # one for all: httpx builds one per client otherwise, ~25 ms each
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60, verify=tls)
               for _ in range(1 if shared else len(mediators))]
    try:
        mine = [(m, clients[0 if shared else i]) for i, m in enumerate(mediators)]
        await asyncio.gather(*(client.get("/healthz") for _, client in mine))  # connections opened first

        def caller(client: httpx.AsyncClient, m: Mediator) -> ClaimNext:
            headers = _headers(m)

            async def call() -> Answer:
                response = await client.post(PATH, headers=headers)
                return Answer(response.status_code, response.content)
            return call
        yield [caller(client, m) for m, client in mine]
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
