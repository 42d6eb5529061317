"""A counting receiver: an HTTP webhook endpoint and an SMTP server that record every delivery they accept by
its idempotency key (`webhook-id`, the stable Message-ID), so a ledger can tell unique deliveries from raw
repeats. `mode` turns the HTTP side into an outage: 500s, or 429s with Retry-After, or slow answers."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from email import message_from_bytes, policy
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class CountingReceiver:
    def __init__(self, http_port: int, smtp_port: int):
        self.http_port, self.smtp_port = http_port, smtp_port
        self.base = f"http://127.0.0.1:{http_port}"
        self.accepted: Counter[str] = Counter()  # idempotency key -> requests answered 2xx (or 250)
        self.refused = 0
        self.in_flight = 0  # requests being answered slowly right now
        self.mode = "ok"  # ok | error | throttle | slow
        self.slow_s = 2.0
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/hook/{name:path}", self._hook, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=http_port, log_level="error"))
        self._task: asyncio.Task[None] | None = None
        self._smtp = Controller(self, hostname="127.0.0.1", port=smtp_port)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.02)
        self._smtp.start()

    async def stop(self) -> None:
        self._smtp.stop()
        self._server.should_exit = True
        if self._task is not None:
            await self._task

    def _count(self, key: str) -> None:
        with self._lock:
            self.accepted[key] += 1

    async def _hook(self, request: Request) -> Response:
        await request.body()
        key = request.headers.get("webhook-id", "")
        if self.mode == "error":
            self.refused += 1
            return Response("provider outage", status_code=500)
        if self.mode == "throttle":
            self.refused += 1
            return Response("slow down", status_code=429, headers={"Retry-After": "2"})
        if self.mode == "slow":
            self.in_flight += 1
            try:
                await asyncio.sleep(self.slow_s)
            finally:
                self.in_flight -= 1
        # Counted as delivered even if the sender is gone by now: the message reached the provider.
        self._count(key)
        return JSONResponse({"id": key})

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        self._count(str(message["Message-ID"]))
        return "250 OK"

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.accepted)
