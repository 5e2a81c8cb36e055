"""`Cache-Control: no-store` on API answers that may carry personal data (docs/security.md).

Intake echoes callers' records and mediation answers with parties' names and phones: no browser,
proxy or gateway cache may keep a copy. Every answer under /v1 gets the header, errors included (a
404 reveals as much as it hides); operations routes and the API docs stay cacheable.
"""
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/v1/"


class NoStore:
    """A pure ASGI middleware (no request body buffering) that adds the header to /v1 answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", b"no-store")]}
            await send(message)

        await self.app(scope, receive, send_no_store)
