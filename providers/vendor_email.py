"""What the email vendor adapters (SendGrid, Mailgun, Postmark, SES) add to providers.vendor_http: the checks
on an email `config`, the delivery-key header, the parts of an email, and the classification all four agree on.

An HTTP answer is classified by its status first: 408, 429 and 5xx are transient (with the vendor's retry hint),
any other 4xx is permanent (a bad address, a bad key, content the vendor refuses). Each adapter refines this
where its vendor's documentation says otherwise (SES throttling comes as a 400, Postmark's maintenance code as
a 422).
"""

from __future__ import annotations

from email.utils import getaddresses, parseaddr
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field

from providers.base import DeliveryError, OutgoingMessage, PermanentDeliveryError, TransientDeliveryError
from providers.http_gateway import MAX_RESPONSE_BYTES, Answer
from providers.vendor_http import overload, said

# Every vendor copies custom headers into the email it sends: a receiver, or a vendor's own event, can name
# the delivery, which is the same on every attempt of it.
DELIVERY_KEY_HEADER = "X-Herald-Delivery-Key"


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


# Config field types: a pydantic error names the field when the value is not one.
Sender = Annotated[str, AfterValidator(_sender)]
# Keys and tokens: never empty, never with blanks (a pasted key with a newline is a typo, not a key).
Secret = Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
Text = Annotated[str, Field(min_length=1)]


def words(answer: Answer, reason: str | None = None) -> str:
    """The vendor's words, quoted: its parsed error when there is one, else the start of its body; short and
    with any address masked, for they end up in timelines and logs."""
    text = reason if reason is not None else answer.body[:200].decode("utf-8", errors="replace")
    return repr(said(text))


def by_status(name: str, answer: Answer, reason: str | None = None) -> DeliveryError:
    """The error an unsuccessful answer becomes when the vendor's body says nothing more specific."""
    quoted = words(answer, reason)
    transient = overload(name, answer, quoted)
    return transient if transient is not None else PermanentDeliveryError(f"{name}: HTTP {answer.status} {quoted}")


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
