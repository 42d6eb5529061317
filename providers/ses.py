"""Email through Amazon SES, API v2 `SendEmail`: `POST {base_url}/v2/email/outbound-emails`, JSON, signed with
AWS Signature Version 4 (see `Signer`; the request itself is the one bounded exchange every adapter uses).

SES answers 200 `{"MessageId": ...}`, the receipt. An error names its type in `x-amzn-ErrorType` (or the body's
`__type`): `TooManyRequestsException` (429, the sending rate), `ThrottlingException` (the daily quota),
`LimitExceededException` and every 5xx are transient; `MessageRejected`, `MailFromDomainNotVerifiedException`,
`AccountSuspendedException`, `SendingPausedException`, `NotFoundException` (an unknown configuration set),
`BadRequestException` and the signature and access errors (403) are permanent. SendEmail has no idempotency
token: the delivery key travels as a header of the email.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from pydantic import BaseModel, ConfigDict, Field

from providers.base import DeliveryError, OutgoingMessage, Provider, ProviderReceipt, TransientDeliveryError
from providers.egress import Allowlist
from providers.http_gateway import Answer, request, retry_after_seconds
from providers.vendor_email import DELIVERY_KEY_HEADER, Secret, Sender, Text, accepted, by_status, text_and_html, words
from providers.vendor_http import PUBLIC_ONLY, BaseUrl, vetting

CHANNELS = ("email",)
SECRETS = ("secret_access_key",)
PATH = "/v2/email/outbound-emails"
ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "ses"
TIMESTAMP = "%Y%m%dT%H%M%SZ"  # SigV4's basic ISO 8601, always UTC
# Stands for the X-Amz-Date header's value while botocore writes the canonical request: without blanks, which
# botocore would squeeze. x-amz-date sorts after every other signed header, so its value is the last occurrence.
_DATE_SLOT = "{x-amz-date}"
# Error types a later attempt can get past, whatever their HTTP status.
_TRANSIENT_TYPES = {"TooManyRequestsException", "ThrottlingException", "Throttling", "LimitExceededException"}

# It becomes part of the endpoint's host name: letters, digits and dashes only (us-east-1, eu-central-2).
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$")]


def default_endpoint(region: str) -> str:
    return f"https://email.{region}.amazonaws.com"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    region: Region
    access_key_id: Secret
    secret_access_key: Secret
    sender: Sender = Field(alias="from")
    # Where SES publishes this email's events (deliveries, bounces, complaints) for Herald's feedback.
    configuration_set: Text | None = None
    # The SNS topic(s) that configuration set publishes to: the only ones whose feedback Herald accepts.
    topic_arn: Text | list[Text] | None = None
    # Absent: the region's own endpoint, https://email.{region}.amazonaws.com.
    base_url: BaseUrl | None = None

    @property
    def endpoint(self) -> str:
        return self.base_url or default_endpoint(self.region)


def payload(message: OutgoingMessage, config: Config) -> dict[str, Any]:
    text, html = text_and_html(message)
    body: dict[str, Any] = {"Text": {"Data": text, "Charset": "UTF-8"}}
    if html:
        body["Html"] = {"Data": html, "Charset": "UTF-8"}
    request: dict[str, Any] = {
        "FromEmailAddress": config.sender,
        "Destination": {"ToAddresses": [message.address]},
        "Content": {"Simple": {"Subject": {"Data": message.subject, "Charset": "UTF-8"}, "Body": body,
                               "Headers": [{"Name": DELIVERY_KEY_HEADER, "Value": message.delivery_key}]}},
    }
    if config.configuration_set:
        request["ConfigurationSetName"] = config.configuration_set
    return request


@dataclass(frozen=True)
class _Day:
    """What a signature shares with every other of the same UTC day: the scope and the key derived for it."""

    date: str  # YYYYMMDD
    scope: str  # date/region/service/aws4_request
    key: bytes
    authorization: str  # the Authorization header up to its signature


class Signer:
    """AWS Signature Version 4 for the one request this adapter makes: a POST of JSON to one URL. What
    botocore's `SigV4Auth.add_auth` puts on that request, header for header, at a fraction of its cost per
    attempt, which otherwise goes to building botocore's request and header objects and deriving the key anew.

    botocore writes the canonical request once per provider (normalised path, host, signed headers), with the
    date and the body's hash left open, and the credential scope once per UTC day, when the day's signing key is
    derived (SigV4's chain of four HMACs); an attempt then costs two SHA-256 and one HMAC. Each attempt is
    signed afresh: a signature is valid for five minutes from its `X-Amz-Date`."""

    def __init__(self, access_key_id: str, secret_access_key: str, region: str, url: str):
        self._credentials = Credentials(access_key_id, secret_access_key)
        self._auth = SigV4Auth(self._credentials, SERVICE, region)
        self._region = region
        self._url = url
        template = self._request(b"", {"X-Amz-Date": _DATE_SLOT})
        # The canonical request's last line is the body's hash; the date is the one slot before it.
        head = self._auth.canonical_request(template).rpartition("\n")[0]
        self._before, _, self._after = head.rpartition(_DATE_SLOT)
        self._signed_headers = self._auth.signed_headers(self._auth.headers_to_sign(template))
        self._day = _Day("", "", b"", "")

    def _request(self, body: bytes, extra: dict[str, str] | None = None) -> AWSRequest:
        return AWSRequest(method="POST", url=self._url, data=body,
                          headers={"Content-Type": "application/json", **(extra or {})})

    def _for(self, stamp: str) -> _Day:
        day = self._day
        if day.date != stamp[:8]:
            request = self._request(b"")
            request.context["timestamp"] = stamp
            key = f"AWS4{self._credentials.secret_key}".encode()
            for part in (stamp[:8], self._region, SERVICE, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            day = _Day(stamp[:8], self._auth.credential_scope(request), key,
                       f"{ALGORITHM} Credential={self._auth.scope(request)}, "
                       f"SignedHeaders={self._signed_headers}, Signature=")
            # One assignment: concurrent sends see the old day or the new one, never half of each.
            self._day = day
        return day

    def headers(self, body: bytes, now: datetime | None = None) -> dict[str, str]:
        """The headers of the signed request carrying `body`, signed at `now` (default: the current time)."""
        stamp = (now or datetime.now(UTC)).strftime(TIMESTAMP)
        day = self._for(stamp)
        canonical = f"{self._before}{stamp}{self._after}\n{hashlib.sha256(body).hexdigest()}"
        to_sign = f"{ALGORITHM}\n{stamp}\n{day.scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(day.key, to_sign.encode(), hashlib.sha256).hexdigest()
        return {"Content-Type": "application/json", "X-Amz-Date": stamp, "Authorization": day.authorization + signature}


def error_type(answer: Answer) -> tuple[str | None, str | None]:
    """The error's type and message, as the rest-json protocol carries them: the type in `x-amzn-ErrorType`
    (`Type:extra`) or the body's `__type` / `code` (`namespace#Type`), the message in `message` / `Message`."""
    data: Any = None
    try:
        data = answer.json()
    except ValueError:
        pass
    if not isinstance(data, dict):
        data = {}
    raw = answer.headers.get("x-amzn-errortype") or data.get("__type") or data.get("code")
    kind = str(raw).split(":")[0].rpartition("#")[2] if raw else None
    message = data.get("message") or data.get("Message")
    return kind, str(message) if message is not None else None


def failure(name: str, answer: Answer) -> DeliveryError:
    """The error an unsuccessful answer of SendEmail becomes."""
    kind, text = error_type(answer)
    reason = f"{kind}: {text}" if kind else None
    if kind in _TRANSIENT_TYPES:
        return TransientDeliveryError(f"{name}: HTTP {answer.status} {words(answer, reason)}",
                                      retry_after_s=retry_after_seconds(answer.headers.get("retry-after")))
    return by_status(name, answer, reason)


class SesProvider:
    def __init__(self, name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
                 allow: Allowlist):
        self.name = name
        self._config = config
        self._client = client
        self._deadline_s = deadline_s
        self._allow = vetting(config.endpoint, default_endpoint(config.region), allow)
        self._url = f"{config.endpoint}{PATH}"
        self._signer = Signer(config.access_key_id, config.secret_access_key, config.region, self._url)

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        body = json.dumps(payload(message, self._config), separators=(",", ":")).encode()
        answer = await request(self._client, "POST", self._url, name=self.name, content=body,
                               headers=self._signer.headers(body), allow=self._allow,
                               deadline_s=self._deadline_s)
        if accepted(self.name, answer):
            try:
                message_id = str(answer.json()["MessageId"])
            except (ValueError, KeyError, TypeError):
                message_id = message.delivery_key
            return ProviderReceipt(provider=self.name, provider_message_id=message_id)
        raise failure(self.name, answer)


def build(name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
          allow: Allowlist = PUBLIC_ONLY) -> Provider:
    """`allow`: the egress exceptions (HERALD_WEBHOOK_ALLOWED_HOSTS) a `base_url` other than the region's
    endpoint may use."""
    return SesProvider(name, config, client, deadline_s=deadline_s, allow=allow)
