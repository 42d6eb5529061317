"""Real peers on loopback for delivery tests: an SMTP server (aiosmtpd) and an HTTP receiver (uvicorn).

Both record everything they receive and answer from a per-recipient script, so one shared server can play a
healthy relay for one test and a failing one for another.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import standardwebhooks
import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Mail:
    recipients: list[str]
    message: EmailMessage
    at: float


class SmtpSink:
    """An SMTP server. `script[rcpt]` is a list of replies consumed one per message ("250" accepts)."""

    def __init__(self, port: int):
        self.port = port
        self.mail: list[Mail] = []
        self.script: dict[str, list[str]] = defaultdict(list)
        self.tries: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        rcpt = envelope.rcpt_tos[0]
        with self._lock:
            self.tries[rcpt] += 1
            reply = self.script[rcpt].pop(0) if self.script[rcpt] else "250 OK"
            if reply.startswith("250"):
                message = message_from_bytes(envelope.content, policy=policy.default)
                assert isinstance(message, EmailMessage)
                self.mail.append(Mail(list(envelope.rcpt_tos), message, time.monotonic()))
        return reply

    def to(self, rcpt: str) -> list[Mail]:
        with self._lock:
            return [m for m in self.mail if rcpt in m.recipients]


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    verified: bool
    at: float
    raw: bytes = b""
    status: int = 200  # what the receiver answered


# Hostile answers stay bounded, so a test that fails never leaves a receiver streaming for ever.
TRICKLE_BYTES = 120
ENDLESS_BYTES = 32 * 1024 * 1024


@dataclass
class Reply:
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    # Hostile receivers: the status and headers at once, then the body one byte every `trickle_s` seconds
    # (TRICKLE_BYTES of them), or a body that keeps coming in 1 KiB chunks (ENDLESS_BYTES of it).
    trickle_s: float = 0.0
    endless: bool = False
    # Answered only once this is set: a test changes something while the request is in flight.
    hold: asyncio.Event | None = None


class _ClosingStream(StreamingResponse):
    """Closes its body as soon as the answer ends or the client hangs up (not when it is garbage collected), so
    the receiver's count of open requests is exact."""

    def __init__(self, body: AsyncGenerator[bytes, None], on_close: Callable[[], None], **kwargs: Any):
        super().__init__(body, **kwargs)
        self._body = body
        self._on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._body.aclose()
            self._on_close()


class HttpReceiver:
    """An HTTP server that verifies Standard Webhooks signatures. `script[key]` holds the replies to give,
    one per request, for a key: the URL path, or the `to` / `token` of a gateway body. A status webhook looks
    first under `<path>#<notification id>`: a subscription gets every notification's events, and a test that
    scripts failures for its own notification must not have another test's event take them."""

    def __init__(self, port: int, secret: str):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.calls: list[Call] = []
        self.script: dict[str, list[Reply]] = defaultdict(list)
        # Requests open right now, and the most ever open at once, per key: an answer counts as open until it is
        # fully sent or its client hangs up.
        self.open: dict[str, int] = defaultdict(int)
        self.max_open: dict[str, int] = defaultdict(int)
        self._verifier = standardwebhooks.Webhook(secret)
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])
        # A reply a test left delayed is not waited for when the receiver stops.
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
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

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            self._verifier.verify(raw, {k: headers.get(k, "") for k in
                                        ("webhook-id", "webhook-timestamp", "webhook-signature")})
            verified = True
        except standardwebhooks.WebhookVerificationError:
            verified = False
        body = json.loads(raw)
        path = "/" + request.path_params["path"]
        key = path if path.startswith("/hook/") else str(body.get("to") or body.get("token") or path)
        if path.startswith("/hook/"):
            own = f"{path}#{body.get('data', {}).get('notification_id')}"
            key = own if self.script.get(own) else key
        reply = self.script[key].pop(0) if self.script[key] else Reply()
        self.calls.append(Call(path, headers, body, verified, time.monotonic(), raw, reply.status))
        self.open[key] += 1
        self.max_open[key] = max(self.max_open[key], self.open[key])
        if reply.trickle_s or reply.endless:
            def closed() -> None:
                self.open[key] -= 1
            return _ClosingStream(self._hostile_body(reply), closed, status_code=reply.status,
                                  headers=reply.headers, media_type="application/json")
        try:
            if reply.hold is not None:
                await reply.hold.wait()
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
        finally:
            self.open[key] -= 1
        if reply.status == 200:
            return JSONResponse({"id": f"gw-{len(self.calls)}"}, headers=reply.headers)
        return Response(f"status {reply.status}", status_code=reply.status, headers=reply.headers)

    async def _hostile_body(self, reply: Reply) -> AsyncGenerator[bytes, None]:
        if reply.trickle_s:
            for _ in range(TRICKLE_BYTES):
                yield b" "
                await asyncio.sleep(reply.trickle_s)
        else:
            chunk = b" " * 1024
            for _ in range(ENDLESS_BYTES // len(chunk)):
                yield chunk

    def for_key(self, key: str) -> list[Call]:
        return [c for c in self.calls if c.path == key or c.body.get("to") == key or c.body.get("token") == key]
