"""The status-webhook service called directly (no HTTP), on the real database and Temporal: what it stores,
and its refusals as `Problem`s with the contract's status and code."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from core.errors import Problem
from core.settings import Settings
from services import webhooks

SETTINGS = Settings(HERALD_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")


def url() -> str:
    return f"http://127.0.0.1:9/hook/{uuid.uuid4().hex[:8]}"


async def test_a_subscription_is_stored_read_and_deleted_once(pool: asyncpg.Pool, dev_env: WorkflowEnvironment) -> None:
    created = await webhooks.create(pool, SETTINGS, url(), ["accepted", "delivered"], "orders")
    assert created.id.startswith("wh_") and created.events == ["accepted", "delivered"]
    assert await webhooks.get(pool, created.id) == created
    assert created in await webhooks.list_page(pool, None, 10_000)
    assert await webhooks.retry(pool, dev_env.client, created.id, None) == 0  # nothing parked

    await webhooks.delete(pool, dev_env.client, created.id)
    for gone in (webhooks.get(pool, created.id), webhooks.delete(pool, dev_env.client, created.id)):
        with pytest.raises(Problem) as refused:
            await gone
        assert (refused.value.status, refused.value.code) == (404, "not_found")


async def test_an_address_delivery_could_never_reach_is_refused_naming_the_url(pool: asyncpg.Pool) -> None:
    with pytest.raises(Problem) as refused:  # loopback, and not the allowed host
        await webhooks.create(pool, SETTINGS, "http://127.0.0.2/hook", ["accepted"], None)
    assert (refused.value.status, refused.value.code) == (422, "validation_error")
    assert refused.value.details[0]["field"] == "url"


async def test_a_dead_letter_that_is_not_parked_is_not_found(pool: asyncpg.Pool, dev_env: WorkflowEnvironment) -> None:
    created = await webhooks.create(pool, SETTINGS, url(), ["accepted"], None)
    with pytest.raises(Problem) as refused:
        await webhooks.discard(pool, dev_env.client, created.id, 2**62)
    assert (refused.value.status, refused.value.message) == (404, f"dead letter '{2**62}' does not exist")
    with pytest.raises(Problem) as unknown:
        await webhooks.discard(pool, dev_env.client, "wh_unknown", 1)
    assert unknown.value.message == "webhook 'wh_unknown' does not exist"
