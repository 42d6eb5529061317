"""Telegram's Bot API `sendMessage`, as documented: `POST /bot{token}/sendMessage` with `chat_id` and `text`
(at most 4096 characters; `entities` measured in UTF-16 code units), JSON or form-encoded. Every answer is
`{"ok": ...}`; failures carry `error_code`, `description` and, on 429, `parameters.retry_after`."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.vendors.loopback import Double, Reply


def refused(status: int, description: str, **parameters: Any) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Reply(status, body)


class Telegram(Double):
    def __init__(self, tokens: set[str], chats: set[str]):
        super().__init__([Route("/bot{token}/{method}", self._method, methods=["POST"])])
        self.tokens = tokens
        self.chats = chats  # chat ids (as text) the bot may write to
        self.sent: dict[str, list[int]] = {}

    async def _method(self, request: Request) -> Response:
        raw = await request.body()
        if request.path_params["token"] not in self.tokens:
            return refused(401, "Unauthorized").response()
        if request.path_params["method"] != "sendMessage":
            return refused(404, "Not Found").response()
        kind = request.headers.get("content-type", "")
        fields: dict[str, Any] = {}
        if kind.startswith("application/json"):
            try:
                fields = json.loads(raw)
            except ValueError:
                return refused(400, "Bad Request: can't parse JSON object").response()
        elif kind.startswith("application/x-www-form-urlencoded"):
            fields = dict(parse_qsl(raw.decode()))
        self.record(request, raw, fields)
        chat, text = str(fields.get("chat_id", "")), fields.get("text") or ""
        if not chat:
            return refused(400, "Bad Request: chat_id is empty").response()
        if not text:
            return refused(400, "Bad Request: message text is empty").response()
        units = len(text.encode("utf-16-le")) // 2
        if units > 4096:
            return refused(400, "Bad Request: message is too long").response()
        for entity in fields.get("entities") or []:
            if entity.get("offset", -1) < 0 or entity.get("offset", 0) + entity.get("length", 0) > units:
                return refused(400, "Bad Request: can't parse entities: entity beyond the end of the text"
                               ).response()
        reply = await self.scripted(chat)
        if reply is not None:
            return reply.response()
        if chat not in self.chats:
            return refused(400, "Bad Request: chat not found").response()
        sent = self.sent.setdefault(chat, [])
        sent.append(len(sent) + 1)
        return Reply(200, {"ok": True, "result": {
            "message_id": sent[-1], "date": int(time.time()), "text": text,
            "from": {"id": 7, "is_bot": True, "first_name": "Herald"},
            "chat": {"id": int(chat) if chat.lstrip("-").isdigit() else 0, "type": "private"}}}).response()
