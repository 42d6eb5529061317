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
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import standardwebhooks
import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
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


@dataclass
class Reply:
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


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
        self._verifier = standardwebhooks.Webhook(secret)
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
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
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.status == 200:
            return JSONResponse({"id": f"gw-{len(self.calls)}"}, headers=reply.headers)
        return Response(f"status {reply.status}", status_code=reply.status, headers=reply.headers)

    def for_key(self, key: str) -> list[Call]:
        return [c for c in self.calls if c.path == key or c.body.get("to") == key or c.body.get("token") == key]
