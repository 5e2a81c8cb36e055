"""The live queue: `GET /v1/queue/events`, a server-sent-events stream of the changes of the cases the
caller may see, so a workbench's queue updates without polling.

Every change of a case writes a timeline entry in its own transaction, and a trigger on the timeline
(migration 0010) announces the range of ids each statement wrote; PostgreSQL delivers that at the
commit. One listening connection per API process (the hub) reads each announced change once, joined
to its case as it is now, and hands it to every subscriber that may see the case (callers.sees, the
rule of GET /v1/cases/{id}), rendered for that subscriber (its allowed actions) without party data.

An event's id is its timeline id; its `action` is what happened, its `case` the case as it is when the
hub reads it (a claim quickly followed by a release may show the released case). A client that
reconnects sends `Last-Event-ID` and first gets each case changed after it once, as it is now, at its
latest change (up to REPLAY_LIMIT changes; beyond that a `reset` event tells it to reload its queue). Timeline ids are handed out at insert, not at commit, so a change that commits after a
later-numbered one is still delivered live; only a reconnect that falls between such two commits
could miss it, which is why the page reloads its queue after every reconnect anyway.

The hub runs while someone listens: it connects with the first subscriber and closes its
connection when the last one leaves, so the service's lifespan owns nothing more.
"""
import asyncio
import contextlib
import signal
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Annotated, Any

import asyncpg
import orjson
import structlog
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse

from services.mediation import callers, repository
from services.mediation.domain.access import READING_ROLES, channels_for
from services.mediation.views import ERRORS, case_json, zone
from shared.auth import Principal, require_role

log = structlog.get_logger(__name__)

CHANNEL = "mediation_case_changes"
REPLAY_LIMIT = 1000
HEARTBEAT_S = 15.0
# A stream ends after this long and the client reconnects with its Last-Event-ID: its token is
# checked again, so a revoked or expired token stops receiving within this time.
STREAM_S = 600.0
SUBSCRIBER_BACKLOG = 2000
ENDED = -1  # the frame id that ends a stream (the hub lost its connection)
_SEEN = 20000  # ids remembered to drop a change announced twice (overlapping ranges of concurrent inserts)

PATH = "/v1/queue/events"
router = APIRouter(prefix="/v1", tags=["cases"], responses=ERRORS)
_reader = require_role(*sorted(READING_ROLES))
_READER = Depends(_reader)


@dataclass(eq=False)
class Subscriber:
    """One open stream: who listens, and the frames waiting for it."""

    principal: Principal
    frames: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_BACKLOG))
    overflowed: bool = False

    def __post_init__(self) -> None:
        p = self.principal
        self.channels = channels_for(p.roles, p.channels)
        self._view = (p.roles, p.stations, self.channels)

    def view(self, row: Any) -> tuple:
        """What decides this subscriber's frame of a change: its roles, stations and channels, and its name
        only where the case names it (holder, worker). Subscribers with one view share one rendering."""
        subject = self.principal.subject
        named = subject == row["claimed_by"] or subject in row["worked_by"]
        return self._view if not named else (*self._view, subject)


def in_queue(principal: Principal, channels: frozenset[str], case: Any) -> bool:
    """Whether the case is in the caller's claim queue now (the rows GET /v1/queue answers)."""
    return case["state"] == "pending" and case["station_code"] in principal.stations and case["channel"] in channels


def frame(subscriber: Subscriber, row: Any, tz) -> bytes | None:
    """The SSE frame of one change for one subscriber; None when it may not see the case."""
    principal = subscriber.principal
    if not callers.sees(principal, row):
        return None
    case = case_json(dict(row) | {"party": None}, tz, subject=principal.subject, roles=principal.roles)
    data = {"event_id": row["event_id"], "action": row["event_action"], "actor": row["event_actor"],
            "in_queue": in_queue(principal, subscriber.channels, row), "case": case}
    return b"id: %d\nevent: case\ndata: %s\n\n" % (row["event_id"], orjson.dumps(data))


