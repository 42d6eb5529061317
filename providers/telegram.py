"""Telegram Bot API: `sendMessage` to a chat; the address is the chat id (or a channel's `@username`).

`POST {base_url}/bot{bot_token}/sendMessage`, JSON. Every answer is `{"ok": ...}`: the sent message as
`result`, or `error_code` and `description`, with `parameters.retry_after` (seconds) on 429 and
`parameters.migrate_to_chat_id` when a group became a supergroup.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from providers import vendor_http
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, ProviderReceipt, TransientDeliveryError
from providers.egress import Allowlist
from providers.http_gateway import request

CHANNELS = ("chat",)
SECRETS = ("bot_token",)
DEFAULT_BASE_URL = "https://api.telegram.org"
MAX_TEXT = 4096
_CHAT_ID = re.compile(r"^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bot_token: str = Field(pattern=r"^\d+:[A-Za-z0-9_-]{30,}$")
    base_url: vendor_http.BaseUrl = DEFAULT_BASE_URL


def _utf16_length(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def payload(chat_id: int | str, message: OutgoingMessage) -> dict[str, Any]:
    """Plain text (no parse mode: rendered data cannot break the markup), the subject made bold by an entity."""
    if not message.subject:
        return {"chat_id": chat_id, "text": message.body}
    return {"chat_id": chat_id, "text": f"{message.subject}\n{message.body}",
            "entities": [{"type": "bold", "offset": 0, "length": _utf16_length(message.subject)}]}


class TelegramProvider:
    def __init__(self, name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
                 allow: Allowlist):
        self.name = name
        self._url = f"{config.base_url}/bot{config.bot_token}/sendMessage"
        self._client = client
        self._deadline_s = deadline_s
        self._allow = vendor_http.vetting(config.base_url, DEFAULT_BASE_URL, allow)

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        address = message.address.strip()
        if not _CHAT_ID.match(address):
            raise PermanentDeliveryError(f"{self.name}: the address is not a chat id or a channel's @username")
        chat_id: int | str = address if address.startswith("@") else int(address)
        body = payload(chat_id, message)
        if _utf16_length(body["text"]) > MAX_TEXT:
            raise PermanentDeliveryError(f"{self.name}: the message is longer than Telegram's {MAX_TEXT} characters")
        answer = await request(self._client, "POST", self._url, name=self.name, content=vendor_http.as_json(body),
                               headers={"Content-Type": "application/json"}, allow=self._allow,
                               deadline_s=self._deadline_s)
        data: Any = vendor_http.json_of(answer)
        if isinstance(data, dict) and data.get("ok") is True and isinstance(data.get("result"), dict):
            return ProviderReceipt(self.name, f"{address}:{data['result'].get('message_id')}")
        description = vendor_http.said(data.get("description", "")) if isinstance(data, dict) else "no JSON answer"
        parameters = data.get("parameters") if isinstance(data, dict) else None
        parameters = parameters if isinstance(parameters, dict) else {}
        overload = vendor_http.overload(self.name, answer, description)
        if overload is not None:
            retry_after = parameters.get("retry_after")
            if isinstance(retry_after, int | float):
                raise TransientDeliveryError(overload.message, retry_after_s=float(retry_after))
            raise overload
        if "migrate_to_chat_id" in parameters:
            raise PermanentDeliveryError(f"{self.name}: the group is now the supergroup "
                                         f"{parameters['migrate_to_chat_id']}: update the address")
        # 400 (chat not found, message too long), 401 (a wrong token), 403 (the bot was blocked or removed).
        raise PermanentDeliveryError(f"{self.name}: HTTP {answer.status} {description}")


def build(name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
          status_callback: str | None = None, allow: Allowlist = vendor_http.PUBLIC_ONLY) -> Provider:
    return TelegramProvider(name, config, client, deadline_s=deadline_s, allow=allow)
