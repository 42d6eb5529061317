"""Apple Push Notification service: one alert per send to a device token, over HTTP/2 with a provider token.

`POST {base_url}/3/device/{device_token}` with `authorization: bearer <ES256 JWT>` (`kid` = key id, `iss` = team
id, `iat`), `apns-topic` = the app's bundle id, `apns-push-type`, `apns-priority` and an `apns-id` derived from
the delivery key, so every attempt of one delivery is the same notification to Apple. APNs answers 200 with
`apns-id`, or an HTTP error with `{"reason"}`. APNs speaks HTTP/2 only and wants its connections kept open, so
the adapter holds an HTTP/2 client of its own (closed by `aclose`) rather than the shared one `build` is given.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import uuid
from collections.abc import Callable
from typing import Literal

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from providers import vendor_http
from providers.base import AddressGone, OutgoingMessage, PermanentDeliveryError, Provider, ProviderReceipt
from providers.egress import Allowlist
from providers.http_gateway import Answer, request

CHANNELS = ("push",)
SECRETS = ("private_key",)
ENDPOINTS = {"production": "https://api.push.apple.com", "development": "https://api.sandbox.push.apple.com"}
# APNs refuses a provider token older than an hour and one replaced more often than every 20 minutes
# (TooManyProviderTokenUpdates): a token is replaced after 40 minutes, and never sooner than 20.
TOKEN_REFRESH_S = 40 * 60.0
TOKEN_MIN_AGE_S = 20 * 60.0
# The namespace of the apns-id of a delivery: the same delivery key gives the same UUID on every attempt.
APNS_ID_NAMESPACE = uuid.UUID("6f1d5a52-3c4b-4f0e-9a57-1c2d8e6b7a90")
# A device token is hex (32 bytes today, longer allowed); anything else must never reach the request path.
DEVICE_TOKEN = re.compile(r"^[0-9a-f]{64,400}$")
# Reasons that a new provider token may cure: the one sent was too old, or not (or no longer) accepted.
TOKEN_REASONS = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})

# Reasons that pass with time; every other one will not: BadDeviceToken, Unregistered, DeviceTokenNotForTopic
# (the token must change), InvalidProviderToken, MissingProviderToken, BadTopic, TopicDisallowed (the
# credentials or the config must change), PayloadTooLarge (the message must change).
TRANSIENT_REASONS = frozenset({"ExpiredProviderToken", "TooManyProviderTokenUpdates", "TooManyRequests",
                               "InternalServerError", "ServiceUnavailable", "Shutdown", "IdleTimeout"})
# Of those that will not, the ones that say the device token itself is dead, by the name the suppression gets:
# 410 Unregistered / ExpiredToken (the app is gone from the device, or its token expired). 400 BadDeviceToken
# is a token APNs does not know: dead, or made for the other environment (a sandbox token sent to production, so
# a wrong `environment` answers it for every token), or not an APNs token at all.
GONE_REASONS = {"Unregistered": "unregistered", "ExpiredToken": "expired_token"}
BAD_TOKEN_REASON = "BadDeviceToken"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    team_id: str = Field(pattern=r"^[A-Z0-9]{10}$")
    key_id: str = Field(pattern=r"^[A-Z0-9]{10}$")
    # The .p8 signing key as Apple issues it: a P-256 private key in PEM form.
    private_key: str = Field(min_length=1)
    bundle_id: str = Field(pattern=r"^[A-Za-z0-9.-]+$")
    environment: Literal["production", "development"]
    base_url: vendor_http.BaseUrl | None = None
    # The CA certificate (PEM) that `base_url`'s certificate chains to, for a proxy or a test double that
    # presents a private one; Apple's own endpoints are checked against the usual public roots.
    ca_certificate: str | None = None

    @field_validator("private_key")
    @classmethod
    def _a_p256_key(cls, value: str) -> str:
        signing_key(value)
        return value

    @field_validator("ca_certificate")
    @classmethod
    def _a_ca_certificate(cls, value: str | None) -> str | None:
        if value is not None:
            tls_context(value)
        return value

    @model_validator(mode="after")
    def _ca_for_a_base_url(self) -> Config:
        if self.ca_certificate is not None and self.base_url is None:
            raise ValueError("`ca_certificate` is for a `base_url` only")
        return self


def tls_context(ca_certificate: str | None) -> ssl.SSLContext:
    """Certificate checks against the public roots, or against `ca_certificate` alone when one is given."""
    if ca_certificate is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cadata=ca_certificate)
    except (ssl.SSLError, ValueError):
        raise ValueError("must be a CA certificate in PEM form") from None


def signing_key(pem: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 key of a .p8 file; ValueError (naming no secret) when it is not one."""
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("must be the .p8 signing key in PEM form") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("must be a P-256 (ES256) key")
    return key


