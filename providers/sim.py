"""The simulated provider: its address decides the outcome, so every delivery path can be shown on demand.

`ok` delivers; `fail` fails transiently every time; `flaky:N` fails the first N attempts (counted across
retries and redrives) then delivers; `reject` fails permanently; `slow:MS` delivers after MS milliseconds.
It is a test and demo aid: workers and the API offer it only with `HERALD_SIM_ENABLED=true`.
"""

from __future__ import annotations

import asyncio
import re

from providers.base import OutgoingMessage, PermanentDeliveryError, ProviderReceipt, TransientDeliveryError

# `slow:` stays well below an attempt's deadline (80% of HERALD_DELIVERY_TIMEOUT_S, 30 s by default), so a slow
# send is a slow send, not a timeout; `flaky:` never needs more attempts than a retry policy allows (100).
MAX_SLOW_MS = 10_000
MAX_FLAKY = 100
# ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses, and a bounded length keeps
# int() away from its 4,300-digit limit.
_NUMBER = re.compile(r"[0-9]{1,6}")


class SimAddressError(ValueError):
    pass


def parse_address(address: str) -> tuple[str, int]:
    """Splits a sim address into (mode, number); raises SimAddressError for one the API should refuse.
    The one place sim addresses are checked: the API refuses what this refuses, the provider sends what it
    accepts."""
    mode, _, arg = address.partition(":")
    if mode in ("ok", "fail", "reject") and not arg:
        return mode, 0
    limit = {"flaky": MAX_FLAKY, "slow": MAX_SLOW_MS}.get(mode)
    if limit is not None and _NUMBER.fullmatch(arg) and int(arg) <= limit:
        return mode, int(arg)
    raise SimAddressError(
        f"'{address[:40]}' is not a sim address: use ok, fail, reject, flaky:N (N up to {MAX_FLAKY}) "
        f"or slow:MS (MS up to {MAX_SLOW_MS})"
    )


class SimProvider:
    name = "sim"

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        try:
            mode, number = parse_address(message.address)
        except SimAddressError as exc:  # accepted before the rule tightened: refuse it, never crash the attempt
            raise PermanentDeliveryError(f"sim: {exc}") from exc
        if mode == "fail":
            raise TransientDeliveryError("sim: simulated transient failure")
        if mode == "reject":
            raise PermanentDeliveryError("sim: simulated permanent rejection")
        if mode == "flaky" and message.attempt <= number:
            raise TransientDeliveryError(f"sim: flaky failure {message.attempt} of {number}")
        if mode == "slow":
            await asyncio.sleep(number / 1000)
        return ProviderReceipt(provider=self.name, provider_message_id=f"sim-{message.delivery_key}")
