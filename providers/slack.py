"""Slack: an incoming webhook (one fixed channel), or `chat.postMessage` with a bot token (the address is a
channel id).

An incoming webhook answers 200 `ok`, or an HTTP error whose plain-text body names it (`no_service`,
`channel_is_archived`, ...). The Web API answers 200 for failures too, with `{"ok": false, "error": ...}`, and
HTTP 429 with `Retry-After` when rate limited.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from providers import vendor_http
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, ProviderReceipt, TransientDeliveryError
from providers.egress import Allowlist
from providers.http_gateway import request

CHANNELS = ("chat",)
SECRETS = ("webhook_url", "bot_token")
DEFAULT_BASE_URL = "https://slack.com"

# Web API errors that pass with time; every other one (invalid_auth, channel_not_found, not_in_channel,
# is_archived, msg_too_long, ...) will not.
TRANSIENT_ERRORS = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout", "team_added_to_org"})


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_url: vendor_http.HttpUrl | None = None
    bot_token: str | None = Field(default=None, pattern=r"^xox[a-z]-\S+$")
    # The Web API's base (default https://slack.com); with a webhook, where its path is sent instead.
    base_url: vendor_http.BaseUrl | None = None

    @model_validator(mode="after")
    def _one_way_in(self) -> Config:
        if (self.webhook_url is None) == (self.bot_token is None):
            raise ValueError("exactly one of `webhook_url` or `bot_token` is required")
        return self


def text(message: OutgoingMessage) -> str:
    """The subject in bold above the body, in Slack's mrkdwn; the body as its template rendered it."""
    return f"*{message.subject}*\n{message.body}" if message.subject else message.body


class SlackProvider:
    def __init__(self, name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
                 allow: Allowlist):
        self.name = name
        self._config = config
        self._client = client
        self._deadline_s = deadline_s
        self._allow = allow

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        if self._config.webhook_url is None:
            return await self._post_message(str(self._config.bot_token), message)
        url = vendor_http.rebase(self._config.webhook_url, self._config.base_url)
        content = vendor_http.as_json({"text": text(message)})
        answer = await request(self._client, "POST", url, name=self.name, content=content,
                               headers={"Content-Type": "application/json"}, allow=self._allow,
                               deadline_s=self._deadline_s)
        said = vendor_http.said(answer.body.decode(errors="replace"))
        if 200 <= answer.status < 300:
            # A webhook names no message: the delivery key does.
            return ProviderReceipt(self.name, message.delivery_key)
        overload = vendor_http.overload(self.name, answer, said)
        # no_service, no_team, invalid_token, channel_not_found, channel_is_archived, action_prohibited,
        # invalid_payload, no_text: the webhook or the message must change first.
        raise overload or PermanentDeliveryError(f"{self.name}: HTTP {answer.status} {said}")

    async def _post_message(self, token: str, message: OutgoingMessage) -> ProviderReceipt:
        base_url = self._config.base_url or DEFAULT_BASE_URL
        url = f"{base_url}/api/chat.postMessage"
        payload = {"channel": message.address, "text": text(message)}
        answer = await request(self._client, "POST", url, name=self.name, content=vendor_http.as_json(payload),
                               headers={"Authorization": f"Bearer {token}",
                                        "Content-Type": "application/json; charset=utf-8"},
                               allow=vendor_http.vetting(base_url, DEFAULT_BASE_URL, self._allow),
                               deadline_s=self._deadline_s)
        data: Any = vendor_http.json_of(answer)
        error = str(data.get("error")) if isinstance(data, dict) else "no JSON answer"
        overload = vendor_http.overload(self.name, answer, error)
        if overload is not None:
            raise overload
        if answer.status == 200 and isinstance(data, dict) and data.get("ok") is True:
            return ProviderReceipt(self.name, f"{data.get('channel', message.address)}:{data.get('ts')}")
        detail = f"{self.name}: {vendor_http.said(error)}"
        if error in TRANSIENT_ERRORS:
            raise TransientDeliveryError(detail)
        raise PermanentDeliveryError(detail)


def build(name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
          status_callback: str | None = None, allow: Allowlist = vendor_http.PUBLIC_ONLY) -> Provider:
    return SlackProvider(name, config, client, deadline_s=deadline_s, allow=allow)
