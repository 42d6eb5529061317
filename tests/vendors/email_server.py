"""What the email doubles add to the loopback double: a record of what each accepted, and of why it refused
what it refused (a request that deviates from the vendor's documentation)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from tests.vendors.loopback import Double


class EmailDouble(Double):
    def __init__(self, routes: list[Route]):
        super().__init__(routes)
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[str] = []

    def refuse(self, reason: str, response: Response) -> Response:
        self.refused.append(reason)
        return response

    async def answer(self, address: str) -> Response | None:
        """The scripted answer for a request to `address`, if a test scripted one."""
        reply = await self.scripted(address)
        return reply.response() if reply is not None else None
