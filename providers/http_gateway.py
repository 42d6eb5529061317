"""HTTP delivery: a user's webhook, or an SMS, push or chat gateway. Signed JSON, classified answers.

2xx is delivered; 408, 429, 5xx and network errors are transient (honouring `Retry-After`); any other 4xx is
permanent. Redirects are not followed: a gateway that moved must be reconfigured, not guessed at.

Each exchange (connecting, sending, every read of the answer) has one deadline, and the answer's body is read
as a stream of at most MAX_RESPONSE_BYTES: a receiver that trickles its answer or never ends it costs one
bounded attempt, a transient failure, never a worker's memory or a connection held open.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from providers import signing
from providers.base import OutgoingMessage, PermanentDeliveryError, ProviderReceipt, TransientDeliveryError
from providers.egress import Allowlist, vet

Payload = Callable[[OutgoingMessage], dict[str, Any]]
_TRANSIENT_STATUSES = {408, 429}
# An answer is a status and a short JSON body; more than this is not an answer, it is a receiver misbehaving.
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """A receiver's complete answer: its status, headers and (bounded) body."""

    status: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def webhook_payload(message: OutgoingMessage) -> dict[str, Any]:
    return {"type": "notification", "notification_id": message.notification_id, "user_id": message.user_id,
            "subject": message.subject, "body": message.body, "html": message.html}


def sms_payload(message: OutgoingMessage) -> dict[str, Any]:
    return {"to": message.address, "text": message.body, "notification_id": message.notification_id}


def push_payload(message: OutgoingMessage) -> dict[str, Any]:
    return {"token": message.address, "title": message.subject, "body": message.body,
            "notification_id": message.notification_id}


def chat_payload(message: OutgoingMessage) -> dict[str, Any]:
    return {"to": message.address, "title": message.subject, "text": message.body,
            "notification_id": message.notification_id}


# What an operator's gateway receives for each channel it can serve: one body shape per channel, whether the
# gateway is configured by environment (HERALD_<CHANNEL>_WEBHOOK_URL) or as an `http_gateway` integration.
GATEWAY_PAYLOADS: dict[str, Payload] = {"sms": sms_payload, "push": push_payload, "chat": chat_payload}


def gateway_payload(message: OutgoingMessage) -> dict[str, Any]:
    """The body for the message's own channel: an `http_gateway` integration may serve any of them."""
    return GATEWAY_PAYLOADS[message.channel](message)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HttpGatewayProvider:
    """Posts one signed JSON request per attempt. `url=None` sends to the message's address (webhooks)."""

    def __init__(self, name: str, client: httpx.AsyncClient, secret: str, payload: Payload,
                 url: str | None = None, allow: Allowlist | None = None, timeout_s: float = 10.0):
        self.name = name
        self._timeout_s = timeout_s
        self._client = client
        self._secret = secret
        self._payload = payload
        self._url = url
        # Only addresses that users supply are vetted; an operator's gateway URL is trusted as configured.
        self._allow = allow

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        # The webhook id is the delivery's, not the attempt's: receivers deduplicate on it.
        answer = await post_signed(self._client, name=self.name, url=self._url or message.address,
                                   secret=self._secret, webhook_id=message.delivery_key,
                                   payload=self._payload(message), allow=self._allow, deadline_s=self._timeout_s)
        return ProviderReceipt(provider=self.name, provider_message_id=_message_id(answer, message))


async def request(client: httpx.AsyncClient, method: str, url: str, *, name: str, content: bytes,
                  headers: dict[str, str], allow: Allowlist | None, deadline_s: float) -> Answer:
    """One exchange with a receiver or a vendor, bounded: returns its complete answer, whatever its status
    (the caller classifies it), or raises TransientDeliveryError (network, no complete answer within
    `deadline_s`) or PermanentDeliveryError (a URL that cannot be requested).
    `allow` set: the URL is a user's, vetted against the egress rules and connected to by address."""
    # Compressed answers are refused: a small compressed body can inflate past any cap in one read.
    headers = {**headers, "Accept-Encoding": "identity"}
    extensions: dict[str, Any] = {}
    try:
        async with asyncio.timeout(deadline_s):
            if allow is not None:
                target = await vet(url, allow)
                url, headers["Host"] = target.url, target.host_header
                extensions["sni_hostname"] = target.hostname
            return await _exchange(client, method, url, content, headers, extensions)
    except TimeoutError:
        raise TransientDeliveryError(f"{name}: no complete answer within {deadline_s:g} s") from None
    except httpx.InvalidURL as exc:
        raise PermanentDeliveryError(f"{name}: invalid URL: {exc}") from exc
    except httpx.HTTPError as exc:
        raise TransientDeliveryError(f"{name}: {type(exc).__name__}: {exc}") from exc


async def _exchange(client: httpx.AsyncClient, method: str, url: str, body: bytes, headers: dict[str, str],
                    extensions: dict[str, Any]) -> Answer:
    """One request, its answer's body read up to one byte past the cap (so an oversize body shows as such).
    Leaving the stream early closes the connection instead of draining the rest."""
    async with client.stream(method, url, content=body, headers=headers, extensions=extensions) as response:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                break
        return Answer(response.status_code, response.headers, b"".join(chunks)[:MAX_RESPONSE_BYTES + 1])


async def post_signed(client: httpx.AsyncClient, *, name: str, url: str, secret: str, webhook_id: str,
                      payload: dict[str, Any], allow: Allowlist | None, deadline_s: float) -> Answer:
    """Posts one Standard Webhooks request and classifies the answer: returns a 2xx answer, raises
    TransientDeliveryError (408, 429, 5xx, network, no complete answer within `deadline_s`, a 2xx body over
    MAX_RESPONSE_BYTES; with Retry-After) or PermanentDeliveryError (other 4xx).
    `allow` set: the URL is a user's, vetted against the egress rules and connected to by address."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = signing.headers(secret, webhook_id, int(time.time()), body)
    answer = await request(client, "POST", url, name=name, content=body, headers=headers, allow=allow,
                           deadline_s=deadline_s)
    status = answer.status
    if 200 <= status < 300:
        if len(answer.body) > MAX_RESPONSE_BYTES:
            raise TransientDeliveryError(f"{name}: HTTP {status} with a body over {MAX_RESPONSE_BYTES} bytes")
        return answer
    text = answer.body[:200].decode("utf-8", errors="replace")
    detail = f"{name}: HTTP {status} {text!r}"
    if status in _TRANSIENT_STATUSES or status >= 500:
        raise TransientDeliveryError(detail, retry_after_s=retry_after_seconds(answer.headers.get("retry-after")))
    raise PermanentDeliveryError(detail)


def _message_id(answer: Answer, message: OutgoingMessage) -> str:
    """The gateway's own id when its JSON answer carries one, else the delivery key."""
    try:
        data = answer.json()
    except ValueError:
        return message.delivery_key
    if isinstance(data, dict):
        for key in ("id", "message_id", "sid"):
            if isinstance(data.get(key), str | int):
                return str(data[key])
    return message.delivery_key
