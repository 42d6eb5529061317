"""Serving an email vendor's double on loopback, and the scripted answers every double gives on demand."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from tests.conftest import free_port


@dataclass
class Scripted:
    """One answer a test asks a double to give, instead of accepting, to a request for one recipient."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering: a vendor that answers after the attempt's deadline.
    delay_s: float = 0.0

    def response(self) -> Response:
        if self.body is None or isinstance(self.body, str):
            return Response(self.body or "", status_code=self.status, headers=self.headers,
                            media_type="text/plain")
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


class Double:
    """A vendor double served by uvicorn on 127.0.0.1. `accepted` holds what it accepted, `refused` the
    reason of every request it refused for not following the vendor's documentation, and `script[address]`
    the answers to give to the next requests for that recipient."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.script: dict[str, list[Scripted]] = defaultdict(list)
        app = Starlette(routes=self.routes())
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self._task: asyncio.Task[None] | None = None

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    async def scripted(self, address: str) -> Response | None:
        if not self.script[address]:
            return None
        answer = self.script[address].pop(0)
        await asyncio.sleep(answer.delay_s)
        return answer.response()

    def refuse(self, reason: str, response: Response) -> Response:
        self.refused.append(reason)
        return response

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
