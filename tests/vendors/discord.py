"""Discord's Execute Webhook, as documented: `POST /api/webhooks/{id}/{token}` with JSON `content` (at most 2000
characters); `?wait=true` answers 200 with the created message, otherwise 204. Errors `{"message", "code"}`;
429 with `retry_after` in the body and Retry-After in the headers."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.vendors.loopback import Double, Reply


def refused(status: int, code: int, message: str, **extra: Any) -> Reply:
    return Reply(status, {"message": message, "code": code, **extra})


def rate_limited(retry_after: float) -> Reply:
    return Reply(429, {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
                 {"Retry-After": str(math.ceil(retry_after)), "X-RateLimit-Scope": "shared"})


class Discord(Double):
    def __init__(self, hooks: dict[str, str]):
        super().__init__([Route("/api/webhooks/{hook}/{token}", self._execute, methods=["POST"])])
        self.hooks = hooks  # webhook id -> token
        self.ids: list[str] = []
        self._snowflake = 1_180_000_000_000_000_000

    async def _execute(self, request: Request) -> Response:
        raw = await request.body()
        hook, token = request.path_params["hook"], request.path_params["token"]
        if hook not in self.hooks:
            return refused(404, 10015, "Unknown Webhook").response()
        if self.hooks[hook] != token:
            return refused(401, 50027, "Invalid Webhook Token").response()
        body: dict[str, Any] = {}
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = json.loads(raw)
            except ValueError:
                return refused(400, 50109, "The request body contains invalid JSON.").response()
        self.record(request, raw, body)
        text = body.get("content") or ""
        if not text and not body.get("embeds"):
            return refused(400, 50006, "Cannot send an empty message").response()
        if len(text) > 2000:
            return refused(400, 50035, "Invalid Form Body", errors={"content": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}).response()
        reply = await self.scripted(request.url.path)
        if reply is not None:
            return reply.response()
        if request.query_params.get("wait") != "true":
            return Reply(204).response()
        self._snowflake += 4194304
        self.ids.append(str(self._snowflake))
        return Reply(200, {"id": str(self._snowflake), "type": 0, "content": text, "channel_id": "1180000000000000001",
                           "webhook_id": hook, "author": {"id": hook, "username": "Herald", "bot": True}}).response()
