"""One interface for every vendor: `send(message) -> ProviderReceipt`, and one error taxonomy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    notification_id: str
    channel: str
    address: str
    subject: str
    body: str
    user_id: str | None
    # 1-based count of this channel's attempts across retries and redrives: stable input for idempotent sends
    attempt: int
    html: str | None = None

    @property
    def delivery_key(self) -> str:
        """The same on every attempt of one delivery: what a receiver deduplicates on."""
        return f"{self.notification_id}:{self.channel}"


@dataclass(frozen=True)
class ProviderReceipt:
    provider: str
    provider_message_id: str


class DeliveryError(Exception):
    def __init__(self, message: str, *, retry_after_s: float | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class TransientDeliveryError(DeliveryError):
    """The provider may accept it later: Temporal retries with backoff."""


class PermanentDeliveryError(DeliveryError):
    """The provider will never accept it: no retry, straight to the dead-letter queue."""


class AddressGone(PermanentDeliveryError):
    """The vendor says the address will never take a message again (the app was uninstalled, the device token
    expired or is not one): the delivery ends `bounced` and the address is suppressed, where any other
    permanent error waits in the dead-letter queue for a human.

    `reason` names why in a word or two (`unregistered`, `expired_token`, `bad_device_token`, `invalid_token`).
    `maybe_foreign`: the vendor says only that the address is not one of its own, which another provider of the
    channel may still take (an APNs token sent to FCM): while the channel has such a provider left, the delivery
    fails over to it as for any permanent error, and nothing is suppressed."""

    def __init__(self, message: str, *, reason: str, maybe_foreign: bool = False):
        super().__init__(message)
        self.reason = reason
        self.maybe_foreign = maybe_foreign


class Provider(Protocol):
    name: str

    async def send(self, message: OutgoingMessage) -> ProviderReceipt: ...
