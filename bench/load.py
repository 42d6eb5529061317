"""Traffic for Herald's API: closed-loop sends (C requests in flight) and open-loop sends (a fixed rate), with
accept latencies, and the wait until PostgreSQL says every accepted notification reached a final status."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
import asyncpg
import httpx

from bench.progress import Progress

TEMPLATE = "bench"
USER = "bench-user"


@dataclass
class Sent:
    """What one load phase sent: the accepted ids and each request's latency and completion time."""

    started: float
    ids: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)  # monotonic time each request was answered
    rejected: int = 0
    first_rejection: str = ""
    ended: float = 0.0

    @property
    def accept_per_s(self) -> float:
        return len(self.ids) / max(self.ended - self.started, 1e-9)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def prepare(http: httpx.AsyncClient) -> None:
    """The template and the user every bench notification uses (created once; a second call is harmless)."""
    r = await http.post("/v1/templates", json={"name": TEMPLATE, "subject": "Bench {{ n }}",
                                               "body": "Hello, this is message #{{ n }}"})
    if r.status_code not in (201, 409):
        raise RuntimeError(f"creating the bench template: {r.status_code} {r.text}")
    r = await http.post("/v1/users", json={"id": USER, "name": "Bench"})
    if r.status_code not in (201, 409):
        raise RuntimeError(f"creating the bench user: {r.status_code} {r.text}")


def body_for(index: int, sim_address: str = "ok") -> dict[str, Any]:
    """Half go to the `sim` provider, half to the bench user's in-app inbox."""
    if index % 2 == 0:
        return {"template": TEMPLATE, "channels": ["sim"], "to": {"sim": sim_address}, "data": {"n": index},
                "priority": "transactional"}
    return {"template": TEMPLATE, "channels": ["in_app"], "user_id": USER, "data": {"n": index},
            "priority": "transactional"}


def mixed_address(rng: random.Random) -> str:
    """5% flaky once, 1% rejected, the rest fine (the `mixed` phase)."""
    roll = rng.random()
    return "reject" if roll < 0.01 else "flaky:1" if roll < 0.06 else "ok"


