"""The faults. Each scenario runs load against the stack, breaks something mid-run, and returns the ledger's
verdict plus what it measured. Sizes come from `Size` (the quick form is what CI runs)."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from temporalio.client import Client

from bench.stack import free_port
from chaos import ledger
from chaos.hostile import HostileReceiver
from chaos.receiver import CountingReceiver
from chaos.stack import ROOT, ChaosStack
from core.ids import client_key
from devstack.temporal_server import die_with_parent


@dataclass(frozen=True)
class Size:
    n: int  # notifications per scenario
    outage_s: float  # how long PostgreSQL stays down
    provider_outage_s: float  # how long the provider refuses (500s, then 429s)
    temporal_outage_s: float = 10  # how long Temporal stays down while sends keep coming
    outage_rate: float = 20  # sends per second during it


QUICK = Size(n=40, outage_s=10, provider_outage_s=10)
FULL = Size(n=200, outage_s=30, provider_outage_s=60, temporal_outage_s=60, outage_rate=50)


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


async def temporal_down_accepting(stack: ChaosStack, size: Size) -> dict[str, Any]:
    """Stop Temporal while sends keep arriving: every send is accepted at once (no 503, no retry by the client),
    and a broadcast too; once Temporal is back the workers start the backlog from the outbox; each notification
    delivered exactly once, and every recipient of the broadcast given one inbox item."""
    load = ledger.Load()
    n = int(size.outage_rate * (size.temporal_outage_s + 2))
    stopped: dict[str, float] = {}
    users = [f"chaos-u-{uuid.uuid4().hex[:8]}" for _ in range(BROADCAST_USERS)]
    broadcast: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=30) as http:
        for user_id in users:
            r = await http.post("/v1/users", json={"id": user_id, "name": user_id})
            assert r.status_code == 201, r.text

        async def fault() -> None:
            await asyncio.sleep(1)
            assert stack.temporal is not None
            stack.temporal.terminate()
            await asyncio.to_thread(stack.temporal.wait, 30)
            stopped["at"] = time.monotonic()
            r = await http.post("/v1/broadcasts", json={"template": ledger.TEMPLATE, "data": {"n": 0},
                                                        "channels": ["in_app"], "audience": {"user_ids": users}})
            broadcast.update(status=r.status_code, id=r.json().get("id"))
            await asyncio.sleep(size.temporal_outage_s)
            await stack.start_temporal()
            stopped["for_s"] = time.monotonic() - stopped["at"]

        await _during(lambda: ledger.send(stack, load, n, rate=size.outage_rate, concurrency=50), fault)
        verdict = await ledger.settle(stack, load)
        items = await _broadcast_items(stack, http, broadcast.get("id"), len(users))
    refused = {status: count for status, count in load.answers.items() if status not in (200, 202)}
    return {"verdict": verdict, "sent": n, "temporal_down_s": round(stopped.get("for_s", 0), 1),
            "answers": load.answers, "client_retries": load.client_retries,
            "broadcast_answer": broadcast.get("status"), "broadcast_inbox_items_per_user": items,
            "check": not refused and load.client_retries == 0 and broadcast.get("status") == 202
            and items == [1] * len(users)}


BROADCAST_USERS = 5


async def _broadcast_items(stack: ChaosStack, http: httpx.AsyncClient, broadcast_id: str | None,
                           recipients: int, timeout_s: float = 120.0) -> list[int]:
    """Once the broadcast is sent and its recipients delivered (or the time is up): each recipient's inbox
    items from it, in user order."""
    deadline = time.monotonic() + timeout_s
    while broadcast_id is not None and time.monotonic() < deadline:
        b = (await http.get(f"/v1/broadcasts/{broadcast_id}")).json()
        if b["status"] == "sent" and b["counts"] == {"delivered": recipients}:
            break
        await asyncio.sleep(1)
    import asyncpg

    conn = await asyncpg.connect(stack.db_url)
    try:
        rows = await conn.fetch(
            """SELECT n.user_id, count(i.*) AS items FROM notification n
               LEFT JOIN inbox_item i ON i.notification_id = n.id WHERE n.broadcast_id = $1
               GROUP BY n.user_id ORDER BY n.user_id""", broadcast_id)
    finally:
        await conn.close()
    return [r["items"] for r in rows]


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
        await asyncio.sleep(size.provider_outage_s / 2)
        stack.receiver.mode = "throttle"
        await asyncio.sleep(size.provider_outage_s / 2)
        stack.receiver.mode = "ok"

    await _during(lambda: ledger.send(stack, load, size.n, rate=10), fault)
    verdict = await ledger.settle(stack, load)
    backoff = await _attempt_gaps(stack, load.accepted[min(load.accepted)] if load.accepted else "")
    return {"verdict": verdict, "refused_attempts": stack.receiver.refused - refused_before,
            "first_notification_webhook_gaps_s": backoff, "check": verdict.delivered == verdict.accepted}


async def _attempt_gaps(stack: ChaosStack, notification_id: str) -> list[float]:
    """Seconds between one delivery's attempts: the backoff (and Retry-After) made visible."""
    import asyncpg

    conn = await asyncpg.connect(stack.db_url)
    try:
        rows = await conn.fetch("SELECT at FROM delivery_attempt WHERE notification_id = $1 AND channel = 'webhook' "
                                "ORDER BY attempt", notification_id)
    finally:
        await conn.close()
    return [round((b["at"] - a["at"]).total_seconds(), 2) for a, b in itertools.pairwise(rows)]


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
        doomed = stack._spawn("api-crash-after-store", [
            sys.executable, "-m", "chaos.crash_after_store", "--host", "127.0.0.1", "--port", str(port)])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=stack.headers) as http:
            for _ in range(100):
                try:
                    await http.get("/health")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            try:
                await http.post("/v1/notifications", json=body, headers={"Idempotency-Key": key})
                raise AssertionError("the API answered: the crash after the store did not happen")
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
        # Sent with the env admin key: stored under its scope (core.ids.client_key).
        stored = {client_key("env", key): key for key in keys}
        rows = await conn.fetch("SELECT idempotency_key, id FROM notification WHERE idempotency_key = ANY($1)",
                                list(stored))
    finally:
        await conn.close()
    assert len(rows) == len(keys), "a crashed request left no stored notification"
    return {stored[r["idempotency_key"]]: r["id"] for r in rows}


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


