"""What the email vendor adapters (SendGrid, Mailgun, Postmark, SES) share: the checks on their `config`
fields, the one bounded exchange with the vendor, and the classification every one of them agrees on.

An HTTP answer is classified by its status first: 429 is transient (with the vendor's retry hint), 408 and 5xx
are transient, any other 4xx is permanent (a bad address, a bad key, content the vendor refuses). Each adapter
refines this where its vendor's documentation says otherwise (SES throttling comes as a 400, Postmark's
maintenance code as a 422).
"""

from __future__ import annotations

from email.utils import getaddresses, parseaddr
from typing import Annotated
from urllib.parse import urlsplit

import httpx
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field

from core import pii
from providers.base import DeliveryError, OutgoingMessage, PermanentDeliveryError, TransientDeliveryError
from providers.egress import Allowlist
from providers.http_gateway import MAX_RESPONSE_BYTES, Answer, request, retry_after_seconds

# Every vendor copies custom headers into the email it sends: a receiver, or a vendor's own event, can name
# the delivery, which is the same on every attempt of it.
DELIVERY_KEY_HEADER = "X-Herald-Delivery-Key"
# The egress rules with no exceptions: only public addresses.
PUBLIC_ONLY = Allowlist(frozenset(), ())


def _sender(value: str) -> str:
    value = value.strip()
    # One address, on one line: a list or a line break would reach the vendor as more than a sender.
    if any(ord(c) < 32 or ord(c) == 127 for c in value) or len(getaddresses([value])) != 1:
        raise ValueError("must be one email address, alone or as 'Name <sender@example.com>'")
    _, address = parseaddr(value)
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"must be an email address, alone or as 'Name <sender@example.com>': {exc}") from None
    return value


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
            or parts.username is not None:
        raise ValueError("must be an http(s) URL without credentials, query or fragment, "
                         "such as https://api.example.com")
    return value.rstrip("/")


Sender = Annotated[str, AfterValidator(_sender)]
BaseUrl = Annotated[str, AfterValidator(_base_url)]
# Keys and tokens: never empty, never with surrounding blanks (a pasted key with a newline is a typo, not a key).
Secret = Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
Text = Annotated[str, Field(min_length=1)]


def egress(base_url: str, default: str, allow: Allowlist) -> Allowlist | None:
    """The rules a request to `base_url` passes: the vendor's own endpoint is trusted as shipped; any other base
    URL (a regional endpoint, a proxy, a test double) is vetted like a webhook URL."""
    return None if base_url == default else allow


async def post(client: httpx.AsyncClient, url: str, *, name: str, content: bytes, headers: dict[str, str],
               allow: Allowlist | None, deadline_s: float) -> Answer:
    """One bounded exchange with the vendor (see providers.http_gateway.request)."""
    return await request(client, "POST", url, name=name, content=content, headers=headers, allow=allow,
                         deadline_s=deadline_s)


def detail(name: str, answer: Answer, reason: str | None = None) -> str:
    """What a failed send says, for the timeline and the logs: the status and the vendor's words, with any
    address masked."""
    text = reason if reason is not None else answer.body[:200].decode("utf-8", errors="replace")
    return f"{name}: HTTP {answer.status} {pii.mask(text)!r}"


def by_status(name: str, answer: Answer, reason: str | None = None) -> DeliveryError:
    """The error an unsuccessful answer becomes when the vendor's body says nothing more specific."""
    text = detail(name, answer, reason)
    if answer.status in (408, 429) or answer.status >= 500:
        return TransientDeliveryError(text, retry_after_s=retry_after_seconds(answer.headers.get("retry-after")))
    return PermanentDeliveryError(text)


def accepted(name: str, answer: Answer) -> bool:
    """True for a complete 2xx answer. A 2xx whose body overflowed the cap is no answer at all: transient."""
    if not 200 <= answer.status < 300:
        return False
    if len(answer.body) > MAX_RESPONSE_BYTES:
        raise TransientDeliveryError(f"{name}: HTTP {answer.status} with a body over {MAX_RESPONSE_BYTES} bytes")
    return True


def text_and_html(message: OutgoingMessage) -> tuple[str, str | None]:
    """The text part always (vendors refuse an empty one, so a blank body becomes one space), and the HTML
    part when the template has one."""
    return message.body or " ", message.html or None
