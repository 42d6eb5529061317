"""Email over SMTP: a plain-text part, an HTML part when the template has one, a stable Message-ID.

SMTP 4xx replies and connection problems are transient; 5xx replies are permanent. The whole exchange (connect,
TLS, every command and reply) has one deadline, `timeout_s`: aiosmtplib's own timeout is per operation, so a
relay that answers each command just in time could otherwise hold an attempt for ever.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from providers.base import OutgoingMessage, PermanentDeliveryError, ProviderReceipt, TransientDeliveryError


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 10.0
    ca_file: str | None = None


def message_id(message: OutgoingMessage, sender: str) -> str:
    """Derived from the delivery, so every attempt of one email carries the same Message-ID."""
    digest = hashlib.sha256(message.delivery_key.encode()).hexdigest()[:32]
    domain = sender.rpartition("@")[2] or "herald.local"
    return f"<{digest}@{domain}>"


def build_email(message: OutgoingMessage, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.address
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = message_id(message, sender)
    email["X-Herald-Notification-Id"] = message.notification_id
    email.set_content(message.body)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email


class SmtpProvider:
    def __init__(self, name: str, config: SmtpConfig):
        self.name = name
        self._config = config

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        c = self._config
        email = build_email(message, c.sender)
        try:
            async with asyncio.timeout(c.timeout_s):
                await aiosmtplib.send(email, hostname=c.host, port=c.port, username=c.username,
                                      password=c.password, start_tls=c.starttls, timeout=c.timeout_s,
                                      cert_bundle=c.ca_file)
        except TimeoutError as exc:
            raise TransientDeliveryError(f"{self.name}: no complete exchange within {c.timeout_s:g} s") from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            error = f"{self.name}: recipient refused: {text}"
            if all(400 <= code < 500 for code in codes):
                raise TransientDeliveryError(error) from exc
            raise PermanentDeliveryError(error) from exc
        except aiosmtplib.SMTPResponseException as exc:
            error = f"{self.name}: SMTP {exc.code} {exc.message}"
            if 400 <= exc.code < 500:
                raise TransientDeliveryError(error) from exc
            raise PermanentDeliveryError(error) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        return ProviderReceipt(provider=self.name, provider_message_id=str(email["Message-ID"]))
