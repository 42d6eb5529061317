"""Vonage's SMS API, as documented: `POST /sms/json` with `api_key`, `api_secret`, `from`, `to` (E.164 without
the +) and `text`, form-encoded or JSON. HTTP 200 whatever happens, with a status per message part."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.vendors.loopback import Double, Reply

DIGITS = re.compile(r"^[1-9]\d{6,14}$")


def refused(status: str, text: str, to: str | None = None) -> Reply:
    part = {"status": status, "error-text": text, **({"to": to} if to else {})}
    return Reply(200, {"message-count": "1", "messages": [part]})


class Vonage(Double):
    def __init__(self, keys: dict[str, str]):
        super().__init__([Route("/sms/json", self._sms, methods=["POST"])])
        self.keys = keys  # api_key -> api_secret
        self.ids: dict[str, list[str]] = {}

    async def _sms(self, request: Request) -> Response:
        raw = await request.body()
        kind = request.headers.get("content-type", "")
        fields: dict[str, Any] = {}
        if kind.startswith("application/x-www-form-urlencoded"):
            fields = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        elif kind.startswith("application/json"):
            fields = json.loads(raw)
        self.record(request, raw, fields)
        for name in ("api_key", "api_secret", "from", "to", "text"):
            if not fields.get(name):
                return refused("2", f"Missing {name} param").response()
        if self.keys.get(fields["api_key"]) != fields["api_secret"]:
            return refused("4", "Bad Credentials").response()
        to = fields["to"]
        if not DIGITS.match(to):
            return refused("3", "Invalid to address", to).response()
        if fields.get("type", "text") not in ("text", "unicode", "binary"):
            return refused("3", "Invalid type param", to).response()
        if len(fields.get("client-ref", "")) > 100:
            return refused("3", "Invalid client-ref param", to).response()
        reply = await self.scripted(to)
        if reply is not None:
            return reply.response()
        message_id = uuid.uuid4().hex[:16].upper()
        self.ids.setdefault(to, []).append(message_id)
        return Reply(200, {"message-count": "1", "messages": [{
            "to": to, "message-id": message_id, "status": "0", "remaining-balance": "15.53590000",
            "message-price": "0.03330000", "network": "310260", "client-ref": fields.get("client-ref", "")}]}
        ).response()
