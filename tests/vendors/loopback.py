"""What the SMS and chat doubles share: uvicorn on 127.0.0.1, scripted answers, and a record of requests.

A double answers each request either with its scripted reply for the request's key (an address, a webhook
path) or as the vendor answers a good request; a request that deviates from the documented one gets the
vendor's own refusal before any script is consulted, so an adapter that sends it wrongly fails its test.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from providers.base import OutgoingMessage
from providers.egress import Allowlist
from tests.conftest import free_port


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON, or text when a str
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    def response(self) -> Response:
        if isinstance(self.body, str):
            return Response(self.body, status_code=self.status, headers=self.headers, media_type="text/plain")
        if self.body is None:
            return Response(status_code=self.status, headers=self.headers)
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes
    fields: dict[str, Any]  # the parsed form or JSON body
    at: float = field(default_factory=time.monotonic)  # when it arrived


class Double:
    """Serves `routes` on loopback; subclasses implement the vendor and call `scripted` for the reply."""

    def __init__(self, routes: list[Route]):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.received: list[Received] = []
        self.script: dict[str, list[Reply]] = defaultdict(list)
        self.app = Starlette(routes=routes)
        # A reply a test left delayed is not waited for when the double stops.
        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error",
                                                     timeout_graceful_shutdown=1))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task

    def record(self, request: Request, raw: bytes, fields: dict[str, Any]) -> None:
        self.received.append(Received(request.url.path, {k.lower(): v for k, v in request.headers.items()},
                                      raw, fields))

    async def scripted(self, key: str) -> Reply | None:
        if not self.script[key]:
            return None
        reply = self.script[key].pop(0)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return reply

    def to(self, key: str, field_name: str) -> list[Received]:
        return [r for r in self.received if r.fields.get(field_name) == key]


def message(address: str, *, subject: str = "Your order shipped", body: str = "It arrives on Tuesday.",
            channel: str = "sms") -> OutgoingMessage:
    return OutgoingMessage(notification_id=f"n-{uuid.uuid4().hex[:12]}", channel=channel, address=address,
                           subject=subject, body=body, user_id=None, attempt=1)


def phone_number() -> str:
    """A valid US number of its own, so one test's script never answers another's request."""
    while True:
        number = f"+1415555{secrets.randbelow(8000) + 2000}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number


LOOPBACK = Allowlist.parse("127.0.0.1")
