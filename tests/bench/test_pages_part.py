"""The bench part `pages` runs at a tiny size: every dashboard page and the inbox feed's first page are timed over
HTTP, the feed with its own user's token and its own target, and a feed that answers nothing fails the part."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from bench import pages
from bench.stack import Stack
from tests.bench.conftest import serving_stack


@pytest.fixture(scope="module")
async def bench_stack(pg_server: Any, dev_env: WorkflowEnvironment) -> AsyncIterator[Stack]:
    async with serving_stack(pg_server, dev_env, "pages") as stack:
        yield stack


async def test_the_feed_is_timed_with_its_token_next_to_the_pages(bench_stack: Stack) -> None:
    result = await pages.measure(bench_stack, 40, fetches=2, feed_items=30)

    assert result["feed_items"] == 30
    feed = result["pages"][pages.FEED]
    assert feed["target_ms"] == 50.0
    assert 0 < feed["median_ms"] <= feed["p95_ms"]
    assert result["pages"]["/ui"]["target_ms"] == pages.TARGET_MS
    assert result["all_under_target"] == all(r["p95_ms"] < r["target_ms"] for r in result["pages"].values())
    rows = dict(pages.table_rows(result))
    assert rows[f"  {pages.FEED} (30 in the inbox)"].endswith("target 50 ms")


async def test_an_empty_feed_fails_the_part(bench_stack: Stack) -> None:
    with pytest.raises(RuntimeError, match="empty feed"):
        await pages.measure(bench_stack, 40, fetches=2, feed_items=0)
