"""The bench part `feedback` runs at a tiny size: vendors' signed callbacks, repeats and out-of-order events
included, are each applied once, and its check notices a delivery whose event was lost or applied twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from temporalio.testing import WorkflowEnvironment

from bench import feedback
from bench.progress import Progress
from bench.stack import Stack, db_pool
from tests.bench.conftest import serving_stack


@pytest.fixture(scope="module")
async def bench_stack(pg_server: Any, dev_env: WorkflowEnvironment) -> AsyncIterator[Stack]:
    async with serving_stack(pg_server, dev_env, "feedback") as stack:
        stack.start_worker()
        yield stack


async def test_the_part_applies_every_event_once_beside_a_send_load(bench_stack: Stack) -> None:
    result = await feedback.measure(bench_stack, 150, 1, 5)

    assert result["feedback_api"] == "own" and result["feedback_nice"] == feedback.FEEDBACK_NICE
    assert bench_stack.feedback_api is None  # stopped with the part
    assert len(bench_stack.workers) == 1  # stopped while accepting, started again to deliver

    check = result["check"]
    assert check["exactly_once"], check
    assert check["lost"] == check["applied_twice"] == 0
    assert check["events_recorded"] == check["events_expected"] > 0
    assert result["repeats"] > 0 and result["out_of_order"] > 0
    assert set(result["requests"]) == {"sendgrid", "mailgun", "twilio"}
    # Herald's own answers agree: each distinct event applied once, the repeats answered as duplicates.
    assert result["answered"]["applied"] == check["events_expected"]
    assert result["answered"]["unknown"] == 0
    assert result["answered"]["duplicate"] > 0
    assert result["events_per_s"] > 0 and result["feedback_p99_ms"] >= result["feedback_p50_ms"] > 0
    assert 0 < result["accept_p99_ms_alone"] and 0 < result["accept_p99_ms_feedback"]
    assert dict(feedback.table_rows(result))


async def test_the_callbacks_can_go_to_the_accepting_api(bench_stack: Stack) -> None:
    result = await feedback.measure(bench_stack, 150, 1, 5, own_api=False)

    assert result["feedback_api"] == "shared"
    assert result["check"]["exactly_once"], result["check"]
    assert result["answered"]["applied"] == result["check"]["events_expected"] > 0
    assert "to the accepting API" in feedback.table_rows(result)[0][0]


async def test_the_check_sees_a_lost_suppression_and_a_repeated_ending(bench_stack: Stack) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public_url = bench_stack.env.get("HERALD_PUBLIC_URL") or "http://127.0.0.1:8000"
    plan = feedback.plan(120, public_url, key, uuid.uuid4().hex[:8])
    await feedback.create_integrations(bench_stack, key)
    await feedback.seed(bench_stack, plan.deliveries)
    async with aiohttp.ClientSession(bench_stack.api_url) as session:
        answered = await feedback.post_all(session, plan.posts, 1e6, Progress("feedback", plan.events, quiet=True))
    assert not answered.failed, answered.first_failure
    assert (await feedback.check(bench_stack, plan))["exactly_once"]

    bounced = next(d for d in plan.deliveries if d.outcome == "bounced")
    complained = next(d for d in plan.deliveries if d.outcome in ("complained", "undelivered")
                      and d.address != bounced.address)
    pool = await db_pool(bench_stack)
    try:
        await pool.execute("DELETE FROM suppression WHERE address = $1", bounced.address)
        await pool.execute("""INSERT INTO notification_event (notification_id, at, event, detail)
                              SELECT notification_id, at, event, detail FROM notification_event
                              WHERE notification_id = $1 AND event <> 'confirmed' LIMIT 1""",
                           complained.notification_id)
    finally:
        await pool.close()
    check = await feedback.check(bench_stack, plan)
    assert not check["exactly_once"]
    assert (check["lost"], check["applied_twice"]) == (1, 1)
