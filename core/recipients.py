"""Where each channel delivers: an explicit `to` address wins, else the user's contact field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# The user field that holds each channel's address; in_app delivers to the user's own inbox.
USER_ADDRESS_FIELD = {
    "email": "email",
    "sms": "phone",
    "push": "push_token",
    "webhook": "webhook_url",
    "in_app": "id",
    "chat": "chat_address",
}


class Recipient(Protocol):
    """What delivery reads of a recipient user: a stored user (`store.users.UserRecord`), or a sample one."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def push_token(self) -> str | None: ...
    @property
    def webhook_url(self) -> str | None: ...
    @property
    def locale(self) -> str | None: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def preferences(self) -> dict[str, Any]: ...
    @property
    def chat_address(self) -> str | None: ...


@dataclass(frozen=True)
class SampleUser:
    """A recipient nobody stored: whom previews render for when no user is picked."""

    id: str
    name: str
    email: str | None = None
    phone: str | None = None
    push_token: str | None = None
    webhook_url: str | None = None
    locale: str | None = None
    timezone: str | None = None
    preferences: dict[str, Any] = field(default_factory=dict)
    chat_address: str | None = None


def resolve_addresses(channels: list[str], to: dict[str, str],
                      user: Recipient | None) -> tuple[dict[str, str], list[str]]:
    """Returns (channel -> address, channels with no address)."""
    addresses: dict[str, str] = {}
    missing: list[str] = []
    for channel in channels:
        address = to.get(channel)
        field = USER_ADDRESS_FIELD.get(channel)
        if address is None and user is not None and field is not None:
            address = getattr(user, field)
        if address:
            addresses[channel] = str(address)
        else:
            missing.append(channel)
    return addresses, missing