class Sender:
    """The load generator's HTTP client for `POST /v1/notifications`, on aiohttp.

    The generator shares the machine's cores with the stack it measures, so its own cost per request counts
    against Herald: aiohttp's C parser costs a fraction of httpx's (httpx still does the few setup calls).
    """

    def __init__(self, base_url: str, headers: dict[str, str], connections: int = 64):
        self._base_url = base_url
        self._headers = {**headers, "Content-Type": "application/json"}
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Sender:
        self._session = aiohttp.ClientSession(
            self._base_url, headers=self._headers, connector=aiohttp.TCPConnector(limit=self._connections),
            timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._session is not None
        await self._session.close()

    async def post(self, body: dict[str, Any]) -> tuple[int, str]:
        """(status, response text) of one send with a fresh idempotency key."""
        assert self._session is not None
        async with self._session.post("/v1/notifications", data=json.dumps(body),
                                      headers={"Idempotency-Key": uuid.uuid4().hex}) as r:
            return r.status, await r.text()


_timing = 0  # phases timing requests right now


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection in the load generator while it times requests.

    The generator's own full collections walk its whole heap (100 to 115 ms seen, 2026-12-02) while every
    request in flight waits for its answer to be read, so each pause showed up in the accept latencies (first
    runs' p99 of 65 to 330 ms with the collector on, under 20 ms with it off). Reference counting still frees
    nearly everything; the cycles left wait until the phase ends, a few megabytes at most.
    """
    global _timing
    if _timing == 0:
        gc.collect()
        gc.freeze()  # what the generator holds from before is never walked again
        gc.disable()
    _timing += 1  # phases overlap (accepts beside feedback): the collector comes back when the last one ends
    try:
        yield
    finally:
        _timing -= 1
        if _timing == 0:
            gc.enable()


async def _post(http: Sender, body: dict[str, Any], sent: Sent, due: float | None = None) -> None:
    """One request; its latency counts from `due` when given (open loop: waiting for a free connection is
    part of what a client sees), else from when it is sent."""
    t0 = time.monotonic() if due is None else due
    try:
        status, text = await http.post(body)
    except (TimeoutError, aiohttp.ClientError) as exc:  # an overloaded API may drop connections
        sent.rejected += 1
        sent.first_rejection = sent.first_rejection or f"{type(exc).__name__}: {exc}"
        return
    now = time.monotonic()
    if status != 202:
        sent.rejected += 1
        sent.first_rejection = sent.first_rejection or f"{status} {text[:300]}"
        return
    sent.latencies_ms.append((now - t0) * 1000)
    sent.done_at.append(now)
    sent.ids.append(json.loads(text)["id"])


async def closed_loop(http: Sender, n: int, concurrency: int,
                      body: Callable[[int], dict[str, Any]], progress: Progress, sent: Sent | None = None) -> Sent:
    sent = sent or Sent(started=time.monotonic())
    counter = itertools.count()

    async def client() -> None:
        while (index := next(counter)) < n:
            await _post(http, body(index), sent)
            progress.update(len(sent.ids))

    with collector_paused():
        await asyncio.gather(*(client() for _ in range(concurrency)))
    sent.ended = time.monotonic()
    return sent


async def open_loop(http: Sender, rate_per_s: float, seconds: float,
                    body: Callable[[int], dict[str, Any]], progress: Progress, in_flight: int = 64) -> Sent:
    """Requests due at a fixed rate whatever the previous ones do: latency under a steady load.

    At most `in_flight` requests are on the wire; a request that finds none free waits, and that wait counts
    in its latency (no coordinated omission). Waiting in a semaphore costs the load generator nothing,
    where thousands of requests queued inside the HTTP client's pool would eat its CPU.
    """
    slots = asyncio.Semaphore(in_flight)
    tasks: list[asyncio.Task[None]] = []
    with collector_paused():
        sent = Sent(started=time.monotonic())

        async def one(index: int, due: float) -> None:
            async with slots:
                await _post(http, body(index), sent, due=due)
            progress.update(len(sent.ids))

        for index in range(int(rate_per_s * seconds)):
            due = sent.started + index / rate_per_s
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, due)))
        await asyncio.gather(*tasks)
    sent.ended = time.monotonic()
    return sent


@dataclass
class Finished:
    by_status: dict[str, int]
    last_final_at: float  # monotonic time the last one reached a final status (as polled)
    timeline: list[tuple[float, int]]  # (monotonic time, final count)


FINAL = ("delivered", "dead_lettered", "canceled", "skipped", "discarded")


async def wait_final(pool: asyncpg.Pool, ids: list[str], progress: Progress, timeout_s: float = 3600,
                     poll_s: float = 0.25, check: Callable[[], None] | None = None,
                     all_sent: Callable[[], bool] = lambda: True) -> Finished:
    """Polls PostgreSQL until every notification in `ids` has a final status.

    `ids` may still grow while this runs (the sender appends to it); `all_sent` says when it stopped growing.
    """
    deadline = time.monotonic() + timeout_s
    timeline: list[tuple[float, int]] = []
    while True:
        rows = await pool.fetch("SELECT status, count(*) AS n FROM notification WHERE id = ANY($1::text[]) "
                                "GROUP BY status", ids)
        by_status = {r["status"]: r["n"] for r in rows}
        final = sum(by_status.get(s, 0) for s in FINAL)
        now = time.monotonic()
        timeline.append((now, final))
        progress.update(final)
        if final >= len(ids) and all_sent():
            return Finished(by_status, now, timeline)
        if now > deadline:
            raise TimeoutError(f"only {final}/{len(ids)} notifications finished: {by_status}")
        if check is not None:
            check()
        await asyncio.sleep(poll_s)