@dataclass
class MakeUp:
    """`make up` (`python -m devstack`) as the suite runs it: its own data dir and ports, the suite's receiver."""

    work: Path
    api_port: int
    temporal_port: int
    admin_key: str
    receiver: CountingReceiver
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    client: Client | None = None
    db_url: str = ""
    pg: Any = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    async def start(self) -> None:
        log = (self.work / "make-up.log").open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "devstack"], env=self.env, cwd=ROOT, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=die_with_parent)
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                if self.process.poll() is not None:
                    tail = (self.work / "make-up.log").read_text(errors="replace")[-1500:]
                    raise RuntimeError(f"make up exited with {self.process.returncode}; its log ends:\n{tail}")
                try:
                    if (await http.get(f"{self.api_url}/ready", timeout=2)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError("make up did not become ready")
        self.client = await Client.connect(f"127.0.0.1:{self.temporal_port}")
        import pgserver

        self.pg = pgserver.get_server(self.work / "pg", cleanup_mode=None)  # type: ignore[attr-defined]
        self.db_url = str(self.pg.get_uri())

    def kill_group(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(self.process.wait, 60)
        # make up leaves its PostgreSQL running on purpose (the next start reuses it): stop it here.
        if self.pg is not None:
            import pgserver

            await asyncio.to_thread(pgserver.pg_ctl, ["-w", "stop", "-m", "fast"],  # type: ignore[attr-defined]
                                    pgdata=self.pg.pgdata, user=self.pg.system_user)
        await asyncio.to_thread(shutil.rmtree, self.work, True)


async def make_up_sigkill(stack: ChaosStack, size: Size) -> dict[str, Any]:
    """`make up`'s whole process group gets SIGKILL mid-load and is started again: every accepted notification
    still arrives exactly once (its children die with it, and the restart reuses PostgreSQL and Temporal's file)."""
    work = Path(tempfile.mkdtemp(prefix="hchaos-up-", dir="/tmp"))
    ports = [free_port() for _ in range(4)]
    keep = {k: v for k, v in stack.env.items() if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS", "HERALD_DATA_DIR",
                                                             "HERALD_TASK_QUEUE")}
    env = {**keep, "HERALD_DATA_DIR": str(work), "HERALD_API_PORT": str(ports[0]),
           "HERALD_TEMPORAL_PORT": str(ports[1]), "HERALD_TEMPORAL_UI_PORT": str(ports[2]),
           "HERALD_WORKER_METRICS_ADDRESS": f"127.0.0.1:{ports[3]}"}
    up = MakeUp(work=work, api_port=ports[0], temporal_port=ports[1], admin_key=stack.admin_key,
                receiver=stack.receiver, env=env)
    load = ledger.Load()
    try:
        await up.start()
        await ledger.ensure_template(up)

        orphans: list[psutil.Process] = []

        async def fault() -> None:
            await asyncio.sleep(2)
            assert up.process is not None
            orphans.extend(psutil.Process(up.process.pid).children(recursive=True))
            up.kill_group()
            await up.start()

        await _during(lambda: ledger.send(up, load, size.n, rate=10, give_up_s=180), fault)
        verdict = await ledger.settle(up, load)
        # The first run's children died with it: the restart serves from processes of its own.
        survivors = [p.pid for p in orphans if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    finally:
        await up.stop()
    return {"verdict": verdict, "client_retries": load.client_retries, "answers": load.answers,
            "children_killed": len(orphans), "survivors": survivors, "check": bool(orphans) and not survivors}


async def _restart(stack: ChaosStack, env: dict[str, str]) -> None:
    """Workers and API again, with `env`: settings are read once, at start."""
    stack.env = env
    for index, worker in enumerate(stack.workers):
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                await asyncio.to_thread(worker.wait, 20)
            except subprocess.TimeoutExpired:  # a worker stuck in sends that never end: what the checks report
                worker.kill()
                await asyncio.to_thread(worker.wait, 20)
        stack.start_worker(index)
    if stack.api is not None and stack.api.poll() is None:
        stack.api.terminate()
        await asyncio.to_thread(stack.api.wait, 60)
    await stack.start_api()


async def _post_all(stack: ChaosStack, load: ledger.Load, bodies: list[dict[str, Any]], rate: float) -> None:
    """Each body once, at about `rate` per second, retried with its key until accepted (as ledger.send does)."""
    async def one(body: dict[str, Any], http: httpx.AsyncClient) -> None:
        key = f"hostile-{uuid.uuid4().hex}"
        for _ in range(240):
            try:
                r = await http.post("/v1/notifications", json=body, headers={"Idempotency-Key": key})
                load.answers[r.status_code] = load.answers.get(r.status_code, 0) + 1
                if r.status_code in (200, 202):
                    load.accepted[key] = r.json()["id"]
                    return
                if r.status_code < 500 and r.status_code != 429:
                    raise AssertionError(f"the API refused a valid request: {r.status_code} {r.text}")
            except httpx.TransportError:
                load.answers[0] = load.answers.get(0, 0) + 1
            load.client_retries += 1
            await asyncio.sleep(0.5)

    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=30) as http:
        tasks = []
        for body in bodies:
            tasks.append(asyncio.create_task(one(body, http)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99 + 0.999) - 1)] if ordered else 0.0


