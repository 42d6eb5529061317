"""Firebase Cloud Messaging, HTTP v1: one push per send to a device's registration token.

`POST {base_url}/v1/projects/{project_id}/messages:send` with a Bearer access token. The token comes from the
service account: a JWT assertion signed (RS256) with its private key, exchanged at its `token_uri` (RFC 7523),
and kept until shortly before it expires. FCM answers 200 `{"name": "projects/…/messages/…"}`, or a Google API
error `{"error": {"code", "message", "status", "details": [{"errorCode"}]}}` whose FCM error code says why.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from google.auth import crypt
from google.auth import jwt as google_jwt
from pydantic import BaseModel, ConfigDict, Field, field_validator

from providers import vendor_http
from providers.base import AddressGone, OutgoingMessage, PermanentDeliveryError, Provider, ProviderReceipt
from providers.egress import Allowlist
from providers.http_gateway import Answer, request

CHANNELS = ("push",)
SECRETS = ("service_account_json",)
DEFAULT_BASE_URL = "https://fcm.googleapis.com"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# Google issues access tokens for an hour; one is replaced this long before it ends, so none expires in flight.
TOKEN_MARGIN_S = 300.0
ASSERTION_LIFETIME_S = 3600

# FCM error codes (and, when there is none, API statuses) that pass with time; every other one will not:
# UNREGISTERED and INVALID_ARGUMENT (the token or the message must change), SENDER_ID_MISMATCH,
# THIRD_PARTY_AUTH_ERROR, PERMISSION_DENIED and UNAUTHENTICATED (the credentials must change).
TRANSIENT_CODES = frozenset({"UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED"})
# Of those that will not, the ones that say the registration token itself is dead: the app was uninstalled or
# its token expired (UNREGISTERED). INVALID_ARGUMENT says so only when its message names the registration token
# (it also answers a message FCM cannot take), and a token that is not FCM's may be another platform's.
GONE_CODE = "UNREGISTERED"
BAD_TOKEN_MESSAGE = "registration token"


class ServiceAccount(BaseModel):
    """The fields of a service account key file that the token exchange uses."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(pattern=r"^service_account$")
    client_email: str = Field(min_length=1)
    private_key: str = Field(min_length=1)
    private_key_id: str | None = None
    token_uri: vendor_http.HttpUrl = DEFAULT_TOKEN_URI


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    # A Google Cloud project id, maybe prefixed by its organisation's domain (`example.com:project`).
    project_id: str = Field(pattern=r"^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    # The key file's JSON as a string, as Google's console downloads it.
    service_account_json: str = Field(min_length=2)
    base_url: vendor_http.BaseUrl = DEFAULT_BASE_URL

    @field_validator("service_account_json")
    @classmethod
    def _a_service_account(cls, value: str) -> str:
        account(value)
        return value


def account(service_account_json: str) -> tuple[ServiceAccount, crypt.Signer]:
    """The service account and a signer of its key; ValueError (naming no secret) when either is not one."""
    try:
        info = json.loads(service_account_json)
    except ValueError:
        raise ValueError("must be a service account key file's JSON") from None
    if not isinstance(info, dict):
        raise ValueError("must be a service account key file's JSON object")
    parsed = ServiceAccount.model_validate(info)
    try:
        signer = crypt.RSASigner.from_service_account_info(info)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        raise ValueError("its private_key is not an RSA private key in PEM form") from None
    return parsed, signer


class AccessTokens:
    """The OAuth2 access token of one service account: fetched when first needed, kept until TOKEN_MARGIN_S
    before it expires, and shared by concurrent sends (one exchange at a time)."""

    def __init__(self, name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
                 allow: Allowlist, clock: Callable[[], float] = time.monotonic):
        self._name = name
        self._account, self._signer = account(config.service_account_json)
        self._client = client
        self._deadline_s = deadline_s
        self._allow = vendor_http.vetting(self._account.token_uri, DEFAULT_TOKEN_URI, allow)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    async def get(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token, lifetime = await self._exchange()
                self._renew_at = self._clock() + max(0.0, lifetime - TOKEN_MARGIN_S)
            return self._token

    def forget(self, token: str) -> None:
        """A token FCM refused is not used again: the next send asks for a new one."""
        if self._token == token:
            self._token = None

    async def _exchange(self) -> tuple[str, float]:
        now = int(time.time())
        claims = {"iss": self._account.client_email, "scope": SCOPE, "aud": self._account.token_uri,
                  "iat": now, "exp": now + ASSERTION_LIFETIME_S}
        assertion = google_jwt.encode(self._signer, claims).decode()  # type: ignore[no-untyped-call]
        fields = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        answer = await request(self._client, "POST", self._account.token_uri, name=self._name,
                               content=vendor_http.form(fields),
                               headers={"Content-Type": "application/x-www-form-urlencoded",
                                        "Accept": "application/json"},
                               allow=self._allow, deadline_s=self._deadline_s)
        data = vendor_http.json_of(answer)
        if answer.status == 200 and isinstance(data, dict) and isinstance(data.get("access_token"), str):
            expires_in = data.get("expires_in")
            lifetime = float(expires_in) if isinstance(expires_in, int | float) else float(ASSERTION_LIFETIME_S)
            return data["access_token"], lifetime
        detail = "the token endpoint: " + _oauth_detail(answer, data)
        overload = vendor_http.overload(self._name, answer, detail)
        # invalid_grant, invalid_client, unauthorized_client: a key that was deleted or an account disabled.
        raise overload or PermanentDeliveryError(f"{self._name}: HTTP {answer.status} {detail}")


class FcmProvider:
    def __init__(self, name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
                 allow: Allowlist):
        self.name = name
        self._client = client
        self._deadline_s = deadline_s
        self._allow = vendor_http.vetting(config.base_url, DEFAULT_BASE_URL, allow)
        self._url = f"{config.base_url}/v1/projects/{config.project_id}/messages:send"
        self.tokens = AccessTokens(name, config, client, deadline_s=deadline_s, allow=allow)

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        if not message.address.strip():
            raise PermanentDeliveryError(f"{self.name}: the address is not a registration token")
        payload = {"message": {"token": message.address,
                               "notification": {"title": message.subject, "body": message.body},
                               "data": {"notification_id": message.notification_id}}}
        answer = await self._post(payload)
        if answer.status == 401:
            # The access token was revoked or expired early: FCM sent nothing, so one more try with a new
            # token cannot send the push twice. A second 401 means the credentials themselves are refused.
            answer = await self._post(payload)
        data = vendor_http.json_of(answer)
        if 200 <= answer.status < 300:
            # Accepted: even a body that cannot be read must not make the push go twice.
            sent = data.get("name") if isinstance(data, dict) else None
            return ProviderReceipt(self.name, sent if isinstance(sent, str) else message.delivery_key)
        code, detail = _error(data)
        if code == GONE_CODE:
            raise AddressGone(f"{self.name}: HTTP {answer.status} {detail}", reason="unregistered")
        if code == "INVALID_ARGUMENT" and answer.status == 400 and BAD_TOKEN_MESSAGE in detail.lower():
            raise AddressGone(f"{self.name}: HTTP {answer.status} {detail}", reason="invalid_token",
                              maybe_foreign=True)
        raise vendor_http.refusal(self.name, answer, detail, transient=code in TRANSIENT_CODES)

    async def _post(self, payload: dict[str, Any]) -> Answer:
        """One send with the current access token; a token FCM refuses (401) is not used again."""
        token = await self.tokens.get()
        answer = await request(self._client, "POST", self._url, name=self.name, content=vendor_http.as_json(payload),
                               headers={"Authorization": f"Bearer {token}",
                                        "Content-Type": "application/json; charset=utf-8"},
                               allow=self._allow, deadline_s=self._deadline_s)
        if answer.status == 401:
            self.tokens.forget(token)
        return answer


def _error(data: Any) -> tuple[str, str]:
    """The FCM error code (the API status when there is none) and a short masked description."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return "", "without an error body"
    code = str(error.get("status", ""))
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and isinstance(detail.get("errorCode"), str):
            code = detail["errorCode"]
    return code, f"{code}: {vendor_http.said(error.get('message', ''))}"


def _oauth_detail(answer: Answer, data: Any) -> str:
    if isinstance(data, dict) and "error" in data:
        return f"{vendor_http.said(data['error'], 60)}: {vendor_http.said(data.get('error_description', ''))}"
    return vendor_http.said(answer.body.decode(errors="replace"))


def build(name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
          status_callback: str | None = None, allow: Allowlist = vendor_http.PUBLIC_ONLY) -> Provider:
    return FcmProvider(name, config, client, deadline_s=deadline_s, allow=allow)