class ProviderTokens:
    """The ES256 provider token: made when first needed, replaced after TOKEN_REFRESH_S, or sooner when APNs
    calls it expired, but never within TOKEN_MIN_AGE_S of the last one."""

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.monotonic):
        self._key = signing_key(config.private_key)
        self._team_id = config.team_id
        self._key_id = config.key_id
        self._clock = clock
        self._token: str | None = None
        self._made_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() - self._made_at >= TOKEN_REFRESH_S:
                self._token = jwt.encode({"iss": self._team_id, "iat": int(time.time())}, self._key,
                                         algorithm="ES256", headers={"kid": self._key_id})
                self._made_at = self._clock()
            return self._token

    def replace(self, token: str) -> bool:
        """APNs refused `token`: drop it so the next send makes a new one, unless it is younger than
        TOKEN_MIN_AGE_S (APNs would refuse a replacement that soon). True when it was dropped or already is."""
        if token != self._token:
            return True
        if self._clock() - self._made_at < TOKEN_MIN_AGE_S:
            return False
        self._token = None
        return True


def apns_id(message: OutgoingMessage) -> str:
    return str(uuid.uuid5(APNS_ID_NAMESPACE, message.delivery_key))


class ApnsProvider:
    def __init__(self, name: str, config: Config, *, deadline_s: float, allow: Allowlist,
                 clock: Callable[[], float] = time.monotonic):
        self.name = name
        self._config = config
        self._client = httpx.AsyncClient(http2=True, verify=tls_context(config.ca_certificate), timeout=deadline_s,
                                         follow_redirects=False, headers={"User-Agent": "Herald"})
        self._deadline_s = deadline_s
        default = ENDPOINTS[config.environment]
        self._base_url = config.base_url or default
        self._allow = vendor_http.vetting(self._base_url, default, allow)
        self.tokens = ProviderTokens(config, clock=clock)

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        device = message.address.strip().lower()
        if not DEVICE_TOKEN.match(device):
            raise PermanentDeliveryError(f"{self.name}: the address is not an APNs device token (hex)")
        payload = {"aps": {"alert": {"title": message.subject, "body": message.body}, "sound": "default"},
                   "notification_id": message.notification_id}
        content, sent_id = vendor_http.as_json(payload), apns_id(message)
        token = await self.tokens.get()
        answer = await self._post(device, content, sent_id, token)
        if _reason(answer) in TOKEN_REASONS and self.tokens.replace(token):
            # APNs sent nothing: one more try with a new token cannot show the alert twice (same apns-id).
            answer = await self._post(device, content, sent_id, await self.tokens.get())
        if answer.status == 200:
            return ProviderReceipt(self.name, answer.headers.get("apns-id", sent_id))
        reason = _reason(answer)
        detail = vendor_http.said(reason or "without a reason", 80)
        if answer.status == 410 and reason in GONE_REASONS:
            raise AddressGone(f"{self.name}: HTTP {answer.status} {detail}", reason=GONE_REASONS[reason])
        if answer.status == 400 and reason == BAD_TOKEN_REASON:
            raise AddressGone(f"{self.name}: HTTP {answer.status} {detail}", reason="bad_device_token",
                              maybe_foreign=True)
        raise vendor_http.refusal(self.name, answer, detail, transient=reason in TRANSIENT_REASONS)

    async def _post(self, device: str, content: bytes, sent_id: str, token: str) -> Answer:
        return await request(self._client, "POST", f"{self._base_url}/3/device/{device}", name=self.name,
                             content=content,
                             headers={"authorization": f"bearer {token}", "apns-topic": self._config.bundle_id,
                                      "apns-push-type": "alert", "apns-priority": "10", "apns-id": sent_id,
                                      "content-type": "application/json"},
                             allow=self._allow, deadline_s=self._deadline_s)

    async def aclose(self) -> None:
        await self._client.aclose()


def _reason(answer: Answer) -> str:
    data = vendor_http.json_of(answer)
    return str(data.get("reason", "")) if isinstance(data, dict) else ""


def build(name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
          status_callback: str | None = None, allow: Allowlist = vendor_http.PUBLIC_ONLY) -> Provider:
    """`client` is not used: APNs needs HTTP/2 and long-lived connections, so the adapter holds its own."""
    return ApnsProvider(name, config, deadline_s=deadline_s, allow=allow)
