"""Which provider serves which channel, built once per worker from its IO clients."""

from __future__ import annotations

import asyncpg

from core.models import Channel
from providers.base import Provider
from providers.in_app import InAppProvider
from providers.sim import SimProvider

# Channels that have a provider today; the API refuses the others with a clear 422.
AVAILABLE_CHANNELS = frozenset({Channel.SIM.value, Channel.IN_APP.value})


def build_providers(pool: asyncpg.Pool) -> dict[str, Provider]:
    return {
        Channel.SIM.value: SimProvider(),
        Channel.IN_APP.value: InAppProvider(pool),
    }
