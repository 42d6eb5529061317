"""A worker's chains as integrations change: stored ones take their channel's place, in the order given; an
unchanged integration keeps its provider object (its connections and cached tokens); a changed one gets a new
one while a send already holding the old one keeps it."""

from __future__ import annotations

import asyncpg

from core.settings import Settings
from providers import sendgrid
from providers.registry import StoredIntegration, build_providers
from tests.conftest import SECRET


def integration(integration_id: str, sender: str = "a@herald.example") -> StoredIntegration:
    config = sendgrid.Config.model_validate({"api_key": "SG.key", "from": sender})
    return StoredIntegration(id=integration_id, channel="email", provider="sendgrid", config=config,
                             rate_per_s=None)


async def test_unchanged_integrations_keep_their_providers_and_changed_ones_are_rebuilt(
        pool: asyncpg.Pool) -> None:
    providers = build_providers(pool, Settings(HERALD_WEBHOOK_SECRET=SECRET))
    try:
        environment = list(providers.chains["email"])
        providers.apply([integration("sg-1"), integration("sg-2")], "http://127.0.0.1:8000")
        first = list(providers.chains["email"])
        assert [p.name for p in first] == ["sg-1", "sg-2"]
        held = first[0]  # a send under way holds this

        providers.apply([integration("sg-1"), integration("sg-2", "b@herald.example")], "http://127.0.0.1:8000")
        second = providers.chains["email"]
        assert second[0] is held and second[1] is not first[1]

        providers.apply([], "http://127.0.0.1:8000")
        assert list(providers.chains["email"]) == environment
        assert held.name == "sg-1"  # still whole for the send that took it
    finally:
        await providers.aclose()
