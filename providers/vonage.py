"""Vonage SMS API: one SMS per send.

`POST {base_url}/sms/json`, form-encoded, the API key and secret among the fields. Vonage answers HTTP 200 for
failures too: each part of the message has a `status` ("0" accepted; any other is a documented error code)
and, when it failed, an `error-text`.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from providers import vendor_http
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, ProviderReceipt, TransientDeliveryError
from providers.egress import Allowlist
from providers.http_gateway import request
from providers.phone import e164

CHANNELS = ("sms",)
SECRETS = ("api_secret",)
DEFAULT_BASE_URL = "https://rest.nexmo.com"

# Status codes that pass with time: throttled, internal error, out of credit (an operator tops up), too many
# binds. Every other code names a request that will never succeed as it is: missing or invalid parameters (2,
# 3), bad credentials (4), an unroutable or barred number (6, 7), a barred account (8), a bad sender (15).
TRANSIENT_STATUSES = frozenset({"1", "5", "9", "10"})

# GSM 03.38: what an SMS carries in its 7-bit alphabet (the basic set and its extension). Anything else needs
# `type=unicode`, or the vendor replaces it with question marks.
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà" "^{}\\[~]|€\f")
# Vonage keeps up to 100 characters of `client-ref` and echoes it in delivery receipts.
_CLIENT_REF_MAX = 100


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    api_key: str = Field(min_length=1)
    api_secret: str = Field(min_length=1)
    from_: str = Field(alias="from", min_length=1)
    base_url: vendor_http.BaseUrl = DEFAULT_BASE_URL


class VonageProvider:
    def __init__(self, name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
                 allow: Allowlist):
        self.name = name
        self._config = config
        self._client = client
        self._deadline_s = deadline_s
        self._allow = vendor_http.vetting(config.base_url, DEFAULT_BASE_URL, allow)
        self._url = f"{config.base_url}/sms/json"

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        fields = {"api_key": self._config.api_key, "api_secret": self._config.api_secret,
                  "from": self._config.from_, "to": e164(self.name, message.address).removeprefix("+"),
                  "text": message.body, "client-ref": message.delivery_key[:_CLIENT_REF_MAX]}
        if not set(message.body) <= _GSM7:
            fields["type"] = "unicode"
        answer = await request(self._client, "POST", self._url, name=self.name, content=vendor_http.form(fields),
                               headers={"Content-Type": "application/x-www-form-urlencoded",
                                        "Accept": "application/json"},
                               allow=self._allow, deadline_s=self._deadline_s)
        data = vendor_http.json_of(answer)
        overload = vendor_http.overload(self.name, answer, vendor_http.said(answer.body.decode(errors="replace")))
        if overload is not None:
            raise overload
        parts = data.get("messages") if isinstance(data, dict) else None
        if answer.status != 200 or not isinstance(parts, list) or not parts:
            raise PermanentDeliveryError(f"{self.name}: HTTP {answer.status} without a message status")
        for part in parts:
            _check(self.name, part)
        # A long text goes as several parts, each with an id; the first names the message, and `client-ref`
        # (the delivery key) ties every part's receipt to it.
        return ProviderReceipt(self.name, str(parts[0]["message-id"]))


def _check(name: str, part: Any) -> None:
    if not isinstance(part, dict):
        raise PermanentDeliveryError(f"{name}: a message status that is not one")
    status = str(part.get("status"))
    if status == "0" and part.get("message-id"):
        return
    detail = f"{name}: status {status}: {vendor_http.said(part.get('error-text', ''))}"
    if status in TRANSIENT_STATUSES:
        raise TransientDeliveryError(detail)
    raise PermanentDeliveryError(detail)


def build(name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
          status_callback: str | None = None, allow: Allowlist = vendor_http.PUBLIC_ONLY) -> Provider:
    # Delivery receipts go to the URL set for the account in the Vonage dashboard (docs/providers.md): Herald
    # does not read Vonage's receipts yet, so `status_callback` is not sent.
    return VonageProvider(name, config, client, deadline_s=deadline_s, allow=allow)