async def hostile_receivers(stack: ChaosStack, size: Size) -> dict[str, Any]:
    """Users' webhooks that trickle their answer a byte every 2 s or stream one that never ends, next to twice as
    many notifications through a healthy SMS gateway: the healthy ones all arrive (p99 from accept to delivered
    under 5 s), the workers' memory stays under 300 MB, the hostile ones end dead-lettered, and no delivery
    ever has two attempts open at once (the hostile receiver's own log of open requests per delivery)."""
    import asyncpg

    hostile = HostileReceiver(free_port(), trickle_s=2.0)
    await hostile.start()
    original = dict(stack.env)
    # A short attempt budget (4 s of a 5 s timeout) and 3 attempts: hostile deliveries settle within a minute.
    await _restart(stack, {**original, "HERALD_MAX_ATTEMPTS": "3", "HERALD_DELIVERY_TIMEOUT_S": "5",
                           "HERALD_SMS_WEBHOOK_URL": f"{stack.receiver.base}/hook/sms-gateway"})
    stack.receiver.mode = "ok"
    rss: list[int] = []
    sampling = True

    async def sample() -> None:
        while sampling:
            for worker in stack.workers:
                if worker is not None and worker.poll() is None:
                    try:
                        rss.append(psutil.Process(worker.pid).memory_info().rss)
                    except psutil.NoSuchProcess:
                        pass
            await asyncio.sleep(0.5)

    healthy_n, hostile_n = size.n, size.n // 2
    bad = [{"template": ledger.TEMPLATE, "data": {"n": i}, "channels": ["webhook"],
            "to": {"webhook": f"{hostile.base}/{'trickle' if i % 2 else 'endless'}/{i}"}} for i in range(hostile_n)]
    good = [{"template": ledger.TEMPLATE, "data": {"n": i}, "channels": ["sms"], "to": {"sms": f"+1555{i:07d}"}}
            for i in range(healthy_n)]
    mixed = [b for pair in itertools.zip_longest(good[::2], good[1::2], bad) for b in pair if b is not None]
    load = ledger.Load()
    sampler = asyncio.create_task(sample())
    try:
        await _post_all(stack, load, mixed, rate=20)
        verdict = await ledger.settle(stack, load, timeout_s=300)
    finally:
        sampling = False
        await sampler
        await _restart(stack, original)
        await hostile.stop()
    conn = await asyncpg.connect(stack.db_url)
    try:
        rows = await conn.fetch(
            """SELECT id, status, 'webhook' = ANY(channels) AS hostile,
                      EXTRACT(EPOCH FROM delivered_at - created_at)::float8 AS e2e_s
               FROM notification WHERE id = ANY($1)""", list(load.accepted.values()))
    finally:
        await conn.close()
    healthy_delivered = [r["e2e_s"] for r in rows if not r["hostile"] and r["status"] == "delivered"]
    hostile_dead = sum(1 for r in rows if r["hostile"] and r["status"] == "dead_lettered")
    p99 = round(_p99(healthy_delivered), 2)
    max_rss_mb = round(max(rss, default=0) / 2**20, 1)
    check = (len(healthy_delivered) == healthy_n and p99 < 5.0 and 0 < max_rss_mb < 300
             and hostile_dead == hostile_n and hostile.overlapping == 0
             and len(hostile.requests) == hostile_n)
    return {"verdict": verdict, "check": check, "healthy": healthy_n, "healthy_delivered": len(healthy_delivered),
            "healthy_e2e_p99_s": p99, "hostile": hostile_n, "hostile_dead_lettered": hostile_dead,
            "hostile_requests": sum(hostile.requests.values()), "overlapping_attempts": hostile.overlapping,
            "hostile_bytes_sent": hostile.bytes_sent, "worker_max_rss_mb": max_rss_mb}


SCENARIOS: dict[str, Callable[[ChaosStack, Size], Awaitable[dict[str, Any]]]] = {
    "concurrent_requests": concurrent_requests,
    "worker_kills": worker_kills,
    "worker_dies_after_send": worker_dies_after_send,
    "provider_outage": provider_outage,
    "temporal_restart": temporal_restart,
    "temporal_down_accepting": temporal_down_accepting,
    "postgres_outage": postgres_outage,
    "api_crash_after_store": api_crash_after_store,
    "make_up_sigkill": make_up_sigkill,
    "hostile_receivers": hostile_receivers,
}
