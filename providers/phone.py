"""Phone numbers for SMS vendors: checked against the numbering plan and written in E.164."""

from __future__ import annotations

import phonenumbers

from providers.base import PermanentDeliveryError


def e164(name: str, address: str) -> str:
    """`address` as +<country><number>, or PermanentDeliveryError: a number that is not one will never be."""
    try:
        number = phonenumbers.parse(address, None)
    except phonenumbers.NumberParseException:
        raise PermanentDeliveryError(f"{name}: the address is not a phone number in international form") from None
    if not phonenumbers.is_valid_number(number):
        raise PermanentDeliveryError(f"{name}: the address is not a valid phone number") from None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