class Hub:
    """One LISTEN connection per process, fanned out to the subscribers in memory."""

    def __init__(self, dsn: str, pool: asyncpg.Pool, tz) -> None:
        self.dsn, self.pool, self.tz = dsn, pool, tz
        self.subscribers: set[Subscriber] = set()
        self._ranges: deque[tuple[int, int]] = deque()
        self._wake = asyncio.Event()
        self._seen: deque[int] = deque(maxlen=_SEEN)
        self._seen_set: set[int] = set()
        self._task: asyncio.Task | None = None
        self._started = asyncio.Event()
        self._closing = False

    async def subscribe(self, principal: Principal) -> Subscriber:
        """A new subscriber; the hub listens before this returns, so nothing committed after is missed."""
        subscriber = Subscriber(principal)
        if self._task is not None and self._closing:
            with contextlib.suppress(Exception):
                await self._task  # the last listener left and the connection is closing: start afresh after
        self.subscribers.add(subscriber)
        if self._task is None or self._task.done():
            self._closing = False
            self._started = asyncio.Event()
            self._task = asyncio.create_task(self._run())
        started = asyncio.ensure_future(self._started.wait())
        await asyncio.wait({self._task, started}, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            started.cancel()
            self.subscribers.discard(subscriber)
            self._task.result()  # raises the connection's error
        return subscriber

    def end_all(self) -> None:
        """End every open stream (the server is stopping): each client reconnects and replays what it missed."""
        for subscriber in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.frames.put_nowait((ENDED, b""))

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        if not self.subscribers:
            self._wake.set()  # the loop sees nobody listens and closes its connection

    def _announced(self, _conn, _pid, _channel, payload: str) -> None:
        low, high = (int(part) for part in payload.split())
        self._ranges.append((low, high))
        self._wake.set()

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        lost = asyncio.Event()
        try:
            def on_lost(_conn: object) -> None:
                lost.set()
                self._wake.set()

            conn.add_termination_listener(on_lost)
            await conn.add_listener(CHANNEL, self._announced)
            self._started.set()
            while self.subscribers and not lost.is_set():
                await self._wake.wait()
                self._wake.clear()
                while self._ranges and self.subscribers:
                    low, high = self._ranges.popleft()
                    # A short range per statement; several statements of one batch come as several.
                    rows = await repository.changes_between(self.pool, low, high)
                    self._fan_out(rows)
        finally:
            self._closing = True  # before the first await: a subscriber arriving now waits for a new connection
            with contextlib.suppress(Exception):
                await conn.close()
            # Whoever still listens may have missed a change: their streams end, and they reconnect
            # with their Last-Event-ID and replay from the timeline.
            for subscriber in list(self.subscribers):
                subscriber.overflowed = True
                with contextlib.suppress(asyncio.QueueFull):
                    subscriber.frames.put_nowait((ENDED, b""))

    def _fan_out(self, rows: list) -> None:
        for row in rows:
            ident = row["event_id"]
            if ident in self._seen_set:
                continue
            if len(self._seen) == self._seen.maxlen:
                self._seen_set.discard(self._seen[0])
            self._seen.append(ident)
            self._seen_set.add(ident)
            rendered: dict[tuple, bytes | None] = {}
            for subscriber in list(self.subscribers):
                if subscriber.overflowed:
                    continue
                view = subscriber.view(row)
                if view not in rendered:
                    rendered[view] = frame(subscriber, row, self.tz)
                data = rendered[view]
                if data is None:
                    continue
                try:
                    subscriber.frames.put_nowait((ident, data))
                except asyncio.QueueFull:  # a reader that stopped reading: it reconnects and replays
                    subscriber.overflowed = True


def _end_streams_on_stop(hub: Hub) -> None:
    """A server stopping waits for its open requests before it stops the app, and a stream never ends by
    itself: so the server's own SIGTERM and SIGINT handlers (uvicorn's) are chained to end the streams
    first. Nothing is chained where no server installed a handler (tests, a REPL)."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous) or previous is signal.default_int_handler:
            continue

        def stop(signum, frame, previous=previous) -> None:
            loop.call_soon_threadsafe(hub.end_all)
            previous(signum, frame)

        signal.signal(sig, stop)


def hub_of(request: Request) -> Hub:
    """The process's hub, made on first use."""
    app = request.app
    hub = getattr(app.state, "live_queue", None)
    if hub is None:
        ctx = app.state.mediation
        hub = Hub(ctx.settings.database_url, ctx.pool, zone(ctx.settings.time_zone))
        app.state.live_queue = hub
        _end_streams_on_stop(hub)
    return hub


def _event(name: str, ident: int, data: dict) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (ident, name.encode(), orjson.dumps(data))


async def _stream(hub: Hub, principal: Principal, last_event_id: int | None):
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_S
    # Listening before anything is read: whatever commits from here on reaches this stream.
    subscriber = await hub.subscribe(principal)
    try:
        yield b"retry: 2000\n\n"
        replayed: set[int] = set()
        if last_event_id is not None:
            rows = await repository.changes_after(hub.pool, last_event_id, REPLAY_LIMIT + 1)
            if len(rows) > REPLAY_LIMIT:
                high = await repository.last_timeline_id(hub.pool)
                yield _event("reset", high, {"reason": "too_far_behind", "last_event_id": high})
            else:
                replayed = {row["event_id"] for row in rows}
                # Each case as it is now, once, at its latest change: what a queue needs to catch up.
                latest = {row["id"]: row for row in rows}
                for row in sorted(latest.values(), key=lambda r: r["event_id"]):
                    if (data := frame(subscriber, row, hub.tz)) is not None:
                        yield data
        high = max(replayed) if replayed else (
            last_event_id if last_event_id is not None else await repository.last_timeline_id(hub.pool))
        yield _event("ready", high, {"last_event_id": high})
        while True:
            wait = min(HEARTBEAT_S, ends - loop.time())
            if wait <= 0:
                return
            try:
                ident, data = await asyncio.wait_for(subscriber.frames.get(), wait)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if ident == ENDED:
                return
            if ident in replayed:
                continue
            # What else is already waiting goes in the same write: one chunk through the stack, not one each.
            batch = [data]
            while not subscriber.frames.empty() and len(batch) < 100:
                more, extra = subscriber.frames.get_nowait()
                if more == ENDED:
                    yield b"".join(batch)
                    return
                if more not in replayed:
                    batch.append(extra)
            yield b"".join(batch)
            if subscriber.overflowed and subscriber.frames.empty():
                return  # the client reconnects from its last id and replays what it missed
    finally:
        hub.unsubscribe(subscriber)


@router.get("/queue/events", response_class=StreamingResponse, responses={200: {
    "content": {"text/event-stream": {}},
    "description": "`event: case` frames (id: the change's timeline id; data: event_id, action, actor, in_queue "
                   "and the case as GET /v1/queue renders it), a `ready` frame once caught up, `reset` when "
                   "too far behind to replay"}})
async def queue_events(request: Request, caller: Annotated[Principal, _READER],
                       last_event_id: Annotated[str | None, Header(description=(
                           "the id of the last event received: the stream first replays what came after"))] = None):
    """Changes of the cases I may see at my stations and channels, live (server-sent events); `in_queue` says
    whether the case is in my claim queue now. Reconnect with `Last-Event-ID` to get what was missed."""
    return StreamingResponse(_stream(hub_of(request), caller, _last_event_id(last_event_id)), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})


def _last_event_id(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


class EventStream:
    """A pure ASGI middleware that serves the stream of an authenticated GET /v1/queue/events itself.

    Each frame would otherwise cross every middleware of the app (the request log's and the audit's are
    BaseHTTPMiddleware, which hands each chunk through an in-memory stream): with hundreds of listeners
    that, not rendering, is what a delivered event costs (bench/live_queue). Anything it does not
    serve itself (other paths, a missing or refused token) goes down the stack to the route above,
    which answers with the API's error shape and documents the stream."""

    HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
               (b"x-accel-buffering", b"no")]

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            principal = await _reader(request)
        except Exception:  # the route answers the refusal, in the API's shape
            await self.app(scope, receive, send)
            return
        stream = _stream(hub_of(request), principal, _last_event_id(request.headers.get("last-event-id")))
        await send({"type": "http.response.start", "status": 200, "headers": self.HEADERS})

        async def pump() -> None:
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

        async def gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        tasks = [asyncio.create_task(pump()), asyncio.create_task(gone())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await stream.aclose()
        if not tasks[1].done() or tasks[1].cancelled():
            with contextlib.suppress(Exception):  # the client may be gone already
                await send({"type": "http.response.body", "body": b"", "more_body": False})
