"""The simulated provider: its address decides the outcome, so every delivery path can be shown on demand.

`ok` delivers; `fail` fails transiently every time; `flaky:N` fails the first N attempts (counted across
retries and redrives) then delivers; `reject` fails permanently; `slow:MS` delivers after MS milliseconds.
"""

from __future__ import annotations

import asyncio

from providers.base import OutgoingMessage, PermanentDeliveryError, ProviderReceipt, TransientDeliveryError


class SimAddressError(ValueError):
    pass


def parse_address(address: str) -> tuple[str, int]:
    """Splits a sim address into (mode, number); raises SimAddressError for one the API should refuse."""
    mode, _, arg = address.partition(":")
    if mode in ("ok", "fail", "reject") and not arg:
        return mode, 0
    if mode in ("flaky", "slow") and arg.isdigit():
        return mode, int(arg)
    raise SimAddressError(
        f"'{address}' is not a sim address: use ok, fail, reject, flaky:N or slow:MS"
    )


class SimProvider:
    name = "sim"

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        mode, number = parse_address(message.address)
        if mode == "fail":
            raise TransientDeliveryError("sim: simulated transient failure")
        if mode == "reject":
            raise PermanentDeliveryError("sim: simulated permanent rejection")
        if mode == "flaky" and message.attempt <= number:
            raise TransientDeliveryError(f"sim: flaky failure {message.attempt} of {number}")
        if mode == "slow":
            await asyncio.sleep(number / 1000)
        return ProviderReceipt(provider=self.name, provider_message_id=f"sim-{message.delivery_key}")
