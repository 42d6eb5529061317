"""Starting workflows from the outbox: every worker claims the starts waiting for its task queue, as many as it
has free workflow slots, `otp` first, and starts them eagerly, so their first workflow task runs in that worker
with no task-queue dispatch. A burst waits in PostgreSQL, not in a worker's memory. Broadcasts start from here
too, and so do their recipients, whose intents each page of the broadcast writes with their notifications.

A start is idempotent (the workflow id derives from the key; `USE_EXISTING`, `REJECT_DUPLICATE`), so a row
started twice, by a worker that died between the start and the row's removal, still makes one workflow. While
Temporal is down the rows stay, in order, and start by themselves when it answers again. A start Temporal
refuses for another reason is tried again with backoff; after `HERALD_START_ATTEMPTS` failures it is the
reconciler's (`start_failing`), which tries it on each pass and logs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
from temporalio.client import Client

from core.models import FINAL_STATUSES
from core.settings import Settings
from core.temporal import is_outage
from core.tracing import continued
from services import broadcasts
from services.sessions import keep_running
from services.starting import join_digest, start_notification_workflow, workflow_input
from store import outbox
from store.broadcasts import BroadcastRecord
from store.notifications import NotificationRecord
from store.outbox import ClaimedStart

log = logging.getLogger("herald.outbox")

_T = TypeVar("_T")

# Temporal down: how long the starter waits before it claims again, doubling up to the last value.
OUTAGE_WAIT_S = (0.25, 0.5, 1.0, 2.0)
# A refused start waits 2^attempts seconds, up to this, before the next try.
MAX_RETRY_S = 300.0
# A worker whose slots are all busy looks again this soon: a slot frees when a workflow task ends.
BUSY_WAIT_S = 0.02
# The most rows one claim takes. A claim's starts go out together and the next claim waits for the slowest: a
# hundred at once kept a busy dev server over START_TIMEOUT_S for the last of them, which then counted as an
# outage (the rows went back and waited) and lost the first task Temporal had handed them eagerly (their
# workflows waited WORKFLOW_TASK_TIMEOUT for it to time out and be dispatched again). Measured 2026-12-01,
# bench broadcast to 2,000 users: one workflow in five had a timed-out first task.
START_BATCH = 20
# A busy worker's slots free one at a time; claiming each alone would cost a claim and a finishing statement
# per start. Fewer than a batch's worth wait this long at most for more to free: an `otp` waits no longer.
GATHER_S = 0.1
# A start unanswered for this long counts as an outage when Temporal does not answer its health check either: the
# client would retry it for longer, and a start that goes through when Temporal returns must not overtake the
# higher-priority rows accepted meanwhile.
START_TIMEOUT_S = 3.0
# How long the health check may take before Temporal counts as down.
HEALTH_TIMEOUT_S = 0.5
# A start still unanswered after START_TIMEOUT_S while Temporal answers its health check is slow, not lost: a busy
# server is still writing it. Cut off, it would go back to the outbox and be sent again (a claim, a release and
# another claim of its row, and a second start RPC) and its workflow would lose the first task the server hands
# back with the answer, waiting WORKFLOW_TASK_TIMEOUT for it. It gets this long in all, within half the lease
# (HERALD_START_LEASE_S), so that no other worker claims its row meanwhile.
SLOW_START_S = 15.0


async def start_claimed(pool: asyncpg.Pool, client: Client, settings: Settings,
                        claimed: list[ClaimedStart]) -> bool:
    """Starts the claimed rows' workflows, all at once; returns False when Temporal did not answer (the rows not
    started go back to the outbox as they were)."""
    joins = [c for c in claimed if _joins_digest(c)]
    starts = [c for c in claimed if not _joins_digest(c)]
    patience = _Patience(client, min(SLOW_START_S, settings.start_lease_s / 2))
    started_now, joined = await asyncio.gather(
        asyncio.gather(*(_start(client, settings, c, patience) for c in starts), return_exceptions=True),
        _join_in_order(client, settings, joins, patience))
    claimed, results = starts + joins, [*started_now, *joined]
    started: list[tuple[int, datetime]] = []
    unanswered: list[int] = []
    ended: list[int] = []
    for claim, result in zip(claimed, results, strict=True):
        if isinstance(result, datetime):
            started.append((claim.start_id, result))
        elif result is None:
            ended.append(claim.start_id)
        elif isinstance(result, TimeoutError) or (isinstance(result, BaseException) and is_outage(result)):
            unanswered.append(claim.start_id)
        elif isinstance(result, BaseException):
            retry_in = min(2.0 ** (claim.attempts + 1), MAX_RETRY_S)
            log.warning("could not start a workflow: %s", result, extra={
                **_subject_of(claim), "attempts": claim.attempts + 1, "error": str(result)})
            await outbox.fail(pool, claim.start_id, str(result), retry_in)
    if started:
        await outbox.finish(pool, started, client.identity)
    if ended:
        await outbox.drop(pool, ended)
    if unanswered:
        await outbox.release(pool, unanswered)
    return not unanswered


def _joins_digest(claim: ClaimedStart) -> bool:
    return isinstance(claim.subject, NotificationRecord) and claim.subject.digest is not None


def _subject_of(claim: ClaimedStart) -> dict[str, str]:
    """The log fields naming what the row starts."""
    kind = "broadcast_id" if isinstance(claim.subject, BroadcastRecord) else "notification_id"
    return {kind: claim.subject.id}


class _Patience:
    """How long one batch's starts may take: START_TIMEOUT_S, or `slow_s` when Temporal, asked at that moment,
    answers its health check (busy, not down). One health check answers for every start of the batch that is
    still waiting within START_TIMEOUT_S of it."""

    def __init__(self, client: Client, slow_s: float):
        self._client = client
        self._slow_s = slow_s
        self._check: asyncio.Task[bool] | None = None
        self._checked_at = 0.0

    async def bound(self, start: Awaitable[_T]) -> _T:
        """The start's own result, or TimeoutError once it has taken too long (it is then cancelled)."""
        task = asyncio.ensure_future(start)
        began = time.monotonic()
        try:
            done, _ = await asyncio.wait({task}, timeout=START_TIMEOUT_S)
            if not done and await self._answering():
                log.debug("a start is slow while Temporal answers: waiting for it")
                done, _ = await asyncio.wait({task}, timeout=max(0.0, self._slow_s - (time.monotonic() - began)))
            if not done:
                raise TimeoutError
            return task.result()
        finally:
            if not task.done():
                task.cancel()
                task.add_done_callback(_retrieved)

    async def _answering(self) -> bool:
        now = time.monotonic()
        if self._check is None or now - self._checked_at > START_TIMEOUT_S:
            self._check, self._checked_at = asyncio.ensure_future(_answers(self._client)), now
        return await asyncio.shield(self._check)


