"""Hostile webhook receivers for the `hostile_receivers` scenario: each answers 200 at once, then either trickles
its body a byte every `trickle_s` seconds or streams a body that never ends. Both are bounded here (a chaos run
must end), far past any attempt's deadline and any answer's cap.

The receiver keeps its own log of open requests per delivery (`webhook-id`): `max_open[id] > 1` means two
attempts of one delivery were talking to it at the same time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator, Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

TRICKLE_BYTES = 300  # at one byte every 2 s: ten minutes
ENDLESS_BYTES = 256 * 1024 * 1024  # 256 MiB in 16 KiB chunks: past any cap, short of a machine's memory


class _Stream(StreamingResponse):
    """Closes its body and reports the end as soon as the answer ends or the client hangs up."""

    def __init__(self, body: AsyncGenerator[bytes, None], on_close: Callable[[], None]):
        super().__init__(body, status_code=200, media_type="application/json")
        self._body, self._on_close = body, on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except OSError:  # the sender hung up mid-answer: what a deadline or a cap does
            pass
        finally:
            await self._body.aclose()
            self._on_close()


class HostileReceiver:
    def __init__(self, port: int, trickle_s: float = 2.0):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.trickle_s = trickle_s
        self.requests: Counter[str] = Counter()  # webhook-id -> requests received
        self.open: Counter[str] = Counter()
        self.max_open: Counter[str] = Counter()
        self.bytes_sent = 0
        app = Starlette(routes=[Route("/{kind}/{name}", self._hook, methods=["POST"])])
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

    @property
    def overlapping(self) -> int:
        """Deliveries that ever had two requests open at once."""
        return sum(1 for n in self.max_open.values() if n > 1)

    async def _hook(self, request: Request) -> Response:
        await request.body()
        key = request.headers.get("webhook-id", "")
        self.requests[key] += 1
        self.open[key] += 1
        self.max_open[key] = max(self.max_open[key], self.open[key])

        def closed() -> None:
            self.open[key] -= 1
        body = self._trickle() if request.path_params["kind"] == "trickle" else self._endless()
        return _Stream(body, closed)

    async def _trickle(self) -> AsyncGenerator[bytes, None]:
        for _ in range(TRICKLE_BYTES):
            yield b" "
            self.bytes_sent += 1
            await asyncio.sleep(self.trickle_s)

    async def _endless(self) -> AsyncGenerator[bytes, None]:
        chunk = b" " * 16384
        for _ in range(ENDLESS_BYTES // len(chunk)):
            yield chunk
            self.bytes_sent += len(chunk)
            await asyncio.sleep(0)  # let the loop serve the other requests between chunks
