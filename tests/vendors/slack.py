"""Slack, as documented: incoming webhooks (`POST /services/T…/B…/…`, JSON with `text`; 200 `ok` or an HTTP
error with a plain-text code) and the Web API's `POST /api/chat.postMessage` (Bearer token, JSON with `channel`
and `text`; 200 with `{"ok": false, "error"}` for failures, 429 with Retry-After when rate limited)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.vendors.loopback import Double, Reply


def failed(error: str, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"ok": False, "error": error}, headers or {})


class Slack(Double):
    def __init__(self, hooks: set[str], tokens: set[str], channels: set[str]):
        super().__init__([Route("/services/{team}/{bot}/{secret}", self._webhook, methods=["POST"]),
                          Route("/api/chat.postMessage", self._post_message, methods=["POST"])])
        self.hooks = hooks  # webhook paths that exist
        self.tokens = tokens
        self.channels = channels
        self._ts = 1_700_000_000

    async def _webhook(self, request: Request) -> Response:
        raw = await request.body()
        if request.url.path not in self.hooks:
            return Reply(404, "no_service").response()
        body = _json(request, raw)
        self.record(request, raw, body or {})
        if body is None:
            return Reply(400, "invalid_payload").response()
        if not body.get("text") and not body.get("blocks"):
            return Reply(400, "no_text").response()
        reply = await self.scripted(request.url.path)
        return (reply or Reply(200, "ok")).response()

    async def _post_message(self, request: Request) -> Response:
        raw = await request.body()
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return failed("not_authed").response()
        if token not in self.tokens:
            return failed("invalid_auth").response()
        body = _json(request, raw)
        self.record(request, raw, body or {})
        if body is None:
            return failed("invalid_arguments").response()
        channel = body.get("channel")
        if not channel:
            return failed("channel_not_found").response()
        if not body.get("text") and not body.get("blocks"):
            return failed("no_text").response()
        reply = await self.scripted(channel)
        if reply is not None:
            return reply.response()
        if channel not in self.channels:
            return failed("channel_not_found").response()
        self._ts += 1
        ts = f"{self._ts}.000100"
        return Reply(200, {"ok": True, "channel": channel, "ts": ts,
                           "message": {"type": "message", "text": body.get("text"), "ts": ts}}).response()


def _json(request: Request, raw: bytes) -> dict[str, Any] | None:
    if not request.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
