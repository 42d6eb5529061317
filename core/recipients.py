"""Where each channel delivers: an explicit `to` address wins, else the user's contact field."""

from __future__ import annotations

from typing import Any

# The user field that holds each channel's address; in_app delivers to the user's own inbox.
USER_ADDRESS_FIELD = {
    "email": "email",
    "sms": "phone",
    "push": "push_token",
    "webhook": "webhook_url",
    "in_app": "id",
    "chat": "chat_address",
}


def resolve_addresses(channels: list[str], to: dict[str, str],
                      user: dict[str, Any] | None) -> tuple[dict[str, str], list[str]]:
    """Returns (channel -> address, channels with no address)."""
    addresses: dict[str, str] = {}
    missing: list[str] = []
    for channel in channels:
        address = to.get(channel)
        field = USER_ADDRESS_FIELD.get(channel)
        if address is None and user is not None and field is not None:
            address = user.get(field)
        if address:
            addresses[channel] = str(address)
        else:
            missing.append(channel)
    return addresses, missing
