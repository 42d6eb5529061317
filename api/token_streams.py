"""Server-Sent Event streams held by user tokens: at most HERALD_TOKEN_MAX_STREAMS open at once per token in each
API process (a browser tab holds one each), counted over the inbox and the feed streams together."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from api.errors import ApiError
from core.settings import Settings
from services import users

# The stream's events, given a check the stream asks at each heartbeat (None: nothing to check).
Events = Callable[[Callable[[], Awaitable[bool]] | None], AsyncIterator[str]]


def event_response(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def token_stream(request: Request, pool: Any, settings: Settings, token_id: str, events: Events) -> StreamingResponse:
    """The stream of one user token, refused with 429 past the bound. An issued token's stream ends at the first
    heartbeat after it is revoked or expires; a customer-signed one (`jwt:<user>`) cannot be revoked."""
    slots = _slots(request)
    if slots.get(token_id, 0) >= settings.token_max_streams:
        raise ApiError(429, "too_many_streams", f"this token already holds {settings.token_max_streams} open "
                       "inbox streams; close one first", {"max_streams": settings.token_max_streams})
    slots[token_id] = slots.get(token_id, 0) + 1

    async def alive() -> bool:
        return await users.token_live(pool, token_id)

    stream = events(None if token_id.startswith("jwt:") else alive)

    async def counted() -> AsyncIterator[str]:
        try:
            async for chunk in stream:
                yield chunk
        finally:
            slots[token_id] -= 1
            if not slots[token_id]:
                del slots[token_id]

    return event_response(counted())


def _slots(request: Request) -> dict[str, int]:
    if not hasattr(request.app.state, "token_streams"):
        request.app.state.token_streams = {}
    slots: dict[str, int] = request.app.state.token_streams
    return slots