async def _answers(client: Client) -> bool:
    """Whether Temporal's frontend answers its health check now (the check /ready makes)."""
    try:
        return await asyncio.wait_for(client.service_client.check_health(), HEALTH_TIMEOUT_S)
    except Exception:
        return False


def _retrieved(task: asyncio.Future[Any]) -> None:
    """A start given up on may still end in an error: it was reported as a timeout already."""
    if not task.cancelled():
        task.exception()


async def _join_in_order(client: Client, settings: Settings, claimed: list[ClaimedStart],
                         patience: _Patience) -> list[datetime | BaseException | None]:
    """Digest notifications join their digests one after the other, in the order accepted: a digest lists its
    events in the order they arrived."""
    results: list[datetime | BaseException | None] = []
    for claim in claimed:
        try:
            results.append(await _start(client, settings, claim, patience))
        except Exception as exc:  # reported per row, as gather reports the others
            results.append(exc)
    return results


async def _start(client: Client, settings: Settings, claim: ClaimedStart, patience: _Patience) -> datetime | None:
    """Starts one row's workflow (or adds it to its digest); returns when the start was sent, or None when the
    notification ended while it waited (canceled in its digest's window or with its broadcast) and there is
    nothing to start."""
    row = claim.subject
    if row.status in FINAL_STATUSES:
        return None
    at = datetime.now(UTC)
    with continued(claim.traceparent):
        if isinstance(row, BroadcastRecord):
            await patience.bound(broadcasts.start(client, settings, row))
        elif row.digest:
            await patience.bound(join_digest(client, settings, row))
        else:
            await patience.bound(start_notification_workflow(
                client, workflow_input(row, settings), task_queue=settings.task_queue, status=row.status,
                eager=True))
    return at


async def start_failing(pool: asyncpg.Pool, client: Client, settings: Settings, limit: int = 100) -> int:
    """The reconciler's share: one pass over the rows whose start kept failing. Returns how many it tried."""
    claimed = await outbox.claim(pool, settings.task_queue, limit, settings.start_lease_s,
                                 min_attempts=settings.start_attempts)
    for claim in claimed:
        log.warning("starting a workflow whose start keeps failing", extra={
            **_subject_of(claim), "attempts": claim.attempts})
    if claimed:
        await start_claimed(pool, client, settings, claimed)
    return len(claimed)


class Starter:
    """One worker's outbox starter: woken by NOTIFY on each accept, polling besides; runs until cancelled."""

    def __init__(self, pool: asyncpg.Pool, client: Client, settings: Settings, startable: Callable[[], int],
                 batch: int = 1):
        """`startable` says how many workflows the worker can start and run now (hosting.slots); `batch` is how
        many a claim waits for, up to GATHER_S, while fewer can start."""
        self._pool = pool
        self._client = client
        self._settings = settings
        self._startable = startable
        self._batch = batch

    async def run(self) -> None:
        await keep_running(self._session, "outbox starter", self._settings.start_poll_s, log)

    async def _session(self) -> None:
        # One pooled connection listens for the whole session.
        async with self._pool.acquire() as conn:
            wake = asyncio.Event()

            def woken(*_: object) -> None:
                wake.set()
            await conn.add_listener(outbox.NOTIFY_CHANNEL, woken)
            try:
                await self._loop(wake)
            finally:
                await conn.remove_listener(outbox.NOTIFY_CHANNEL, woken)

    async def _loop(self, wake: asyncio.Event) -> None:
        outages = 0
        gathering = 0.0
        while True:
            free = self._startable()
            if free <= 0 or (free < self._batch and gathering < GATHER_S):
                await asyncio.sleep(BUSY_WAIT_S)
                gathering += BUSY_WAIT_S if free > 0 else 0.0
                continue
            gathering = 0.0
            wake.clear()
            claimed = await outbox.claim(self._pool, self._settings.task_queue, min(free, START_BATCH),
                                         self._settings.start_lease_s,
                                         max_attempts=self._settings.start_attempts)
            if claimed and await self._start(claimed):
                outages = 0
                continue  # there may be more waiting
            if claimed:  # Temporal did not answer: wait a little, then try the same rows again
                await asyncio.sleep(OUTAGE_WAIT_S[min(outages, len(OUTAGE_WAIT_S) - 1)])
                outages += 1
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self._settings.start_poll_s)

    async def _start(self, claimed: list[ClaimedStart]) -> bool:
        try:
            return await start_claimed(self._pool, self._client, self._settings, claimed)
        except asyncio.CancelledError:
            # The worker is stopping: hand the rows back now rather than when their lease ends (a start already
            # sent is harmless to send again).
            await asyncio.shield(outbox.release(self._pool, [c.start_id for c in claimed]))
            raise
