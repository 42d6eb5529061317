"""Twilio Programmable Messaging: one SMS per send, through the Messages resource.

`POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`, form-encoded, HTTP Basic auth with the
account SID and auth token. Twilio answers 201 with the message resource (`sid`), or an error
`{"code", "message", "more_info", "status"}` whose code says what went wrong.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from providers import vendor_http
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, ProviderReceipt, TransientDeliveryError
from providers.egress import Allowlist
from providers.http_gateway import request
from providers.phone import e164

CHANNELS = ("sms",)
SECRETS = ("auth_token",)
DEFAULT_BASE_URL = "https://api.twilio.com"

# Error codes that an HTTP 4xx carries but that pass with time: Twilio's own rate limits and queue overflows.
TRANSIENT_CODES = frozenset({
    20429,  # too many requests
    14107,  # SMS send rate limit exceeded
    30001,  # queue overflow
})


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: str = Field(min_length=1)
    from_: str | None = Field(default=None, alias="from", min_length=1)
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    base_url: vendor_http.BaseUrl = DEFAULT_BASE_URL

    @model_validator(mode="after")
    def _a_sender(self) -> Config:
        if self.from_ is None and self.messaging_service_sid is None:
            raise ValueError("one of `from` or `messaging_service_sid` is required")
        return self


class TwilioProvider:
    def __init__(self, name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
                 status_callback: str | None, allow: Allowlist):
        self.name = name
        self._config = config
        self._client = client
        self._deadline_s = deadline_s
        self._status_callback = status_callback
        self._allow = vendor_http.vetting(config.base_url, DEFAULT_BASE_URL, allow)
        self._url = f"{config.base_url}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
        credentials = f"{config.account_sid}:{config.auth_token}".encode()
        self._authorization = "Basic " + base64.b64encode(credentials).decode()

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        fields = {"To": e164(self.name, message.address), "Body": message.body}
        if self._config.messaging_service_sid is not None:
            fields["MessagingServiceSid"] = self._config.messaging_service_sid
        if self._config.from_ is not None:
            fields["From"] = self._config.from_
        if self._status_callback is not None:
            fields["StatusCallback"] = self._status_callback
        answer = await request(self._client, "POST", self._url, name=self.name, content=vendor_http.form(fields),
                               headers={"Authorization": self._authorization, "Accept": "application/json",
                                        "Content-Type": "application/x-www-form-urlencoded"},
                               allow=self._allow, deadline_s=self._deadline_s)
        data = vendor_http.json_of(answer)
        if 200 <= answer.status < 300:
            # Accepted: even a body that cannot be read must not make the message go twice.
            sid = data.get("sid") if isinstance(data, dict) else None
            return ProviderReceipt(self.name, sid if isinstance(sid, str) else message.delivery_key)
        detail = _detail(data)
        overload = vendor_http.overload(self.name, answer, detail)
        if overload is not None:
            raise overload
        if isinstance(data, dict) and data.get("code") in TRANSIENT_CODES:
            raise TransientDeliveryError(f"{self.name}: HTTP {answer.status} {detail}")
        # Every other 4xx: a bad or unreachable number (21211, 21614), an opted-out recipient (21610), a sender
        # the account may not use (21606), bad credentials (20003), a region not enabled (21408).
        raise PermanentDeliveryError(f"{self.name}: HTTP {answer.status} {detail}")


def _detail(data: Any) -> str:
    if isinstance(data, dict):
        return f"error {data.get('code')}: {vendor_http.said(data.get('message', ''))}"
    return "without an error body"


def build(name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
          status_callback: str | None = None, allow: Allowlist = vendor_http.PUBLIC_ONLY) -> Provider:
    return TwilioProvider(name, config, client, deadline_s=deadline_s, status_callback=status_callback,
                          allow=allow)
