"""A mediation API served over real HTTP in the test's own event loop (server-sent events need a
streaming transport, which httpx's ASGI transport is not), and a reader of its event stream."""
import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import orjson
import uvicorn

from deploy.local.processes import free_port
from services.mediation.api import create_app
from services.mediation.settings import MediationSettings
from shared.auth import issue_token
from tests.integration.mediation.conftest import STATION

WAIT_S = 20


@contextlib.asynccontextmanager
async def served(settings: MediationSettings) -> AsyncIterator[str]:
    """The mediation app under uvicorn on a free port until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                          lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(WAIT_S):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)


def token(settings: MediationSettings, subject: str, roles=("mediator",), stations=(STATION,), channels=()) -> str:
    return issue_token(settings.jwt_secret.get_secret_value(), subject=subject, roles=list(roles),
                       stations=list(stations), channels=list(channels))


@dataclass
class Listener:
    """One open stream: its frames as (event, id, data) in arrival order."""

    frames: asyncio.Queue = field(default_factory=asyncio.Queue)
    received: list = field(default_factory=list)
    status: int | None = None
    task: asyncio.Task | None = None

    async def next(self, event: str = "case") -> tuple[int, dict]:
        """The next frame of this kind (others are skipped), within WAIT_S."""
        async with asyncio.timeout(WAIT_S):
            while True:
                kind, ident, data = await self.frames.get()
                if kind == event:
                    return ident, data

    def cases(self) -> list[dict]:
        return [data for kind, _, data in self.received if kind == "case"]

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def listen(base: str, bearer: str, last_event_id: int | None = None) -> Listener:
    """Open GET /v1/queue/events; returns once the stream said `ready`."""
    listener = Listener()
    opened = asyncio.get_running_loop().create_future()
    headers = {"Authorization": f"Bearer {bearer}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)

    async def read() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=None) as client, \
                client.stream("GET", "/v1/queue/events", headers=headers) as answer:
            listener.status = answer.status_code
            if answer.status_code != 200:
                opened.set_result(None)
                return
            kind, ident, data = "message", None, []
            async for line in answer.aiter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("id:"):
                    ident = int(line[3:].strip())
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    entry = (kind, ident, orjson.loads("\n".join(data)))
                    listener.received.append(entry)
                    await listener.frames.put(entry)
                    if kind == "ready" and not opened.done():
                        opened.set_result(None)
                    kind, ident, data = "message", None, []

    listener.task = asyncio.create_task(read())
    async with asyncio.timeout(WAIT_S):
        await asyncio.wait({listener.task, opened}, return_when=asyncio.FIRST_COMPLETED)
    if listener.task.done() and not opened.done():
        listener.task.result()
    return listener
