"""The faults. Each scenario runs load against the stack, breaks something mid-run, and returns the ledger's
verdict plus what it measured. Sizes come from `Size` (the quick form is what CI runs)."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.stack import free_port
from chaos import ledger
from chaos.stack import ChaosStack


@dataclass(frozen=True)
class Size:
    n: int  # notifications per scenario
    outage_s: float  # how long PostgreSQL or the provider stays down


QUICK, FULL = Size(n=40, outage_s=10), Size(n=200, outage_s=30)


async def _during(load: Callable[[], Awaitable[None]], fault: Callable[[], Awaitable[None]]) -> None:
    await asyncio.gather(load(), fault())


async def worker_kills(stack: ChaosStack, size: Size) -> dict[str, Any]:
    """kill -9 a worker mid-delivery, again and again; the other one carries on."""
    load = ledger.Load()
    stack.receiver.mode, stack.receiver.slow_s = "slow", 0.3  # deliveries take long enough to be caught in flight
    done = asyncio.Event()

    async def fault() -> None:
        victim = 0
        while not done.is_set():
            await asyncio.sleep(1.5)
            stack.kill_worker(victim)
            await asyncio.sleep(0.5)
            stack.start_worker(victim)
            victim = 1 - victim

    async def send() -> None:
        await ledger.send(stack, load, size.n, rate=10)
        done.set()

    kills_before = stack.worker_kills
    await _during(send, fault)
    stack.receiver.mode = "ok"
    verdict = await ledger.settle(stack, load)
    return {"verdict": verdict, "worker_kills": stack.worker_kills - kills_before}


async def worker_dies_after_send(stack: ChaosStack, size: Size) -> dict[str, Any]:
    """The receiver takes the sends, but every worker dies before it can report them: the retries send again
    with the same idempotency key (a raw repeat the receiver can drop), and no notification is delivered as two
    different messages."""
    load = ledger.Load()
    stack.receiver.mode, stack.receiver.slow_s = "slow", 3.0
    sending = asyncio.create_task(ledger.send(stack, load, 10, rate=20))
    deadline = time.monotonic() + 30
    while stack.receiver.in_flight < 5 and time.monotonic() < deadline:  # noqa: ASYNC110 - a counter, not an event
        await asyncio.sleep(0.05)
    caught = stack.receiver.in_flight
    stack.kill_worker(0)
    stack.kill_worker(1)
    await asyncio.sleep(1)
    stack.receiver.mode = "ok"
    stack.start_worker(0)
    stack.start_worker(1)
    await sending
    verdict = await ledger.settle(stack, load)
    return {"verdict": verdict, "sends_caught_in_flight": caught, "check": caught >= 5}


async def temporal_restart(stack: ChaosStack, size: Size) -> dict[str, Any]:
    """Restart the Temporal dev server (file persistence) in the middle of the load."""
    load = ledger.Load()

    async def fault() -> None:
        await asyncio.sleep(size.n / 20 / 2)
        await stack.restart_temporal()

    await _during(lambda: ledger.send(stack, load, size.n, rate=10), fault)
    verdict = await ledger.settle(stack, load)
    return {"verdict": verdict, "client_retries": load.client_retries, "answers": load.answers}


async def postgres_outage(stack: ChaosStack, size: Size) -> dict[str, Any]:
    """Stop PostgreSQL mid-run: the API answers 503 (never 500), activities retry, nothing goes missing."""
    load = ledger.Load()
    during_outage: dict[int, int] = {}

    async def fault() -> None:
        await asyncio.sleep(1.5)
        await stack.stop_postgres()
        async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=10) as http:
            probe_until = time.monotonic() + size.outage_s
            while time.monotonic() < probe_until:
                r = await http.post("/v1/notifications", json={"template": ledger.TEMPLATE, "to": {"sim": "ok"},
                                                               "channels": ["sim"], "data": {"n": 0}},
                                    headers={"Idempotency-Key": f"probe-{uuid.uuid4().hex}"})
                during_outage[r.status_code] = during_outage.get(r.status_code, 0) + 1
                await asyncio.sleep(1)
        await stack.start_postgres()

    await _during(lambda: ledger.send(stack, load, size.n, rate=10, give_up_s=size.outage_s + 120), fault)
    verdict = await ledger.settle(stack, load)
    return {"verdict": verdict, "answers_during_outage": during_outage,
            "check": set(during_outage) <= {503}, "client_retries": load.client_retries}


async def provider_outage(stack: ChaosStack, size: Size) -> dict[str, Any]:
    """The provider answers 500s, then 429s with Retry-After, then recovers: all delivered, none twice."""
    load = ledger.Load()
    refused_before = stack.receiver.refused

    async def fault() -> None:
        stack.receiver.mode = "error"
        await asyncio.sleep(size.outage_s / 2)
        stack.receiver.mode = "throttle"
        await asyncio.sleep(size.outage_s / 2)
        stack.receiver.mode = "ok"

    await _during(lambda: ledger.send(stack, load, size.n, rate=10), fault)
    verdict = await ledger.settle(stack, load)
    return {"verdict": verdict, "refused_attempts": stack.receiver.refused - refused_before,
            "check": verdict.delivered == verdict.accepted}


async def api_crash_after_store(stack: ChaosStack, size: Size) -> dict[str, Any]:
    """The API dies between storing and starting: a client retry with the same key, or the reconciler (a
    Temporal Schedule), starts the workflow; never two."""
    load = ledger.Load()
    crashed: list[tuple[str, dict[str, Any]]] = []
    port = free_port()
    for i in range(4):
        key = f"crash-{uuid.uuid4().hex}"
        body = {"template": ledger.TEMPLATE, "data": {"n": i}, "channels": ["webhook"],
                "to": {"webhook": f"{stack.receiver.base}/hook/crash-{i}"}}
        doomed = stack._spawn("api-failpoint", [
            sys.executable, "-m", "uvicorn", "--factory", "api.app:app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning"], {**stack.env, "HERALD_FAILPOINT": "crash_after_store"})
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=stack.headers) as http:
            for _ in range(100):
                try:
                    await http.get("/health")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            try:
                await http.post("/v1/notifications", json=body, headers={"Idempotency-Key": key})
                raise AssertionError("the failpoint did not fire")
            except httpx.TransportError:
                pass
        await asyncio.to_thread(doomed.wait, 10)
        crashed.append((key, body))
    # Half the clients retry with the same key (against the healthy API); the other half never come back.
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers) as http:
        for key, body in crashed[:2]:
            r = await http.post("/v1/notifications", json=body, headers={"Idempotency-Key": key})
            assert r.status_code == 200, r.text
    conn_ids = await _ids_for_keys(stack, [key for key, _ in crashed])
    load.accepted.update(conn_ids)
    verdict = await ledger.settle(stack, load, timeout_s=180)
    return {"verdict": verdict, "recovered_by_client": 2, "recovered_by_reconciler": len(crashed) - 2}


async def _ids_for_keys(stack: ChaosStack, keys: list[str]) -> dict[str, str]:
    import asyncpg

    conn = await asyncpg.connect(stack.db_url)
    try:
        rows = await conn.fetch("SELECT idempotency_key, id FROM notification WHERE idempotency_key = ANY($1)", keys)
    finally:
        await conn.close()
    assert len(rows) == len(keys), "a crashed request left no stored notification"
    return {r["idempotency_key"]: r["id"] for r in rows}


async def concurrent_requests(stack: ChaosStack, size: Size) -> dict[str, Any]:
    """100 concurrent identical requests (one notification, one 202), and 100 concurrent requests with one key
    and different bodies (one accepted, the rest 409)."""
    load = ledger.Load()
    same_key, clash_key = f"same-{uuid.uuid4().hex}", f"clash-{uuid.uuid4().hex}"
    body = {"template": ledger.TEMPLATE, "data": {"n": 1}, "channels": ["webhook"],
            "to": {"webhook": f"{stack.receiver.base}/hook/same"}}
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=60) as http:
        same = await asyncio.gather(*(http.post("/v1/notifications", json=body,
                                                headers={"Idempotency-Key": same_key}) for _ in range(100)))
        clash = await asyncio.gather(*(http.post("/v1/notifications", json={**body, "data": {"n": i}},
                                                 headers={"Idempotency-Key": clash_key}) for i in range(100)))
    same_codes = [r.status_code for r in same]
    clash_codes = [r.status_code for r in clash]
    ids = {r.json()["id"] for r in same if r.status_code in (200, 202)}
    winners = [r for r in clash if r.status_code in (200, 202)]
    load.accepted[same_key] = next(iter(ids))
    load.accepted[clash_key] = winners[0].json()["id"]
    verdict = await ledger.settle(stack, load)
    check = (len(ids) == 1 and same_codes.count(202) == 1 and set(same_codes) <= {200, 202}
             and len(winners) == 1 and clash_codes.count(409) == 99)
    return {"verdict": verdict, "check": check, "identical": {c: same_codes.count(c) for c in set(same_codes)},
            "clashing": {c: clash_codes.count(c) for c in set(clash_codes)}}


SCENARIOS: dict[str, Callable[[ChaosStack, Size], Awaitable[dict[str, Any]]]] = {
    "concurrent_requests": concurrent_requests,
    "worker_kills": worker_kills,
    "worker_dies_after_send": worker_dies_after_send,
    "provider_outage": provider_outage,
    "temporal_restart": temporal_restart,
    "postgres_outage": postgres_outage,
    "api_crash_after_store": api_crash_after_store,
}
