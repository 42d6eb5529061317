"""Email through Amazon SES, API v2 `SendEmail`: `POST {base_url}/v2/email/outbound-emails`, JSON, signed with
AWS Signature Version 4 (botocore's signer; the request itself is the one bounded exchange every adapter uses).

SES answers 200 `{"MessageId": ...}`, the receipt. An error names its type in `x-amzn-ErrorType` (or the body's
`__type`): `TooManyRequestsException` (429, the sending rate), `ThrottlingException` (the daily quota),
`LimitExceededException` and every 5xx are transient; `MessageRejected`, `MailFromDomainNotVerifiedException`,
`AccountSuspendedException`, `SendingPausedException`, `NotFoundException` (an unknown configuration set),
`BadRequestException` and the signature and access errors (403) are permanent. SendEmail has no idempotency
token: the delivery key travels as a header of the email.
"""

from __future__ import annotations

import json
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


def signer(config: Config) -> SigV4Auth:
    """botocore's SigV4 signer for service `ses` with the config's key and region: built once per provider, it
    holds nothing that changes from one request to the next."""
    return SigV4Auth(Credentials(config.access_key_id, config.secret_access_key), "ses", config.region)


def signed_headers(sign: SigV4Auth, url: str, body: bytes) -> dict[str, str]:
    """The headers of a signed request, made fresh for each attempt: a signature is valid for five minutes
    from its `X-Amz-Date`."""
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    sign.add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


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
        self._signer = signer(config)

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        body = json.dumps(payload(message, self._config), separators=(",", ":")).encode()
        answer = await request(self._client, "POST", self._url, name=self.name, content=body,
                               headers=signed_headers(self._signer, self._url, body), allow=self._allow,
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
