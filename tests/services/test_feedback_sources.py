"""The API's feedback sources, kept by the integration watch: a callback reads no integration and opens no secret,
and a change to the stored integrations (an edit, a rotated secret, a removal, from any process) reaches them
through its announcement, well before the poll would.

On a database of its own: an integration here would change where the shared stack's emails go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.codec import new_key_spec
from core.settings import Settings
from services import integrations
from services.feedback import FeedbackSource, FeedbackSources
from services.integration_watch import watching
from tests.api.conftest import eventually
from tests.conftest import database_of_its_own

OLD_KEY, NEW_KEY = "key-" + "1" * 32, "key-" + "2" * 32


def mailgun(signing_key: str) -> dict[str, Any]:
    return {"domain": "mg.example.com", "api_key": "key-send", "from": "a@mg.example.com",
            "webhook_signing_key": signing_key}


async def test_the_sources_follow_the_stored_integrations_within_seconds(pg_server: Any, tmp_path: Path) -> None:
    settings = Settings(HERALD_INTEGRATION_KEYS=new_key_spec("k1"), HERALD_DATA_DIR=tmp_path,
                        HERALD_INTEGRATIONS_POLL_S=60)
    async with database_of_its_own(pg_server, "herald_feedback_sources") as (url, pool):
        reads: list[str] = []

        async def read(integration_id: str) -> FeedbackSource | None:
            reads.append(integration_id)
            return await integrations.feedback_source(pool, settings, integration_id)

        sources = FeedbackSources(read)
        await integrations.create(pool, settings, integration_id="mg-fb", channel="email", provider="mailgun",
                                  config=mailgun(OLD_KEY), priority=1, rate_per_s=None, active=True)
        async with watching(url, pool, settings, feedback=sources):
            source = await sources("mg-fb")
            assert source is not None and source.config["webhook_signing_key"] == OLD_KEY
            assert reads == []  # the watch read it, once, not the callback

            async def signing_key() -> str | None:
                found = await sources("mg-fb")
                return None if found is None else str(found.config["webhook_signing_key"])

            await integrations.update(pool, settings, "mg-fb", integrations.Change(config=mailgun(NEW_KEY)))
            await eventually(lambda: _equals(signing_key(), NEW_KEY), timeout_s=3, what="the rotated key")
            # A disabled integration still takes feedback: its vendor reports on the messages it already sent.
            await integrations.update(pool, settings, "mg-fb", integrations.Change(active=False))
            assert await signing_key() == NEW_KEY
            assert reads == []

            await integrations.delete(pool, settings, "mg-fb")
            await eventually(lambda: _equals(signing_key(), None), timeout_s=3, what="the removal")
            assert set(reads) == {"mg-fb"}  # an id it does not hold is looked up: created since, or unknown

            await integrations.create(pool, settings, integration_id="mg-new", channel="email", provider="mailgun",
                                      config=mailgun(OLD_KEY), priority=1, rate_per_s=None, active=False)
            assert (await sources("mg-new")) is not None  # at once, whether or not its announcement was read
            assert await sources("smtp-nope") is None


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)
