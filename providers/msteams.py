"""Microsoft Teams: a channel's webhook (a Workflows "when a Teams webhook request is received" flow, or a
legacy incoming-webhook connector), posted one Adaptive Card message per send.

A Workflows webhook answers 202 (its run id in `x-ms-workflow-run-id`), or an error
`{"error": {"code", "message"}}`: 401 for a wrong signature, 404 for a deleted flow, 429 with Retry-After when
throttled. A legacy connector answers 200 `1`, but may also answer 200 with a text that says the delivery
failed (Teams' own rate limit among them).
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from providers import vendor_http
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, ProviderReceipt, TransientDeliveryError
from providers.egress import Allowlist
from providers.http_gateway import Answer, request

CHANNELS = ("chat",)
# A webhook URL is its own credential: a Workflows URL carries its signature (`sig`) in the query.
SECRETS = ("webhook_url",)
_LEGACY_FAILURE = "Webhook message delivery failed"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_url: vendor_http.HttpUrl
    # Where the webhook's path and query are sent instead of its own host (a proxy, a test double).
    base_url: vendor_http.BaseUrl | None = None


def card(message: OutgoingMessage) -> dict[str, Any]:
    """The message as an Adaptive Card: the subject as a bold title, the body below it, both wrapped."""
    blocks: list[dict[str, Any]] = []
    if message.subject:
        blocks.append({"type": "TextBlock", "text": message.subject, "weight": "Bolder", "size": "Medium",
                       "wrap": True})
    blocks.append({"type": "TextBlock", "text": message.body, "wrap": True})
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                    "version": "1.4", "body": blocks}}]}


class TeamsProvider:
    def __init__(self, name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
                 allow: Allowlist):
        self.name = name
        self._url = vendor_http.rebase(config.webhook_url, config.base_url)
        self._client = client
        self._deadline_s = deadline_s
        self._allow = allow

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        answer = await request(self._client, "POST", self._url, name=self.name,
                               content=vendor_http.as_json(card(message)),
                               headers={"Content-Type": "application/json"}, allow=self._allow,
                               deadline_s=self._deadline_s)
        said = _said(answer)
        overload = vendor_http.overload(self.name, answer, said)
        if overload is not None:
            raise overload
        if not 200 <= answer.status < 300:
            # 400 (a card the flow cannot take), 401/403 (a wrong signature), 404 (the flow or connector is gone).
            raise PermanentDeliveryError(f"{self.name}: HTTP {answer.status} {said}")
        if said.startswith(_LEGACY_FAILURE):
            if "HTTP error 429" in said or "HTTP error 5" in said:
                raise TransientDeliveryError(f"{self.name}: {said}")
            raise PermanentDeliveryError(f"{self.name}: {said}")
        run_id = answer.headers.get("x-ms-workflow-run-id")
        # A legacy connector names no message: the delivery key does.
        return ProviderReceipt(self.name, run_id or message.delivery_key)


def _said(answer: Answer) -> str:
    data = vendor_http.json_of(answer)
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        return vendor_http.said(f"{error.get('code')}: {error.get('message', '')}")
    return vendor_http.said(answer.body.decode(errors="replace"))


def build(name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
          status_callback: str | None = None, allow: Allowlist = vendor_http.PUBLIC_ONLY) -> Provider:
    return TeamsProvider(name, config, client, deadline_s=deadline_s, allow=allow)
